import type { Knex } from 'knex';
import type { SignedUsageAnswer, UsageAnswerBody } from '../device-client/answers';
import { refusalOfAdmission, type CallerInstance, type DeviceCaller } from './device-auth';
import { preparedRaw } from '../db/prepared';
import { StatementBatch, writePartOf } from '../db/statement-batch';
import { licenseEventInsert } from './events';
import { comparePoolKeys } from './pool-order';
import { lockPool, poolRowOf, recomputePool, writePoolCountsIn, type PoolKey, type PoolRow } from './pools';
import { CONTACT_WRITE_SQL, lockInstances, spentSignaturesInsert } from './report-batch-sql';
import { allowanceOfInstance, answerOf, judgeSku, sameCounts, skusOfReport, usageEventOf, type PreviousUse } from './report-judging';
import type { SigningKeys } from './signing';

/**
 * R17, R18: a product instance reports what it uses, SKU -> count, and is told per SKU whether
 * that use is Authorized, Overage or OutOfCompliance, in ONE Postgres transaction:
 * - idempotent by (instance, report ID): a retry gets the stored signed answer back;
 * - a replay (the same signed request again) is refused: the stored answer keeps the hash of the
 *   signature of the request it answered, and a retry's signature is spent in device_request_signatures;
 * - the pool rows of every SKU it reports or reported before are locked in SKU order, so two
 *   reports never deadlock and never grant more than a pool holds;
 * - each SKU is judged against the pool without this instance's previous use of it;
 * - a report is the instance's whole use: a SKU it reported before and not now drops to 0.
 * When its use shrinks in a pool that has use told Overage or OutOfCompliance, the pool is
 * re-judged at once so the freed licenses serve the others.
 */

/**
 * The order pools are locked in: the same key and comparison as allocateActivatedEntitlements
 * (src/licensing/pools.ts), so a report and a provisioning touching the same pools never deadlock.
 */
function lockOrder(virtualAccountId: string): (a: string, b: string) => number {
  return (a, b) => comparePoolKeys({ virtualAccountId, sku: a }, { virtualAccountId, sku: b });
}

/**
 * The instance locked, then, under the lock, the stored answer of this report ID (with the hash of
 * the request it answered), whether this request's signature was spent by a retry, and the
 * instance's use as last judged: two round trips, nothing written. Refused as admitDeviceRequest
 * refuses: a replay (the signature of the stored answer's own request, or spent by a retry), a
 * removed instance, a revoked credential.
 */
async function admitReport(
  trx: Knex.Transaction,
  caller: DeviceCaller,
  reportId: string,
): Promise<{ instance: CallerInstance; stored: SignedUsageAnswer | null; previous: PreviousUse[] }> {
  const instance = (await lockInstances(trx, [caller.claims.instanceId])).get(caller.claims.instanceId);
  const {
    rows,
  }: { rows: Array<{ stored: SignedUsageAnswer | null; hash: string | null; spent: boolean; previous: PreviousUse[] | null }> } =
    await preparedRaw(
      trx,
      `SELECT r.answer::json AS stored, encode(r.signature_hash, 'hex') AS hash,
              EXISTS (SELECT 1 FROM device_request_signatures WHERE signature_hash = ?) AS spent,
              (SELECT json_agg(json_build_object('sku', sku, 'count', count, 'state', state)) FROM instance_usage WHERE instance_id = ?) AS previous
       FROM (VALUES (1)) AS one (x) LEFT JOIN usage_reports r ON r.instance_id = ? AND r.report_id = ?`,
      [caller.signatureHash, caller.claims.instanceId, caller.claims.instanceId, reportId],
    );
  const { stored, hash, spent, previous } = rows[0];
  const replayed = spent || hash === caller.signatureHash.toString('hex');
  const refusal = refusalOfAdmission(!replayed, instance, caller);
  if (refusal) throw refusal;
  return { instance: instance!, stored, previous: previous ?? [] };
}

/** The pool row, locked: one statement when it exists (the usual case), lockPool's create-then-lock when not. */
async function lockPoolRow(trx: Knex.Transaction, accountId: string, key: PoolKey): Promise<PoolRow> {
  const row: Record<string, unknown> | undefined = await trx('license_pools')
    .where({ virtual_account_id: key.virtualAccountId, sku: key.sku })
    .forUpdate()
    .first('virtual_account_id', 'account_id', 'sku', 'purchased', 'authorized', 'overage', 'unserved');
  return row ? poolRowOf(row) : lockPool(trx, accountId, key);
}

/**
 * Judges each SKU of the report against its pool and writes pool and use; returns what to tell.
 * The writes gather in `batch` (run with the answer's, one round trip), unless a pool must be
 * re-judged, which reads them.
 */
async function judgeReport(
  trx: Knex.Transaction,
  batch: StatementBatch,
  instance: CallerInstance,
  usage: Record<string, number>,
  previous: Map<string, PreviousUse>,
): Promise<{ judged: UsageAnswerBody['usage']; stateChanged: boolean }> {
  const vaId = String(instance.virtual_account_id);
  const skus = skusOfReport(usage, previous).sort(lockOrder(vaId));
  const allowance = allowanceOfInstance(instance);
  const judged: UsageAnswerBody['usage'] = [];
  const shrunk: string[] = [];
  let stateChanged = instance.state !== 'active';
  for (const sku of skus) {
    const key = { virtualAccountId: vaId, sku };
    const pool = await lockPoolRow(trx, instance.account_id, key);
    const count = usage[sku] ?? 0;
    const { state, after, rejudge, stateChanged: changed } = judgeSku(pool, previous.get(sku), count, sku in usage, allowance);
    if (!sameCounts(after, pool)) await writePoolCountsIn(batch, trx, instance.account_id, key, after);
    if (sku in usage) {
      batch.add({
        sql: `INSERT INTO instance_usage (instance_id, sku, virtual_account_id, count, state, reported_at) VALUES (?, ?, ?, ?, ?, now())
              ON CONFLICT (instance_id, sku) DO UPDATE SET virtual_account_id = EXCLUDED.virtual_account_id, count = EXCLUDED.count,
                state = EXCLUDED.state, reported_at = now()`,
        bindings: [instance.id, sku, vaId, count, state],
      });
      judged.push({ sku, count, state });
    } else {
      batch.add({ sql: 'DELETE FROM instance_usage WHERE instance_id = ? AND sku = ?', bindings: [instance.id, sku] });
    }
    if (rejudge) shrunk.push(sku);
    if (changed) stateChanged = true;
  }
  // Freed licenses serve the others at once (R18); the pools stay locked in SKU order.
  if (shrunk.length > 0) await batch.run(trx);
  for (const sku of shrunk) {
    const { changed } = await recomputePool(trx, instance.account_id, { virtualAccountId: vaId, sku });
    const own = changed.find((c) => c.instanceId === instance.id);
    const entry = judged.find((u) => u.sku === sku);
    if (own && entry) entry.state = own.to;
  }
  return { judged, stateChanged };
}

export async function reportUsage(
  db: Knex,
  keys: SigningKeys,
  caller: DeviceCaller,
  report: { reportId: string; usage: Record<string, number> },
): Promise<SignedUsageAnswer> {
  return db.transaction(async (trx) => {
    const { instance, stored, previous } = await admitReport(trx, caller, report.reportId);
    // A retry: its stored answer, its own signature spent (the stored row keeps the first request's).
    if (stored) {
      const spent = spentSignaturesInsert([{ instanceId: instance.id, signatureHash: caller.signatureHash }]);
      await preparedRaw(trx, spent.sql, spent.bindings);
      return stored;
    }

    const batch = new StatementBatch();
    const { judged, stateChanged } = await judgeReport(trx, batch, instance, report.usage, new Map(previous.map((r) => [r.sku, r])));
    const answer = answerOf(keys, instance.id, report.reportId, judged);
    batch.add({ sql: CONTACT_WRITE_SQL, bindings: [[instance.id]] });
    // The event log records what changed state; a count moving within its state does not (usageEventOf).
    if (stateChanged) batch.add(writePartOf(licenseEventInsert(trx, usageEventOf(instance, report.reportId, judged))));
    // Pool, use, contact, event and the answer kept for retries: one statement.
    await batch.runPrepared(trx, {
      sql: 'INSERT INTO usage_reports (instance_id, report_id, answer, signature_hash) VALUES (?, ?, ?, ?)',
      bindings: [instance.id, report.reportId, JSON.stringify(answer), caller.signatureHash],
    });
    return answer;
  });
}
