/** The in-process runtime: probes, tuners, verdicts, thresholds and the agent that composes them. */
export { RuntimeAgent } from './agent';
export type { RuntimeAgentOptions, AgentStatus, NodeRuntimeMetrics } from './agent';
export { getAgent, AGENT_SLOT } from './agent-slot';
export { EventLoopProbe } from './event-loop-probe';
export { GcProbe } from './gc-probe';
export { HeapProbe } from './heap-probe';
export { FetchTuner, fetchAgentOptions } from './fetch-tuner';
export { HttpAgentTuner, httpAgentOptions } from './http-agent-tuner';
export { readMemoryLimit, cgroupPath } from './memory-limit';
export type { MemoryLimit, MemoryLimitOptions } from './memory-limit';
export { heapVerdicts, parseHeapFlags, splitNodeOptions, nodeOptionsWith } from './heap-verdicts';
export type { HeapVerdictInput } from './heap-verdicts';
export { ThresholdMonitor, METRICS as THRESHOLD_METRICS } from './thresholds';
export type { ThresholdConfig, PerformanceRecovery } from './thresholds';
export type { TunerState, TunerStatus } from './tuner-status';
export type * from './runtime-readings';
