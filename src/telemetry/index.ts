export { startTelemetry, type StartTelemetryOptions, type TelemetryHandle, type TelemetryMode } from './start-telemetry';
export { parseExportEnv, type ExportPlan, type ExportEnvResult, type ExporterName, type OtlpProtocol } from './export-env';
export { resourceAttributes, parseResourceAttributes, K8S_ENV } from './resource-attributes';
export { createOwnPipeline, type OwnPipeline } from './own-pipeline';
export { appMeterProvider } from './app-meter-provider';
export { RuntimeInstruments, type RuntimeInstrumentOptions } from './runtime-instruments';
export { createSidecarInstruments, type SidecarInstruments, type SidecarTelemetrySource } from './sidecar-instruments';
export { SourceState, type ReadingsSource } from './source';
export { ALL_METRICS, PRELOAD_METRICS, SIDECAR_METRICS, REDIS_METRICS, PREFIX as METRIC_PREFIX, OVERFLOW, METER_NAME, type MetricSpec } from './names';
