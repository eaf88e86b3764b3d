/** What a tuner reports in RuntimeAgent.status(): tuned, waiting, or left alone and why. */
export type TunerState = 'armed' | 'tuned' | 'left-alone' | 'replaced' | 'restored' | 'off';

export interface TunerStatus {
  name: string;
  state: TunerState;
  /** Why it was left alone, replaced, or is still waiting. */
  reason?: string;
  /** The settings in force when tuned. */
  settings?: Record<string, unknown>;
}
