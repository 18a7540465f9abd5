import { signAnswers, type SignedUsageAnswer, type UsageAnswerBody } from '../device-client/answers';
import { addUse, judgeUse, NO_ALLOWANCE, type Allowance, type PoolCounts, type UseState } from './compliance';
import type { CallerInstance } from './device-auth';
import type { LicenseEvent } from './events';
import type { SigningKeys } from './signing';

/**
 * What one usage report decides, shared by the one-report path (reports.ts) and the batched path
 * (report-batch.ts), so both judge with the same arithmetic and answer in the same words.
 */

export interface PreviousUse {
  sku: string;
  count: number;
  state: string;
}

/** The pool's counts without what this instance's previous use added to them. */
export function withoutPrevious(pool: PoolCounts, previous: PreviousUse | undefined): PoolCounts {
  if (!previous || previous.state === 'AuthorizationExpired') return pool;
  const field = previous.state === 'Authorized' ? 'authorized' : previous.state === 'Overage' ? 'overage' : 'unserved';
  return { ...pool, [field]: Math.max(0, pool[field] - previous.count) };
}

export function allowanceOfInstance(instance: Pick<CallerInstance, 'agreement_kind' | 'allowance_factor'>): Allowance {
  if (!instance.agreement_kind || instance.agreement_kind === 'none') return NO_ALLOWANCE;
  if (instance.agreement_kind === 'unlimited') return { kind: 'unlimited' };
  return { kind: 'factor', factor: Number(instance.allowance_factor) };
}

/** The SKUs a report touches: those it names and those the instance used before (dropped to 0). */
export function skusOfReport(usage: Record<string, number>, previous: Map<string, PreviousUse>): string[] {
  return [...new Set([...Object.keys(usage), ...previous.keys()])];
}

export interface SkuJudgement {
  state: UseState;
  /** The pool's counts with this use judged in place of the previous. */
  after: PoolCounts;
  /** Use shrank in a pool left with Overage or OutOfCompliance use: the pool is re-judged (R18). */
  rejudge: boolean;
  /** A new SKU, another state told, or a dropped SKU: the event log records it. */
  stateChanged: boolean;
}

/** One SKU of a report judged against its pool's current counts. */
export function judgeSku(
  pool: PoolCounts,
  before: PreviousUse | undefined,
  count: number,
  reported: boolean,
  allowance: Allowance,
): SkuJudgement {
  const base = withoutPrevious(pool, before);
  const state = judgeUse(base, count, allowance);
  const after = addUse(base, count, state);
  const previousCount = before && before.state !== 'AuthorizationExpired' ? before.count : 0;
  return {
    state,
    after,
    rejudge: count < previousCount && after.overage + after.unserved > 0,
    stateChanged: !before || before.state !== state || !reported,
  };
}

export function sameCounts(a: PoolCounts, b: PoolCounts): boolean {
  return a.authorized === b.authorized && a.overage === b.overage && a.unserved === b.unserved;
}

/** What a device is told of one report, before it is signed (alone, or with the rest of its batch). */
export function answerBodyOf(instanceId: string, reportId: string, judged: UsageAnswerBody['usage']): UsageAnswerBody {
  return {
    v: 1,
    instanceId,
    reportId,
    instanceState: 'active',
    usage: judged,
    compliant: judged.every((u) => u.state === 'Authorized'),
    issuedAt: new Date().toISOString(),
  };
}

/**
 * The signed answers devices are given (and that are kept for a retry of their report IDs): a
 * batch's under one signature over their Merkle root, each with its proof; one alone as ever.
 */
export function signedAnswersOf(keys: SigningKeys, bodies: UsageAnswerBody[]): SignedUsageAnswer[] {
  return signAnswers(bodies, keys.current.id, keys.current.privateKey);
}

/** The signed answer to a report judged alone. */
export function answerOf(keys: SigningKeys, instanceId: string, reportId: string, judged: UsageAnswerBody['usage']): SignedUsageAnswer {
  return signedAnswersOf(keys, [answerBodyOf(instanceId, reportId, judged)])[0];
}

/**
 * The event a report writes when something changed state (a new SKU, a state told, a dropped SKU,
 * a comeback); a count moving within its state is in instance_usage and the daily chart, not the log.
 */
export function usageEventOf(instance: CallerInstance, reportId: string, judged: UsageAnswerBody['usage']): LicenseEvent {
  return {
    accountId: instance.account_id,
    virtualAccountId: String(instance.virtual_account_id),
    type: 'usage_reported',
    subject: `instance:${instance.id}`,
    actor: `device:${instance.id}`,
    details: { reportId, usage: judged, previousState: instance.state },
    idempotencyKey: `usage:${instance.id}:${reportId}`,
  };
}
