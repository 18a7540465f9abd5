import type { Knex } from 'knex';
import { isoDateOf } from '../common/dates';
import type { SignedUsageAnswer, UsageAnswerBody } from '../device-client/answers';
import { inLeanTransaction, type LeanTransaction } from '../db/lean-transaction';
import { StatementBatch, writePartOf } from '../db/statement-batch';
import { inUse, overageOf, type PoolCounts } from './compliance';
import { refusalOfAdmission, type CallerInstance, type DeviceCaller } from './device-auth';
import { licenseEventsInsert, type LicenseEvent } from './events';
import { recordOveragePeak } from './overage';
import { comparePoolKeys } from './pool-order';
import { raiseInsufficientLicenses, type PoolKey, type PoolRow } from './pools';
import type { LicenseRefusal } from './refusals';
import {
  answersInsert,
  contactAndSpentWrites,
  createMissingPools,
  lockInstances,
  poolKeyText,
  poolWrites,
  recallBatch,
  useWrites,
  type KeptAnswer,
  type PoolWrite,
  type UseWrite,
} from './report-batch-sql';
import {
  allowanceOfInstance,
  answerBodyOf,
  judgeSku,
  sameCounts,
  signedAnswersOf,
  skusOfReport,
  usageEventOf,
  type PreviousUse,
} from './report-judging';
import type { SigningKeys } from './signing';

/**
 * A batch of usage reports (at most one per instance) applied in ONE transaction, set-based: the
 * instances locked in one statement, their stored answers and spent signatures, previous use
 * and every reported pool locked (the order every pool writer uses) in one, each report judged in
 * arrival order against the pools' counts in memory with the one-report path's arithmetic
 * (report-judging.ts), their answers under one signature (a Merkle root: signAnswers), every
 * write in one statement, one commit. Each report gets what the one-report path would have told
 * it had the batch's reports come one after the other.
 */

export interface QueuedReport {
  caller: DeviceCaller;
  report: { reportId: string; usage: Record<string, number> };
}

/** What became of one report of the batch; `alone`: its pool must be re-judged, it goes through the one-report path after the batch. */
export type BatchOutcome =
  { kind: 'answered'; answer: SignedUsageAnswer } | { kind: 'refused'; refusal: LicenseRefusal } | { kind: 'alone' };

interface PoolInBatch {
  row: PoolRow;
  counts: PoolCounts;
  changed: boolean;
  highestInUse: number;
  /** The most served use beyond the purchase any report of the batch left (the period's peak, R20). */
  highestOverage: number;
  /** The first counts a report left with unserved use: they raise the day's alert, as they would alone. */
  firstShort?: PoolCounts;
}

/** The pools' counts as the batch's reports change them one after the other, and what each must write. */
class BatchPools {
  private readonly pools = new Map<string, PoolInBatch>();

  constructor(rows: Map<string, PoolRow>) {
    for (const [key, row] of rows) this.pools.set(key, { row, counts: row, changed: false, highestInUse: 0, highestOverage: 0 });
  }

  counts(key: PoolKey): PoolCounts {
    return this.pools.get(poolKeyText(key))!.counts;
  }

  set(key: PoolKey, counts: PoolCounts): void {
    const pool = this.pools.get(poolKeyText(key))!;
    pool.counts = counts;
    pool.changed = true;
    pool.highestInUse = Math.max(pool.highestInUse, inUse(counts));
    pool.highestOverage = Math.max(pool.highestOverage, overageOf(counts));
    if (counts.unserved > 0) pool.firstShort ??= counts;
  }

  writes(): PoolWrite[] {
    return [...this.pools.values()]
      .filter((p) => p.changed)
      .map((p) => ({ virtualAccountId: p.row.virtualAccountId, sku: p.row.sku, counts: p.counts, highestInUse: p.highestInUse }));
  }

  /** The overage peak and the "insufficient licenses" alert of pools the batch left short, as writePoolCounts records them. */
  async recordShortfalls(tx: LeanTransaction): Promise<void> {
    const today = isoDateOf(Date.now());
    for (const p of this.pools.values()) {
      if (p.highestOverage > 0) await recordOveragePeak(tx.knex(), p.row.accountId, p.row, p.highestOverage, today);
      if (p.firstShort) await raiseInsufficientLicenses(tx.knex(), p.row.accountId, p.row, p.firstShort);
    }
  }
}

/** Everything the batch writes, gathered as its reports are judged. */
interface BatchWrites {
  uses: UseWrite[];
  dropped: Array<{ instanceId: string; sku: string }>;
  events: LicenseEvent[];
  answers: KeptAnswer[];
  /** Retries answered from their stored answer: their signatures are spent. */
  spent: Array<{ instanceId: string; signatureHash: Buffer }>;
}

/**
 * One report judged against the batch's pools, SKU by SKU in lock order (the answer lists them so);
 * undefined, and nothing changed, when a pool would have to be re-judged (it goes alone).
 */
function judgeQueued(
  pools: BatchPools,
  writes: BatchWrites,
  instance: CallerInstance,
  usage: Record<string, number>,
  previous: Map<string, PreviousUse>,
): { judged: UsageAnswerBody['usage']; stateChanged: boolean } | undefined {
  const virtualAccountId = String(instance.virtual_account_id);
  const allowance = allowanceOfInstance(instance);
  const skus = skusOfReport(usage, previous).sort((a, b) => comparePoolKeys({ virtualAccountId, sku: a }, { virtualAccountId, sku: b }));
  const judgements = skus.map((sku) => {
    const key = { virtualAccountId, sku };
    return { key, count: usage[sku] ?? 0, ...judgeSku(pools.counts(key), previous.get(sku), usage[sku] ?? 0, sku in usage, allowance) };
  });
  if (judgements.some((j) => j.rejudge)) return undefined;
  const judged: UsageAnswerBody['usage'] = [];
  for (const { key, count, state, after } of judgements) {
    if (!sameCounts(after, pools.counts(key))) pools.set(key, after);
    if (key.sku in usage) {
      writes.uses.push({ instanceId: instance.id, sku: key.sku, virtualAccountId, count, state });
      judged.push({ sku: key.sku, count, state });
    } else {
      writes.dropped.push({ instanceId: instance.id, sku: key.sku });
    }
  }
  return { judged, stateChanged: instance.state !== 'active' || judgements.some((j) => j.stateChanged) };
}

/** The pools of these SKUs of these instances, each once, in the one lock order. */
function poolKeysOf(reports: Array<{ instance: CallerInstance; skus: string[] }>): Array<PoolKey & { accountId: string }> {
  const keys = new Map<string, PoolKey & { accountId: string }>();
  for (const { instance, skus } of reports) {
    for (const sku of skus) {
      const key = { virtualAccountId: String(instance.virtual_account_id), sku, accountId: instance.account_id };
      keys.set(poolKeyText(key), key);
    }
  }
  return [...keys.values()].sort(comparePoolKeys);
}

interface ToJudge {
  index: number;
  instance: CallerInstance;
  usage: Record<string, number>;
  previous: Map<string, PreviousUse>;
}

/**
 * Instances locked, stored answers and spent signatures read, refusals decided, the pools of the
 * reported SKUs locked; returns the reports left to judge and their pools. A replay is the
 * signature of a stored answer's own request, or one spent by a retry; refusals go in the
 * one-report path's order (replay, then removed, then revoked). A report whose instance last
 * reported a SKU it no longer names (its pool not locked here, and locking it now would break the
 * lock order) goes alone after the batch, as a report whose pool must be re-judged does.
 */
async function admitAndRecall(
  trx: LeanTransaction,
  queued: QueuedReport[],
  outcomes: BatchOutcome[],
  writes: BatchWrites,
): Promise<{ toJudge: ToJudge[]; pools: Map<string, PoolRow> }> {
  const instances = await lockInstances(
    trx,
    queued.map((q) => q.caller.claims.instanceId),
  );
  // Pools are locked for the instances that may be answered (a replay among them locks for nothing).
  const live = queued.flatMap(({ caller }, index) => {
    const instance = instances.get(caller.claims.instanceId);
    return refusalOfAdmission(true, instance, caller) ? [] : [{ index, instance: instance! }];
  });
  const reportedKeys = poolKeysOf(live.map(({ index, instance }) => ({ instance, skus: Object.keys(queued[index].report.usage) })));
  const { stored, spentBefore, previous, pools } = await recallBatch(
    trx,
    queued.map(({ caller, report }) => ({
      instanceId: caller.claims.instanceId,
      reportId: report.reportId,
      signatureHash: caller.signatureHash,
    })),
    live.map(({ instance }) => instance.id),
    reportedKeys,
  );
  const locked = new Set(reportedKeys.map(poolKeyText));
  const toJudge = queued.flatMap(({ caller, report }, index) => {
    const hash = caller.signatureHash.toString('hex');
    const kept = stored.get(caller.claims.instanceId);
    const replayed = spentBefore.has(hash) || kept?.signatureHash === hash;
    const instance = instances.get(caller.claims.instanceId);
    const refusal = refusalOfAdmission(!replayed, instance, caller);
    if (refusal) return ((outcomes[index] = { kind: 'refused', refusal }), []);
    if (kept) {
      writes.spent.push({ instanceId: instance!.id, signatureHash: caller.signatureHash });
      return ((outcomes[index] = { kind: 'answered', answer: kept.answer }), []);
    }
    const used = previous.get(instance!.id) ?? new Map<string, PreviousUse>();
    const virtualAccountId = String(instance!.virtual_account_id);
    if ([...used.keys()].some((sku) => !locked.has(poolKeyText({ virtualAccountId, sku })))) {
      return ((outcomes[index] = { kind: 'alone' }), []);
    }
    return [{ index, instance: instance!, usage: report.usage, previous: used }];
  });
  await createMissingPools(
    trx,
    poolKeysOf(toJudge.map(({ instance, usage, previous: used }) => ({ instance, skus: skusOfReport(usage, used) }))),
    pools,
  );
  return { toJudge, pools };
}

/**
 * The batch's answers signed at once, under one signature (signAnswers), given to their reports
 * and kept, proof and all, so a retry of a report ID gets the same verifiable answer.
 */
function answerBatch(
  keys: SigningKeys,
  queued: QueuedReport[],
  judged: Array<{ index: number; body: UsageAnswerBody }>,
  outcomes: BatchOutcome[],
  writes: BatchWrites,
): void {
  const answers = signedAnswersOf(
    keys,
    judged.map((j) => j.body),
  );
  judged.forEach(({ index }, i) => {
    const answer = answers[i];
    outcomes[index] = { kind: 'answered', answer };
    writes.answers.push({
      instanceId: answer.instanceId,
      reportId: answer.reportId,
      answer,
      signatureHash: queued[index].caller.signatureHash,
    });
  });
}

/** The batch in a lean transaction (src/db/lean-transaction.ts): the API's CPU a report went from about 0.17 to 0.13 ms without knex's (bench/report-pg-cpu.ts). */
export async function applyReportBatch(db: Knex, keys: SigningKeys, queued: QueuedReport[]): Promise<BatchOutcome[]> {
  return inLeanTransaction(db, async (trx) => {
    const outcomes: BatchOutcome[] = new Array<BatchOutcome>(queued.length);
    const writes: BatchWrites = { uses: [], dropped: [], events: [], answers: [], spent: [] };
    const recalled = await admitAndRecall(trx, queued, outcomes, writes);
    const pools = new BatchPools(recalled.pools);
    const judged: Array<{ index: number; body: UsageAnswerBody }> = [];
    for (const { index, instance, usage, previous } of recalled.toJudge) {
      const { reportId } = queued[index].report;
      const result = judgeQueued(pools, writes, instance, usage, previous);
      if (!result) {
        outcomes[index] = { kind: 'alone' };
        continue;
      }
      judged.push({ index, body: answerBodyOf(instance.id, reportId, result.judged) });
      if (result.stateChanged) writes.events.push(usageEventOf(instance, reportId, result.judged));
    }
    answerBatch(keys, queued, judged, outcomes, writes);
    // Pools, chart points, use, contact, events, retries' signatures and the answers kept: one statement.
    const batch = new StatementBatch();
    batch.add(...poolWrites(pools.writes()), ...useWrites(writes.uses, writes.dropped));
    batch.add(
      ...contactAndSpentWrites(
        writes.answers.map((a) => a.instanceId),
        writes.spent,
      ),
    );
    if (writes.events.length > 0) batch.add(writePartOf(licenseEventsInsert(db, writes.events)));
    await batch.runPrepared(trx, answersInsert(writes.answers));
    await pools.recordShortfalls(trx);
    return outcomes;
  });
}
