export { scorePerformance, STATUS_BANDS } from './score';
export { RULES as SCORE_RULES } from './findings';
export type * from './types';
