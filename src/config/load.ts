/**
 * Resolves the effective configuration from its sources, later wins:
 * defaults < profile (TITAN_PERF_PROFILE) < file (TITAN_PERF_CONFIG) <
 * TITAN_PERF_* overrides < code.
 *
 * Lenient mode (the preload's) never throws: each faulty field falls back to
 * its default and is reported. Strict mode throws one ConfigError listing
 * every issue. With no user input at all, nothing beyond the defaults is
 * loaded: the schema library is only required when there is something to check.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors';
import { PROFILE_OVERRIDES, profileConfig } from './defaults';
import { ENV_PREFIX, isConfigEnv } from './env-names';
import { deepMerge, getAt, isPlainObject, setAt } from './merge';
import { PROFILES, type Profile, type TitanPerfConfig } from './types';


export interface ResolveOptions {
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** The highest layer: what code passed (PerformanceOptimizer's constructor, CLI flags). */
  code?: unknown;
  /** Wins over TITAN_PERF_PROFILE. */
  profile?: string;
  /** Config file; defaults to TITAN_PERF_CONFIG. `null` means none even if the env names one. */
  file?: string | null;
  /** Throw a ConfigError instead of falling back. */
  strict?: boolean;
}

export interface ResolvedConfig {
  config: TitanPerfConfig;
  profile: Profile;
  /** What was wrong and fell back to defaults (empty when all was valid). */
  issues: ConfigIssue[];
  /** The config file that was read, if any. */
  file?: string;
  /**
   * Whether a dotted path (`nodejs.maxOldSpaceSize`) holds a value someone
   * chose (profile, file, TITAN_PERF_* or code) rather than a default, so
   * advice can tell "you asked for X" from "the default is X".
   */
  chosen: (path: string) => boolean;
}

interface Layer {
  source: string;
  data: Record<string, unknown>;
  /** Per dotted path, where the value came from (env layers name each variable). */
  sources?: Map<string, string>;
}

export function resolveConfig(opts: ResolveOptions = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  const issues: ConfigIssue[] = [];

  let profile: Profile = 'default';
  const wanted = opts.profile ?? env.TITAN_PERF_PROFILE;
  if (wanted !== undefined && wanted !== '') {
    if ((PROFILES as readonly string[]).includes(wanted)) profile = wanted as Profile;
    else
      issues.push({
        path: 'profile',
        value: wanted,
        expected: `one of ${PROFILES.map((p) => `'${p}'`).join(', ')}`,
        source: opts.profile !== undefined ? 'code' : 'TITAN_PERF_PROFILE',
      });
  }
  const base = profileConfig(profile);

  const layers: Layer[] = [];
  const file = opts.file === null ? undefined : (opts.file ?? (env.TITAN_PERF_CONFIG || undefined));
  if (file) {
    const data = readConfigFile(file, issues);
    if (data) layers.push({ source: file, data });
  }
  const envLayer = envOverrides(env);
  if (envLayer) layers.push(envLayer);
  if (opts.code !== undefined) {
    if (isPlainObject(opts.code)) layers.push({ source: 'code', data: opts.code });
    else issues.push({ path: '', value: opts.code, expected: 'a configuration object', source: 'code' });
  }

  let config = base;
  if (layers.length > 0) {
    for (const layer of layers) config = deepMerge(config, layer.data);
    config = validateWithFallback(config, base, layers, issues);
  }

  if (opts.strict && issues.length > 0) throw new ConfigError(issues);
  const overrides = (PROFILE_OVERRIDES as Record<string, unknown>)[profile];
  const chosen = (path: string): boolean => {
    const keys = path.split('.');
    // A value that was refused fell back to its default: nobody chose what is in effect.
    if (issues.some((i) => i.path === path || (i.path !== '' && path.startsWith(`${i.path}.`)))) return false;
    return getAt(overrides, keys) !== undefined || layers.some((l) => getAt(l.data, keys) !== undefined);
  };
  return { config, profile, issues, file, chosen };
}

function readConfigFile(file: string, issues: ConfigIssue[]): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    issues.push({ path: '', value: file, expected: `a readable JSON or YAML file (${code})`, source: 'TITAN_PERF_CONFIG' });
    return undefined;
  }
  const ext = extname(file).toLowerCase();
  let data: unknown;
  try {
    if (ext === '.json') data = JSON.parse(text);
    else {
      // YAML is a superset of JSON, so anything not named .json goes through the YAML parser.
      const YAML = require('yaml') as typeof import('yaml');
      data = YAML.parse(text, { prettyErrors: true, uniqueKeys: true });
    }
  } catch (err) {
    const firstLine = String((err as Error).message).split('\n')[0];
    issues.push({ path: '', value: file, expected: `valid ${ext === '.json' ? 'JSON' : 'YAML'} (${firstLine})`, source: file });
    return undefined;
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) {
    issues.push({ path: '', value: Array.isArray(data) ? 'a list' : data, expected: 'a mapping at the top level', source: file });
    return undefined;
  }
  return data;
}

/** `TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS=100` -> nodejs.connectionPooling.maxConnections. */
export function envOverrides(env: Record<string, string | undefined>): Layer | undefined {
  const data: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const [name, raw] of Object.entries(env)) {
    if (!isConfigEnv(name) || raw === undefined) continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    if (path.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) continue;
    setAt(data, path, parseEnvValue(raw));
    sources.set(path.join('.'), name);
  }
  return sources.size > 0 ? { source: 'environment', data, sources } : undefined;
}

function parseEnvValue(raw: string): unknown {
  const t = raw.trim();
  if (/^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?|\[.*\]|\{.*\})$/s.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      return raw;
    }
  }
  return raw;
}

function sourceOf(path: string[], layers: Layer[]): string | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (layer.sources) {
      for (let n = path.length; n > 0; n--) {
        const hit = layer.sources.get(path.slice(0, n).join('.'));
        if (hit) return hit;
      }
      continue;
    }
    if (getAt(layer.data, path) !== undefined) return layer.source;
  }
  return undefined;
}

const SECRET_PATH = /password|secret|token/i;

/** Redacts what must never reach a log: passwords, and credentials inside URLs. */
export function redact(path: string, value: unknown): unknown {
  if (SECRET_PATH.test(path) && !/(Env|File)$/.test(path)) return '[redacted]';
  // A mistyped URL (`redis:/:pw@host`, no `//`) still carries its credentials before the last `@`.
  if (typeof value === 'string' && /url$/i.test(path) && value.includes('@')) return value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/*)?[^]*@/, '$1[redacted]@');
  if (typeof value === 'string') return value.replace(/\/\/[^/\s]*@/g, '//[redacted]@');
  return value;
}

function validateWithFallback(
  merged: TitanPerfConfig,
  base: TitanPerfConfig,
  layers: Layer[],
  issues: ConfigIssue[],
): TitanPerfConfig {
  const { v } = require('./rules') as typeof import('./rules');
  const schema = fullSchema();
  const seen = new Set<string>();
  let current = merged as unknown as Record<string, unknown>;
  // Each pass repairs every reported field; a repaired parent can reveal nothing
  // new below it (defaults are valid), so two passes suffice; four is a guard.
  for (let pass = 0; pass < 4; pass++) {
    const result = v.safeParse(schema, current);
    if (result.success) return result.output as TitanPerfConfig;
    for (const issue of result.issues) {
      const path = (issue.path ?? []).map((p) => String(p.key));
      const dotted = path.join('.');
      const unknownKey = issue.type === 'strict_object' && issue.expected === 'never';
      if (!seen.has(dotted)) {
        seen.add(dotted);
        const parent = getAt(base, path.slice(0, -1));
        issues.push({
          path: dotted,
          value: redact(dotted, unknownKey ? getAt(current, path) : issue.input),
          expected: unknownKey
            ? `no such setting; known here: ${isPlainObject(parent) ? Object.keys(parent).join(', ') : '(none)'}`
            : issue.message,
          source: sourceOf(path, layers),
        });
      }
      setAt(current, path, unknownKey ? undefined : getAt(base, path));
    }
  }
  // Unreachable in practice: fall back to the profile's defaults wholesale.
  return base;
}

let cachedSchema: unknown;
function fullSchema() {
  if (cachedSchema) return cachedSchema as ReturnType<typeof build>;
  const build = () => {
    const { str, section } = require('./rules') as typeof import('./rules');
    const { nodejsSchema } = require('./sections/nodejs') as typeof import('./sections/nodejs');
    const { redisSchema } = require('./sections/redis') as typeof import('./sections/redis');
    const { systemSchema } = require('./sections/system') as typeof import('./sections/system');
    const { telemetrySchema } = require('./sections/telemetry') as typeof import('./sections/telemetry');
    return section({
      nodejs: nodejsSchema(),
      redis: redisSchema(),
      system: systemSchema(),
      telemetry: telemetrySchema(),
      dataDir: str('a directory path'),
    });
  };
  const s = build();
  cachedSchema = s;
  return s;
}

/** Checks a whole config object (for instance one built in code); throws a ConfigError listing every issue. */
export function validateConfig(config: unknown): TitanPerfConfig {
  return resolveConfig({ env: {}, file: null, code: config, strict: true }).config;
}

