/**
 * The overall performance score: 100 minus the penalty of every finding,
 * floored at 0, and a status from fixed bands. A critical finding never
 * leaves the status better than `warning`, however small its penalty, so a
 * single OOM-risk verdict cannot hide behind an otherwise clean score.
 */
import { driftFindings, nodejsFindings, poolFindings, redisFindings } from './findings';
import type { ScoreInput, ScoreResult, Status } from './types';

/** Lowest score of each status, best first. */
export const STATUS_BANDS: readonly { status: Status; min: number }[] = [
  { status: 'optimal', min: 95 },
  { status: 'good', min: 80 },
  { status: 'warning', min: 60 },
  { status: 'critical', min: 0 },
];

const ORDER: Record<string, number> = { critical: 0, warning: 1, info: 2 };

export function scorePerformance(input: ScoreInput): ScoreResult {
  const recommendations = [
    ...nodejsFindings(input),
    ...poolFindings(input),
    ...redisFindings(input),
    ...driftFindings(input),
  ];
  recommendations.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || b.penalty - a.penalty);
  const score = Math.max(0, 100 - recommendations.reduce((sum, r) => sum + r.penalty, 0));
  let status = STATUS_BANDS.find((b) => score >= b.min)!.status;
  if (recommendations.some((r) => r.severity === 'critical') && (status === 'optimal' || status === 'good'))
    status = 'warning';
  return { score, status, recommendations };
}
