import type { Knex } from 'knex';
import { daysBetween, isoDateOf } from '../common/dates';
import { raiseAlert } from './alerts';
import { recordLicenseEvent } from './events';
import { recomputePool } from './pools';

/**
 * R22, term ends. "Licenses expiring" alerts go out at each configured number of days before an
 * allocation's term ends (90, 60, 30, 14, 7, 3, 1), each once; at the end its licenses leave the
 * pool (recomputePool with that day) and the pool is re-judged at once.
 *
 * Each alert's subject names its threshold (allocation:<id>:30d) and its day is the threshold's
 * date (ends_on - 30), so the unique key makes it exactly-once whichever run raises it. A term
 * first seen inside a window (provisioned late, or the clock was down) gets that window's alert
 * only, never the earlier, already passed ones: a reader needs the nearest date, not a backlog.
 */

export interface TermEndResult {
  expiringAlerts: number;
  expiredPools: number;
  more: boolean;
}

interface DueAllocation {
  id: string;
  account_id: string;
  virtual_account_id: string;
  sku: string;
  quantity: number;
  ends_on: string;
  threshold: number;
  path: string;
}

export async function sweepTermEnds(
  db: Knex,
  alertDays: number[],
  asOfMs: number,
  batch: number,
  accountId?: string,
): Promise<TermEndResult> {
  const today = isoDateOf(asOfMs);
  const due = alertDays.length === 0 ? [] : await allocationsDueAnAlert(db, alertDays, today, batch, accountId);
  for (const allocation of due) await raiseExpiringAlert(db, allocation);
  const query = db('license_pools')
    .where('next_expiry_on', '<=', today)
    .orderBy(['next_expiry_on', 'virtual_account_id', 'sku'])
    .limit(batch)
    .select('virtual_account_id', 'sku', 'account_id', db.raw(`to_char(next_expiry_on, 'YYYY-MM-DD') AS next_expiry_on`));
  if (accountId !== undefined) query.where('account_id', accountId);
  const pools = (await query) as Array<{ virtual_account_id: string; sku: string; account_id: string; next_expiry_on: string }>;
  for (const pool of pools) await expirePool(db, pool, today);
  return { expiringAlerts: due.length, expiredPools: pools.length, more: due.length >= batch || pools.length >= batch };
}

/** Allocations ending within the largest window whose current threshold was not alerted yet. */
async function allocationsDueAnAlert(
  db: Knex,
  alertDays: number[],
  today: string,
  batch: number,
  accountId?: string,
): Promise<DueAllocation[]> {
  const result: { rows: DueAllocation[] } = await db.raw(
    `WITH upcoming AS (
       SELECT a.id, a.account_id, a.virtual_account_id, a.sku, a.quantity, a.ends_on, va.path,
              (SELECT min(d) FROM unnest(?::int[]) AS d WHERE d >= a.ends_on - ?::date) AS threshold
       FROM license_allocations a
       JOIN entitlements e ON e.id = a.entitlement_id AND e.status = 'active'
       JOIN virtual_accounts va ON va.id = a.virtual_account_id
       WHERE a.ends_on > ?::date AND a.ends_on <= ?::date + ?::int AND a.quantity > 0 AND (?::text IS NULL OR a.account_id = ?))
     SELECT u.id, u.account_id, u.virtual_account_id, u.sku, u.quantity, to_char(u.ends_on, 'YYYY-MM-DD') AS ends_on, u.threshold, u.path
     FROM upcoming u
     WHERE NOT EXISTS (SELECT 1 FROM license_alerts l
                       WHERE l.kind = 'licenses_expiring' AND l.subject = 'allocation:' || u.id || ':' || u.threshold || 'd')
     ORDER BY u.ends_on, u.id
     LIMIT ?`,
    [alertDays, today, today, today, Math.max(...alertDays), accountId ?? null, accountId ?? null, batch],
  );
  return result.rows;
}

async function raiseExpiringAlert(db: Knex, a: DueAllocation): Promise<void> {
  const thresholdDay = isoDateOf(Date.parse(`${a.ends_on}T00:00:00Z`) - a.threshold * 86_400_000);
  await raiseAlert(
    db,
    {
      accountId: a.account_id,
      virtualAccountId: a.virtual_account_id,
      kind: 'licenses_expiring',
      subject: `allocation:${a.id}:${a.threshold}d`,
      message: `${a.quantity} ${a.sku} licenses in ${a.path} expire on ${a.ends_on} (in ${daysBetween(thresholdDay, a.ends_on)} days)`,
      details: { allocationId: a.id, sku: a.sku, quantity: a.quantity, endsOn: a.ends_on, daysBefore: a.threshold, path: a.path },
    },
    thresholdDay,
  );
}

/** The pool's licenses whose term ended leave it; every allocation that ended is alerted and logged once. */
async function expirePool(
  db: Knex,
  pool: { virtual_account_id: string; sku: string; account_id: string; next_expiry_on: string },
  today: string,
): Promise<void> {
  await db.transaction(async (trx) => {
    const key = { virtualAccountId: String(pool.virtual_account_id), sku: pool.sku };
    const { pool: after, changed } = await recomputePool(trx, pool.account_id, key, today);
    const ended: Array<{ id: string; quantity: number; ends_on: string }> = await trx('license_allocations')
      .where({ virtual_account_id: key.virtualAccountId, sku: key.sku })
      .where('ends_on', '>=', pool.next_expiry_on)
      .where('ends_on', '<=', today)
      .select('id', 'quantity', trx.raw(`to_char(ends_on, 'YYYY-MM-DD') AS ends_on`));
    for (const allocation of ended) {
      await raiseAlert(
        trx,
        {
          accountId: pool.account_id,
          virtualAccountId: key.virtualAccountId,
          kind: 'licenses_expired',
          subject: `allocation:${allocation.id}:expired`,
          message: `${allocation.quantity} ${key.sku} licenses ended on ${allocation.ends_on} and left the pool (${after.purchased} left)`,
          details: { allocationId: allocation.id, sku: key.sku, quantity: allocation.quantity, endsOn: allocation.ends_on },
        },
        allocation.ends_on,
      );
      await recordLicenseEvent(trx, {
        accountId: pool.account_id,
        virtualAccountId: key.virtualAccountId,
        type: 'licenses_expired',
        subject: `pool:${key.virtualAccountId}:${key.sku}`,
        actor: 'system',
        details: { allocationId: allocation.id, quantity: allocation.quantity, endsOn: allocation.ends_on, purchased: after.purchased },
        idempotencyKey: `licenses-expired:${allocation.id}`,
      });
    }
    for (const change of changed) {
      await recordLicenseEvent(trx, {
        accountId: pool.account_id,
        virtualAccountId: key.virtualAccountId,
        type: 'usage_state_changed',
        subject: `instance:${change.instanceId}`,
        actor: 'system',
        details: { sku: key.sku, from: change.from, to: change.to, reason: 'term_end' },
      });
    }
  });
}
