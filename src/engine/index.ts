export { Engine } from './engine';
export type { EngineOptions, EngineEvent, PlanOptions, ApplyOptions, ApplyResult, VerifyResult, RollbackResult, SettingFailure } from './engine';
export { FileJournal, JOURNAL_FILE } from './file-journal';
export { parseJournalText, JOURNAL_MAX_BYTES } from './journal-format';
export { meetsDirection, normaliseValue } from './direction';
export { createSidecarEngine } from './create-engine';
export type { SidecarEngine, SidecarEngineOptions } from './create-engine';
export type * from './types';
