import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../dist/src/index.js';

/** The `redis` section's own fields: each wrong value is named with what is allowed. */
function issuesFor(redis: Record<string, unknown>) {
  try {
    resolveConfig({ env: {}, file: null, code: { redis }, strict: true });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('redis config section', () => {
  it.each([
    ['maxMemory', 'lots', /a size such as '2gb'/],
    ['maxMemoryPolicy', 'lru', /one of 'noeviction', 'allkeys-lru'/],
    ['appendFsync', 'sometimes', /one of 'always', 'everysec', 'no'/],
    ['mode', 'write', /one of 'manage', 'advisory'/],
    ['maxMemoryHeadroom', -0.1, /a number from 0 to 10/],
    ['connectRetries', 100, /an integer from 0 to 20/],
    ['leaseTtl', 10, /an integer from 1000 to 3600000 \(ms\)/],
    ['keyPrefix', 'has space', /a key prefix of letters, digits/],
    ['hz', 0, /an integer from 1 to 500/],
    ['tcpBacklog', 'big', /an integer from 1 to 65535/],
    ['url', 'http://x', /a redis:\/\/ or rediss:\/\/ URL/],
    ['passwordEnv', 'not-a-name', /an environment variable name/],
    ['forceMaxMemory', 'yes', /true or false/],
  ])('%s = %j is refused, naming the field, the value and what is allowed', (field, value, expected) => {
    const issues = issuesFor({ [field]: value });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: `redis.${field}`, value, expected: expect.stringMatching(expected) });
  });

  it('a URL with credentials is redacted in the error', () => {
    const issues = issuesFor({ url: 'http://u:hunter2@host:6379' });
    expect(issues[0]).toMatchObject({ path: 'redis.url', value: 'http://[redacted]@host:6379' });
    expect(JSON.stringify(issues)).not.toContain('hunter2');
  });

  it('accepts the new fields with their defaults and valid values', () => {
    const { config } = resolveConfig({
      env: {},
      file: null,
      code: { redis: { mode: 'advisory', maxMemoryHeadroom: 0.5, keyPrefix: 'app:titan', leaseTtl: 5000 } },
      strict: true,
    });
    expect(config.redis).toMatchObject({
      mode: 'advisory',
      maxMemoryHeadroom: 0.5,
      keyPrefix: 'app:titan',
      leaseTtl: 5000,
      connectRetries: 3,
      forceMaxMemory: false,
    });
  });
});
