export { Engine } from './engine';
export type { EngineOptions, EngineEvent, PlanOptions, ApplyOptions, ApplyResult, VerifyResult, RollbackResult, SettingFailure } from './engine';
export { FileJournal, JOURNAL_FILE } from './file-journal';
export { meetsDirection, normaliseValue } from './direction';
export { createSidecarEngine } from '../wiring/create-engine';
export type { SidecarEngine, SidecarEngineOptions } from '../wiring/create-engine';
export type * from './types';
