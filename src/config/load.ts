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
import { extname } from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors';
import { readTrustedFile } from '../trusted-files';
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
  /** Variables refused because a segment names an object internal (`__proto__`). */
  refused?: { name: string; path: string }[];
}

// Keys that reach Object.prototype when merged naively: refused by name, never dropped silently.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const FORBIDDEN_EXPECTED =
  'a setting name; __proto__, constructor and prototype are refused because they would reach the object prototype';

function forbiddenKeyIssues(data: unknown, source: string, prefix: string[] = []): ConfigIssue[] {
  if (!isPlainObject(data) && !Array.isArray(data)) return [];
  const out: ConfigIssue[] = [];
  for (const [k, val] of Object.entries(data)) {
    const path = [...prefix, k];
    if (FORBIDDEN_KEYS.has(k)) out.push({ path: path.join('.'), value: k, expected: FORBIDDEN_EXPECTED, source });
    else out.push(...forbiddenKeyIssues(val, source, path));
  }
  return out;
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
    const data = readConfigFile(file, issues, !!opts.strict);
    if (data) layers.push({ source: file, data });
  }
  const envLayer = envOverrides(env);
  if (envLayer) layers.push(envLayer);
  if (opts.code !== undefined) {
    if (isPlainObject(opts.code)) layers.push({ source: 'code', data: opts.code });
    else issues.push({ path: '', value: opts.code, expected: 'a configuration object', source: 'code' });
  }
  for (const layer of layers) {
    issues.push(...forbiddenKeyIssues(layer.data, layer.source));
    for (const r of layer.refused ?? [])
      issues.push({ path: r.path, value: r.name, expected: FORBIDDEN_EXPECTED, source: r.name });
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

/** Far above any real config (a few KiB); a `/dev/zero` or a log file named by mistake stops here. */
export const CONFIG_MAX_BYTES = 1024 * 1024;

function readConfigFile(file: string, issues: ConfigIssue[], strict: boolean): Record<string, unknown> | undefined {
  let text: string;
  try {
    // Symlinks are followed: Kubernetes mounts a ConfigMap as a chain of them. A FIFO, a device or
    // a huge file is refused without blocking; the sidecar (strict) also refuses a file others may write.
    const read = readTrustedFile(file, {
      what: 'the config file',
      maxBytes: CONFIG_MAX_BYTES,
      strictOwner: strict,
      code: 'TITAN_PERF_CONFIG_UNSAFE',
    });
    if (read === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    text = read.text;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'TITAN_PERF_CONFIG_UNSAFE'
        ? e.message.replace(/^refusing the config file \S+: it /, '')
        : (e.code ?? 'error');
    issues.push({
      path: '',
      value: file,
      expected: `a readable JSON or YAML file (${why})`,
      source: 'TITAN_PERF_CONFIG',
    });
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
    issues.push({
      path: '',
      value: file,
      expected: `valid ${ext === '.json' ? 'JSON' : 'YAML'} (${parseErrorWithoutText(err)})`,
      source: file,
    });
    return undefined;
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) {
    // The type only: a file named by mistake (a secret, /etc/shadow) must not be echoed into a log.
    issues.push({
      path: '',
      value: Array.isArray(data) ? 'a list' : `a ${typeof data}`,
      expected: 'a mapping at the top level',
      source: file,
    });
    return undefined;
  }
  return data;
}

/** Where the parser stopped, without the snippet of the file it quotes. */
function parseErrorWithoutText(err: unknown): string {
  const message = String((err as Error).message);
  const where = /line \d+,? column \d+|at position \d+/.exec(message);
  return where ? `stopped at ${where[0]}` : 'unparseable';
}

/** `TITAN_PERF_NODEJS__CONNECTION_POOLING__MAX_CONNECTIONS=100` -> nodejs.connectionPooling.maxConnections. */
export function envOverrides(env: Record<string, string | undefined>): Layer | undefined {
  const data: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  const refused: { name: string; path: string }[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!isConfigEnv(name) || raw === undefined) continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    if (path.some((p) => FORBIDDEN_KEYS.has(p))) {
      refused.push({ name, path: path.join('.') });
      continue;
    }
    if (path.some((p) => p === '')) continue;
    const value = parseEnvValue(raw);
    const inside = forbiddenKeyIssues(value, name, path);
    if (inside.length > 0) {
      refused.push(...inside.map((i) => ({ name, path: i.path })));
      continue;
    }
    setAt(data, path, value);
    sources.set(path.join('.'), name);
  }
  if (sources.size === 0 && refused.length === 0) return undefined;
  return { source: 'environment', data, sources, refused };
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
      // An unknown parent set by a deeper variable (TITAN_PERF_TYPO__FIELD): name that variable.
      const below = `${path.join('.')}.`;
      for (const [set, name] of layer.sources) if (set.startsWith(below)) return name;
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
  if (typeof value === 'string' && /url$/i.test(path) && value.includes('@'))
    return value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/*)?[\s\S]*@/, '$1[redacted]@');
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
  const current = merged as unknown as Record<string, unknown>;
  // Each pass repairs every reported field; a repaired parent can reveal nothing
  // new below it (defaults are valid), so two passes suffice; four is a guard.
  for (let pass = 0; pass < 4; pass++) {
    const result = v.safeParse(schema, current);
    if (result.success) return result.output as TitanPerfConfig;
    for (const issue of result.issues) {
      const path = (issue.path ?? []).map((p) => String(p.key));
      const unknownKey = issue.type === 'strict_object' && issue.expected === 'never';
      // An unknown key is named so it can be fixed, unless it does not look like a name at all:
      // a file given by mistake (a secret, a password hash) must not reach a log through its keys.
      const dotted =
        unknownKey && !/^[A-Za-z0-9_-]{1,64}$/.test(path[path.length - 1])
          ? [...path.slice(0, -1), '(unrecognised key)'].join('.')
          : path.join('.');
      if (!seen.has(dotted)) {
        seen.add(dotted);
        const parent = getAt(base, path.slice(0, -1));
        issues.push({
          path: dotted,
          value: redact(dotted, unknownKey ? describeUnknown(getAt(current, path)) : issue.input),
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

/** An unknown key's value, shown only when it is a short scalar: a nested object could be a whole file. */
function describeUnknown(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'string') return value.length <= 64 ? value : `a string of ${value.length} characters`;
  return Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
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
