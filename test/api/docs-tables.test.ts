/**
 * The HFT table (docs/configuration.md) and the score table (docs/api.md)
 * state numbers the code owns; this keeps them from drifting apart (the
 * tables are read, not regenerated).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths';
import { DEFAULT_PERFORMANCE_CONFIG, PROFILE_OVERRIDES, SCORE_RULES, STATUS_BANDS } from '../../dist/src/index.js';

function section(doc: string, title: string): string {
  const text = readFileSync(join(ROOT, 'docs', doc), 'utf8');
  const start = text.indexOf(`\n## ${title}\n`);
  expect(start, title).toBeGreaterThan(-1);
  const end = text.indexOf('\n## ', start + 4);
  return text.slice(start, end < 0 ? undefined : end);
}

function get(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

/** `4000 ms` -> 4000, `**false**` -> false, `everysec` -> 'everysec'. */
function cell(text: string): unknown {
  const t = text
    .replace(/\*\*/g, '')
    .replace(/ (ms|s)$/, '')
    .trim();
  if (t === 'true' || t === 'false') return t === 'true';
  return /^\d+$/.test(t) ? Number(t) : t;
}

describe('the tables in docs/ match the code', () => {
  it('High-frequency trading profile: every nodejs/redis row is the profile, and every profile key has a row', () => {
    const text = section('configuration.md', 'High-frequency trading profile');
    const rows = [...text.matchAll(/^\| `((?:nodejs|redis)\.[A-Za-z.]+)`[^|]*\| ([^|]+) \| ([^|]+) \|/gm)];
    const documented = new Set<string>();
    for (const [, path, dflt, hft] of rows) {
      documented.add(path);
      expect(cell(dflt), path).toEqual(get(DEFAULT_PERFORMANCE_CONFIG, path));
      expect(cell(hft), path).toEqual(get(PROFILE_OVERRIDES.hft, path));
    }
    const flat = (o: Record<string, unknown>, prefix: string): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        v && typeof v === 'object' ? flat(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    for (const path of [
      ...flat(PROFILE_OVERRIDES.hft.nodejs, 'nodejs.'),
      ...flat(PROFILE_OVERRIDES.hft.redis, 'redis.'),
    ])
      expect(documented, path).toContain(path);
  });

  it('Score and recommendations: bands and penalties are the exported rules', () => {
    const text = section('api.md', 'Score and recommendations');
    for (const b of STATUS_BANDS.filter((x: { min: number }) => x.min > 0))
      expect(text).toContain(`**${b.status}** ≥ ${b.min}`);
    expect(text).toContain(
      `warning ${SCORE_RULES.eventLoopDelay.warning}, critical ${SCORE_RULES.eventLoopDelay.critical}`,
    );
    expect(text).toContain(`warning ${SCORE_RULES.heapUsage.warning}, critical ${SCORE_RULES.heapUsage.critical}`);
    expect(text).toContain(
      `stall: warning ${SCORE_RULES.eventLoopStall.warning}, critical ${SCORE_RULES.eventLoopStall.critical}`,
    );
    expect(text).toContain(
      `above ${SCORE_RULES.gcPauseShare.warningAbove} (critical above ${SCORE_RULES.gcPauseShare.criticalAbove})`,
    );
    expect(text).toContain(`warning ${SCORE_RULES.drift.warning} each, ${SCORE_RULES.drift.cap} at most`);
    expect(text).toContain(
      `< ${SCORE_RULES.redisHitRatio.below} over ≥ ${SCORE_RULES.redisHitRatio.minLookups} lookups`,
    );
  });
});
