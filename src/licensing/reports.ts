import type { Knex } from 'knex';
import { signAnswer, type SignedUsageAnswer, type UsageAnswerBody } from '../device-client/protocol';
import { addUse, judgeUse, type PoolCounts, type UseState } from './compliance';
import { lockCallerInstance, spendSignature, type DeviceCaller } from './device-auth';
import { recordLicenseEvent } from './events';
import { allowanceOf, lockPool, recomputePool, writePoolCounts } from './pools';
import type { SigningKeys } from './signing';

/**
 * R17, R18: a product instance reports what it uses, SKU -> count, and is told per SKU whether
 * that use is Authorized, Overage or OutOfCompliance, in ONE Postgres transaction:
 * - idempotent by (instance, report ID): a retry gets the stored signed answer back;
 * - the pool rows of every SKU it reports or reported before are locked in SKU order, so two
 *   reports never deadlock and never grant more than a pool holds;
 * - each SKU is judged against the pool without this instance's previous use of it;
 * - a report is the instance's whole use: a SKU it reported before and not now drops to 0.
 * When its use shrinks in a pool that has use told Overage or OutOfCompliance, the pool is
 * re-judged at once so the freed licenses serve the others.
 */

interface PreviousUse {
  sku: string;
  count: number;
  state: string;
}

/** The pool's counts without what this instance's previous use added to them. */
function withoutPrevious(pool: PoolCounts, previous: PreviousUse | undefined): PoolCounts {
  if (!previous || previous.state === 'AuthorizationExpired') return pool;
  const field = previous.state === 'Authorized' ? 'authorized' : previous.state === 'Overage' ? 'overage' : 'unserved';
  return { ...pool, [field]: Math.max(0, pool[field] - previous.count) };
}

function codePointOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function reportUsage(
  db: Knex,
  keys: SigningKeys,
  caller: DeviceCaller,
  report: { reportId: string; usage: Record<string, number> },
): Promise<SignedUsageAnswer> {
  return db.transaction(async (trx) => {
    await spendSignature(trx, caller);
    const instance = await lockCallerInstance(trx, caller);
    const stored: { answer: SignedUsageAnswer } | undefined = await trx('usage_reports')
      .where({ instance_id: instance.id, report_id: report.reportId })
      .first('answer');
    if (stored) return stored.answer;

    const previousRows: PreviousUse[] = await trx('instance_usage').where({ instance_id: instance.id }).select('sku', 'count', 'state');
    const previous = new Map(previousRows.map((r) => [r.sku, r]));
    const skus = [...new Set([...Object.keys(report.usage), ...previous.keys()])].sort(codePointOrder);
    const allowance = await allowanceOf(trx, instance.account_id);
    const vaId = String(instance.virtual_account_id);
    const judged: UsageAnswerBody['usage'] = [];
    const shrunk: string[] = [];
    let changed = instance.state !== 'active';

    for (const sku of skus) {
      const key = { virtualAccountId: vaId, sku };
      const pool = await lockPool(trx, instance.account_id, key);
      const before = previous.get(sku);
      const count = report.usage[sku] ?? 0;
      const base = withoutPrevious(pool, before);
      const state: UseState = judgeUse(base, count, allowance);
      const after = addUse(base, count, state);
      if (after.authorized !== pool.authorized || after.overage !== pool.overage || after.unserved !== pool.unserved) {
        await writePoolCounts(trx, instance.account_id, key, after);
      }
      if (sku in report.usage) {
        await trx.raw(
          `INSERT INTO instance_usage (instance_id, sku, virtual_account_id, count, state, reported_at) VALUES (?, ?, ?, ?, ?, now())
           ON CONFLICT (instance_id, sku) DO UPDATE SET virtual_account_id = EXCLUDED.virtual_account_id, count = EXCLUDED.count,
             state = EXCLUDED.state, reported_at = now()`,
          [instance.id, sku, vaId, count, state],
        );
        judged.push({ sku, count, state });
      } else {
        await trx('instance_usage').where({ instance_id: instance.id, sku }).delete();
      }
      const previousCount = before && before.state !== 'AuthorizationExpired' ? before.count : 0;
      if (count < previousCount && after.overage + after.unserved > 0) shrunk.push(sku);
      if (!before || before.count !== count || before.state !== state) changed = true;
    }
    // Freed licenses serve the others at once (R18); the pools stay locked in SKU order.
    for (const sku of shrunk) {
      const { changed: rejudged } = await recomputePool(trx, instance.account_id, { virtualAccountId: vaId, sku });
      const own = rejudged.find((c) => c.instanceId === instance.id);
      const entry = judged.find((u) => u.sku === sku);
      if (own && entry) entry.state = own.to;
    }

    await trx('product_instances').where({ id: instance.id }).update({ state: 'active', last_contact_at: trx.fn.now() });
    const body: UsageAnswerBody = {
      v: 1,
      instanceId: instance.id,
      reportId: report.reportId,
      instanceState: 'active',
      usage: judged,
      compliant: judged.every((u) => u.state === 'Authorized'),
      issuedAt: new Date().toISOString(),
    };
    const answer = signAnswer(body, keys.current.id, keys.current.privateKey);
    await trx('usage_reports').insert({ instance_id: instance.id, report_id: report.reportId, answer: JSON.stringify(answer) });
    if (changed) {
      await recordLicenseEvent(trx, {
        accountId: instance.account_id,
        virtualAccountId: vaId,
        type: 'usage_reported',
        subject: `instance:${instance.id}`,
        actor: `device:${instance.id}`,
        details: { reportId: report.reportId, usage: judged, previousState: instance.state },
        idempotencyKey: `usage:${instance.id}:${report.reportId}`,
      });
    }
    return answer;
  });
}
