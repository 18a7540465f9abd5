import type { Knex } from 'knex';
import { isoDateOf } from '../common/dates';
import { StatementBatch, type WritePart } from '../db/statement-batch';
import { preparedQuery } from '../db/prepared';
import { raiseAlert } from './alerts';
import { recordOveragePeak } from './overage';
import { licenseEventsInsert } from './events';
import { NO_ALLOWANCE, overageOf, rejudgePool, statePriority, type Allowance, type PoolCounts, type UseState } from './compliance';
import type { InstanceUsageRow, LicenseAllocationRow, LicensePoolRow, OverageAgreementRow, VirtualAccountRow } from '../db/rows';

/**
 * The pool of (virtual account, SKU) in Postgres. Every change to what a pool holds (a
 * provisioning, a move, a term end, a true-up) or to an account's agreement calls
 * `recomputePool` inside the transaction that made the change, so compliance is right at once
 * (R18) without waiting for the next report. The pool row is locked first: concurrent reports
 * and recomputes of one pool run one after the other, never losing an update.
 */

/** Where licenses of an order line with no virtual account go: the Smart Account's default VA. */
export const DEFAULT_VIRTUAL_ACCOUNT = 'Default';

export interface PoolKey {
  virtualAccountId: string;
  sku: string;
}

export interface PoolRow extends PoolCounts {
  virtualAccountId: string;
  accountId: string;
  sku: string;
}

/** The account's overage agreement row as an Allowance (none when it has no agreement). */
function allowanceOfAgreement(row: Pick<OverageAgreementRow, 'kind' | 'allowance_factor'> | null | undefined): Allowance {
  if (!row || row.kind === 'none') return NO_ALLOWANCE;
  if (row.kind === 'unlimited') return { kind: 'unlimited' };
  return { kind: 'factor', factor: Number(row.allowance_factor) };
}

/**
 * Locks the pool row for the rest of the transaction, creating it first if missing. One
 * statement when it exists, as it does after its first order (issue 16: the insert was sent
 * every time, two statements a pool); a missing one is inserted (a concurrent creator's insert
 * waits for ours, or ours for theirs) and read again, locked.
 */
export async function lockPool(q: Knex.Transaction, accountId: string, key: PoolKey): Promise<PoolRow> {
  const locked = () =>
    q<LicensePoolRow>('license_pools').where({ virtual_account_id: key.virtualAccountId, sku: key.sku }).forUpdate().first();
  const existing = await locked();
  if (existing) return poolRowOf({ ...existing });
  await q<LicensePoolRow>('license_pools')
    .insert({ virtual_account_id: key.virtualAccountId, sku: key.sku, account_id: accountId })
    .onConflict(['virtual_account_id', 'sku'])
    .ignore();
  return poolRowOf({ ...(await locked())! });
}

/** The counters are bigint (migration 20261209_100), which node-postgres reads as strings; they stay far below 2^53. */
export function poolRowOf(row: Record<string, unknown>): PoolRow {
  return {
    virtualAccountId: String(row.virtual_account_id),
    accountId: String(row.account_id),
    sku: String(row.sku),
    purchased: Number(row.purchased),
    authorized: Number(row.authorized),
    overage: Number(row.overage),
    unserved: Number(row.unserved),
  };
}

/** A live use of the pool, as recomputePool re-judges it; reported_us orders uses reported at once. */
interface PoolUse {
  instance_id: string;
  count: number;
  state: string;
  reported_us: string;
}

/**
 * What re-judging the pool needs, in one statement (issue 16: it was three): the licenses it
 * holds today (allocations of active entitlements whose term has not ended) and the first of
 * their term ends, its live uses, and the account's overage agreement.
 */
const POOL_FACTS_SQL = `
SELECT h.purchased, h.next_expiry_on,
  (SELECT COALESCE(json_agg(json_build_object('instance_id', u.instance_id, 'count', u.count, 'state', u.state,
          'reported_us', (extract(epoch FROM u.reported_at) * 1000000)::bigint::text)), '[]')
     FROM instance_usage u
    WHERE u.virtual_account_id = :va AND u.sku = :sku AND u.state <> 'AuthorizationExpired') AS uses,
  (SELECT json_build_object('kind', o.kind, 'allowance_factor', o.allowance_factor)
     FROM overage_agreements o WHERE o.account_id = :account) AS agreement
FROM (SELECT COALESCE(SUM(a.quantity), 0)::bigint AS purchased, to_char(MIN(a.ends_on), 'YYYY-MM-DD') AS next_expiry_on
        FROM license_allocations a JOIN entitlements e ON e.id = a.entitlement_id
       WHERE a.virtual_account_id = :va AND a.sku = :sku AND e.status = 'active' AND (a.ends_on IS NULL OR a.ends_on > :today)) h`;

async function poolFactsOf(q: Knex.Transaction, accountId: string, key: PoolKey, today: string) {
  const { rows } = await preparedQuery<{
    purchased: string;
    next_expiry_on: string | null;
    uses: PoolUse[];
    agreement: OverageAgreementRow | null;
  }>(q, q.raw(POOL_FACTS_SQL, { va: key.virtualAccountId, sku: key.sku, account: accountId, today }));
  const [row] = rows;
  return {
    // A sum of allocations may pass 2^31: bigint, read by node-postgres as a string (far below 2^53).
    purchased: Number(row.purchased),
    nextExpiryOn: row.next_expiry_on,
    uses: row.uses,
    allowance: allowanceOfAgreement(row.agreement),
  };
}

/**
 * Re-derives the pool's purchase and re-judges every live use of it in priority order (the
 * served stay served first, then by report time). Returns the pool after the change and the
 * instances whose state changed, so callers can log events and raise alerts.
 */
export async function recomputePool(
  q: Knex.Transaction,
  accountId: string,
  key: PoolKey,
  today: string = isoDateOf(Date.now()),
): Promise<{ pool: PoolRow; changed: Array<{ instanceId: string; from: string; to: UseState }> }> {
  await lockPool(q, accountId, key);
  const { purchased, nextExpiryOn, uses, allowance } = await poolFactsOf(q, accountId, key, today);
  uses.sort(
    (a, b) =>
      statePriority(a.state) - statePriority(b.state) ||
      Number(BigInt(a.reported_us) - BigInt(b.reported_us)) ||
      a.instance_id.localeCompare(b.instance_id),
  );
  const { states, counts } = rejudgePool(purchased, uses, allowance);
  const changed = uses.flatMap((use, i) =>
    use.state === states[i] ? [] : [{ instanceId: use.instance_id, from: use.state, to: states[i] }],
  );
  for (const change of changed) {
    await q<InstanceUsageRow>('instance_usage').where({ instance_id: change.instanceId, sku: key.sku }).update({ state: change.to });
  }
  const pool = await writePoolCounts(q, accountId, key, counts, nextExpiryOn, today);
  return { pool, changed };
}

/**
 * Writes the pool's counters, its "insufficient since" mark, today's point of the use chart and,
 * when use goes beyond the purchase, the period's overage peak (R20).
 */
export async function writePoolCounts(
  q: Knex.Transaction,
  accountId: string,
  key: PoolKey,
  counts: PoolCounts,
  nextExpiryOn?: string | null,
  today: string = isoDateOf(Date.now()),
): Promise<PoolRow> {
  const batch = new StatementBatch();
  batch.add(...poolCountsWrites(key, counts, nextExpiryOn));
  await batch.run(q);
  const overage = overageOf(counts);
  if (overage > 0) await recordOveragePeak(q, accountId, key, overage, today);
  if (counts.unserved > 0) await raiseInsufficientLicenses(q, accountId, key, counts);
  return { ...counts, virtualAccountId: key.virtualAccountId, accountId, sku: key.sku };
}

/** R25: the pool's "insufficient licenses" alert (once a day), naming the counts that raised it. */
export async function raiseInsufficientLicenses(q: Knex.Transaction, accountId: string, key: PoolKey, counts: PoolCounts): Promise<void> {
  await raiseAlert(q, {
    accountId,
    virtualAccountId: key.virtualAccountId,
    kind: 'insufficient_licenses',
    subject: `pool:${key.virtualAccountId}:${key.sku}`,
    message: `insufficient licenses: ${key.sku} is used ${counts.authorized + counts.overage + counts.unserved} times, ${counts.purchased} purchased`,
    details: { sku: key.sku, ...counts },
  });
}

/**
 * writePoolCounts for a hot path that gathers its writes in `batch`: counts with no overage and
 * nothing unserved (the usual case) need only the counters and the chart, so they join the batch;
 * others are written at once, with their overage peak and alert.
 */
export async function writePoolCountsIn(
  batch: StatementBatch,
  q: Knex.Transaction,
  accountId: string,
  key: PoolKey,
  counts: PoolCounts,
): Promise<void> {
  if (overageOf(counts) === 0 && counts.unserved === 0) batch.add(...poolCountsWrites(key, counts));
  else await writePoolCounts(q, accountId, key, counts);
}

/** The pool row's counters (and next expiry when given) and today's point of the use chart: the day's highest purchase and use. */
function poolCountsWrites(key: PoolKey, counts: PoolCounts, nextExpiryOn?: string | null): WritePart[] {
  const expiry = nextExpiryOn !== undefined ? ', next_expiry_on = ?' : '';
  const insufficientSince = counts.unserved > 0 ? 'COALESCE(insufficient_since, now())' : 'NULL';
  return [
    {
      sql: `UPDATE license_pools SET purchased = ?, authorized = ?, overage = ?, unserved = ?${expiry},
              insufficient_since = ${insufficientSince}, updated_at = now()
            WHERE virtual_account_id = ? AND sku = ?`,
      bindings: [
        counts.purchased,
        counts.authorized,
        counts.overage,
        counts.unserved,
        ...(nextExpiryOn !== undefined ? [nextExpiryOn] : []),
        key.virtualAccountId,
        key.sku,
      ],
    },
    {
      sql: `INSERT INTO pool_daily_use (virtual_account_id, sku, day, purchased, in_use) VALUES (?, ?, current_date, ?, ?)
            ON CONFLICT (virtual_account_id, sku, day) DO UPDATE
            SET purchased = GREATEST(pool_daily_use.purchased, EXCLUDED.purchased), in_use = GREATEST(pool_daily_use.in_use, EXCLUDED.in_use)
            WHERE pool_daily_use.purchased < EXCLUDED.purchased OR pool_daily_use.in_use < EXCLUDED.in_use`,
      bindings: [key.virtualAccountId, key.sku, counts.purchased, counts.authorized + counts.overage + counts.unserved],
    },
  ];
}

/** The overage this pool shows now, as the true-up counts it. */
export { overageOf };

/** The virtual account licenses of an order go to when the order names none. */
export async function defaultVirtualAccount(q: Knex.Transaction, accountId: string): Promise<string> {
  await q<VirtualAccountRow>('virtual_accounts')
    .insert({ account_id: accountId, name: DEFAULT_VIRTUAL_ACCOUNT, path: DEFAULT_VIRTUAL_ACCOUNT, parent_id: null })
    .onConflict(['account_id', 'path'])
    .ignore();
  const row = (await q<VirtualAccountRow>('virtual_accounts').where({ account_id: accountId, path: DEFAULT_VIRTUAL_ACCOUNT }).first('id'))!;
  return String(row.id);
}

/** A smart entitlement just activated and not in a pool yet, as its activation returned it. */
export interface ActivatedEntitlement {
  id: string;
  account_id: string;
  virtual_account_id: string | null;
  sku: string;
  quantity: number;
  /** Its subscription's end (YYYY-MM-DD), for a term line. */
  ends_on: string | null;
}

/**
 * Activates the smart entitlements of these order lines (bind: the line IDs) and allocates those
 * with a virtual account, in one statement (issue 16: the allocation read them again, then wrote
 * them in a statement of its own). Returns each with whether it was allocated before (a repeat)
 * and whether this statement allocated it, for allocateActivatedEntitlements.
 */
export const ACTIVATE_AND_ALLOCATE_SQL = `
WITH activated AS (
  UPDATE entitlements e SET status = 'active', activated_at = COALESCE(e.activated_at, now()), updated_at = now()
    FROM order_lines l LEFT JOIN subscriptions s ON s.order_line_id = l.id
   WHERE l.id = e.order_line_id AND e.order_line_id = ANY(?) AND e.status IN ('deposited', 'active')
  RETURNING e.id, e.account_id, e.virtual_account_id, e.sku, e.quantity, to_char(s.ends_on, 'YYYY-MM-DD') AS ends_on,
    EXISTS (SELECT 1 FROM license_allocations a WHERE a.entitlement_id = e.id) AS allocated
), inserted AS (
  INSERT INTO license_allocations (entitlement_id, account_id, virtual_account_id, sku, quantity, ends_on)
  SELECT id, account_id, virtual_account_id, sku, quantity, ends_on::date FROM activated
   WHERE NOT allocated AND virtual_account_id IS NOT NULL
  ON CONFLICT (entitlement_id, virtual_account_id) DO NOTHING
)
SELECT activated.*, (NOT allocated AND virtual_account_id IS NOT NULL) AS inserted FROM activated`;

/**
 * R8 -> R18: smart entitlements just activated join their virtual account's pool (the default VA
 * when the order named none), and each pool touched is re-judged at once. Idempotent: an
 * allocation exists once per entitlement and VA, and those already allocated are left out.
 */
export async function allocateActivatedEntitlements(
  q: Knex.Transaction,
  activated: Array<ActivatedEntitlement & { allocated: boolean; inserted: boolean }>,
  /** The order provisioned, and its provisioning step's idempotency key (an attempt running beside its retry logs once). */
  source: { orderId: string; idempotencyKey: string },
): Promise<PoolRow[]> {
  const rows = activated.filter((row) => !row.allocated);
  if (rows.length === 0) return [];
  const touched = new Map<string, { accountId: string; key: PoolKey; quantity: number }>();
  const allocations: Array<Partial<LicenseAllocationRow>> = [];
  for (const row of rows) {
    const virtualAccountId = row.virtual_account_id ? String(row.virtual_account_id) : await defaultVirtualAccount(q, row.account_id);
    if (!row.inserted)
      allocations.push({
        entitlement_id: row.id,
        account_id: row.account_id,
        virtual_account_id: virtualAccountId,
        sku: row.sku,
        quantity: row.quantity,
        ends_on: row.ends_on,
      });
    const poolKey = `${virtualAccountId}\u0000${row.sku}`;
    const quantity = (touched.get(poolKey)?.quantity ?? 0) + Number(row.quantity);
    touched.set(poolKey, { accountId: row.account_id, key: { virtualAccountId, sku: row.sku }, quantity });
  }
  // All of them in one statement (issue 16: one each).
  if (allocations.length > 0) {
    await q<LicenseAllocationRow>('license_allocations').insert(allocations).onConflict(['entitlement_id', 'virtual_account_id']).ignore();
  }
  // R23: what each pool gained, in the account's event log (one insert; a repeat allocates nothing and its key is taken).
  await licenseEventsInsert(
    q,
    [...touched.values()].map(({ accountId, key, quantity }) => ({
      accountId,
      virtualAccountId: key.virtualAccountId,
      type: 'licenses_activated',
      subject: `pool:${key.virtualAccountId}:${key.sku}`,
      actor: 'system',
      details: { sku: key.sku, quantity, orderId: source.orderId },
      idempotencyKey: `${source.idempotencyKey}:${key.virtualAccountId}:${key.sku}`,
    })),
  );
  const pools: PoolRow[] = [];
  // A fixed order, so two transactions touching the same pools lock them in the same order.
  for (const [, { accountId, key }] of [...touched].sort(([a], [b]) => a.localeCompare(b))) {
    pools.push((await recomputePool(q, accountId, key)).pool);
  }
  return pools;
}
