/**
 * Decides where titan-perf's metrics go, after start-up and again every
 * second (a cheap look at the global MeterProvider):
 *
 * - the app registered a MeterProvider: report through it (its exporter, its
 *   resource); titan-perf's own pipeline, if it had started, is shut down
 *   first, so nothing is exported twice;
 * - otherwise, when OTEL_METRICS_EXPORTER asks for it: titan-perf's own
 *   pipeline, never registered globally, so an app that starts its SDK later
 *   registers as if titan-perf were not there, and is then handed over to;
 * - otherwise nothing: no SDK loaded, no instruments.
 *
 * Nothing here runs on the start-up path beyond reading a few env variables:
 * the first look happens `exportDelay` ms later on an unref'd timer. Every
 * fault is reported once and turns telemetry off; none reaches the app.
 */
import type { MeterProvider } from '@opentelemetry/api';
import { telemetryDefaults, type TelemetryConfig } from '../config/sections/telemetry';
import { appMeterProvider } from './app-meter-provider';
import { parseExportEnv, type ExportPlan } from './export-env';
import { METER_NAME } from './names';
import { selfTime } from '../runtime/self-time';
import { createOwnPipeline, warmUpSdk, type OwnPipeline } from './own-pipeline';
import { RuntimeInstruments } from './runtime-instruments';
import { SourceState, type ReadingsSource } from './source';

export type TelemetryMode = 'waiting' | 'app' | 'own' | 'off' | 'stopped';

export interface StartTelemetryOptions {
  source: ReadingsSource;
  /** The source already being listened to (the preload starts listening before telemetry loads). */
  state?: SourceState;
  config?: Partial<TelemetryConfig>;
  env?: Record<string, string | undefined>;
  /** One line each; defaults to stderr. */
  log?: (line: string) => void;
  /** The performance score, 0..100, when computed in this process. */
  score?: () => number | undefined;
}

export interface TelemetryHandle {
  readonly mode: TelemetryMode;
  readonly plan: ExportPlan;
  /** Resolves once the mode is `mode` (or rejects after `timeoutMs`). */
  waitForMode(mode: TelemetryMode, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** How often the global MeterProvider is looked at once telemetry runs. */
const CHECK_MS = 1000;

const defaultLog = (line: string) => {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // stderr closed: nothing left to tell.
  }
};

class Telemetry implements TelemetryHandle {
  mode: TelemetryMode = 'waiting';
  readonly plan: ExportPlan;
  private readonly cfg: TelemetryConfig;
  private readonly log: (line: string) => void;
  private readonly state: SourceState;
  private timer: NodeJS.Timeout | undefined;
  private provider: MeterProvider | undefined;
  private instruments: RuntimeInstruments | undefined;
  private own: OwnPipeline | undefined;
  private busy = false;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly opts: StartTelemetryOptions) {
    this.cfg = { ...telemetryDefaults, ...opts.config };
    this.log = opts.log ?? defaultLog;
    const env = opts.env ?? process.env;
    const { plan, warnings } = parseExportEnv(env);
    this.plan = plan;
    for (const w of warnings) this.log(`titan-perf: ${w}`);
    this.state = opts.state ?? new SourceState(opts.source);
    this.schedule(this.cfg.exportDelay);
  }

  private schedule(ms: number): void {
    if (this.mode === 'stopped' || this.mode === 'off') return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private setMode(mode: TelemetryMode): void {
    this.mode = mode;
    for (const w of this.waiters) w();
  }

  private async tick(): Promise<void> {
    if (this.busy || this.mode === 'stopped') return;
    this.busy = true;
    try {
      const app = this.cfg.useAppMeterProvider ? appMeterProvider() : undefined;
      if (app) {
        if (this.provider !== app) {
          this.detach();
          await this.stopOwn();
          selfTime().measure(() => this.attach(app, 'app'));
        }
      } else {
        if (this.mode === 'app') {
          // The app unregistered its provider (metrics.disable()).
          this.detach();
          this.setMode('waiting');
        }
        if (this.mode === 'waiting' && this.plan.exporters.length > 0) {
          // Loading the SDK step by step is one own window: the GC and compiling it sets off are titan-perf's too.
          await selfTime().window(async () => {
            await warmUpSdk(this.plan);
            // The app may have registered while the SDK loaded: then its pipeline it is, next tick.
            if (this.mode === 'waiting' && !(this.cfg.useAppMeterProvider && appMeterProvider())) {
              selfTime().measure(() => {
                this.own = createOwnPipeline(this.plan, this.log, this.opts.env ?? process.env);
                this.attach(this.own.provider, 'own');
              });
            }
          });
        }
      }
    } catch (err) {
      this.log(`titan-perf: metrics are off: ${String((err as Error)?.message ?? err).split('\n')[0]}`);
      this.detach();
      await this.stopOwn();
      this.state.detach();
      this.setMode('off');
    } finally {
      this.busy = false;
    }
    this.schedule(CHECK_MS);
  }

  private attach(provider: MeterProvider, mode: 'app' | 'own'): void {
    this.provider = provider;
    this.instruments = new RuntimeInstruments(provider.getMeter(METER_NAME), this.state, {
      maxOrigins: this.cfg.maxOrigins,
      maxDbPools: this.cfg.maxDbPools,
      score: this.opts.score,
    });
    this.setMode(mode);
  }

  private detach(): void {
    this.instruments?.dispose();
    this.instruments = undefined;
    this.provider = undefined;
  }

  private async stopOwn(): Promise<void> {
    const own = this.own;
    this.own = undefined;
    if (own) await own.shutdown();
  }

  waitForMode(mode: TelemetryMode, timeoutMs = 30_000): Promise<void> {
    if (this.mode === mode) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`titan-perf telemetry: still '${this.mode}' after ${timeoutMs} ms, expected '${mode}'`));
      }, timeoutMs);
      timer.unref();
      const check = () => {
        if (this.mode !== mode) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  async stop(): Promise<void> {
    if (this.mode === 'stopped') return;
    clearTimeout(this.timer);
    this.detach();
    this.state.detach();
    await this.stopOwn();
    this.setMode('stopped');
  }
}

const KEY = Symbol.for('titan-perf.telemetry');

/**
 * Starts reporting the source's readings. Loaded twice in one process (two
 * copies of titan-perf), the second call gets the first one's handle.
 */
export function startTelemetry(opts: StartTelemetryOptions): TelemetryHandle {
  const g = globalThis as unknown as Record<symbol, TelemetryHandle | undefined>;
  const running = g[KEY];
  if (running && running.mode !== 'stopped') return running;
  const cfg = { ...telemetryDefaults, ...opts.config };
  const handle: TelemetryHandle = cfg.enabled ? new Telemetry(opts) : disabledHandle();
  g[KEY] = handle;
  return handle;
}

function disabledHandle(): TelemetryHandle {
  return {
    mode: 'off',
    plan: parseExportEnv({}).plan,
    waitForMode: (mode) =>
      mode === 'off' ? Promise.resolve() : Promise.reject(new Error('titan-perf telemetry is disabled')),
    stop: async () => undefined,
  };
}
