/**
 * Bulk seeding for the license-use scale parts (bench/licensing-view.ts, licensing-clock.ts):
 * product instances by the thousand with generate_series, each using one SKU, and the purchase
 * behind every pool as provisioning leaves it (order line -> active entitlement -> allocation),
 * so recomputePool re-derives the same purchase the seed wrote. Measures reads and sweeps, not
 * registration: the rows are written as a report leaves them, in a few statements.
 */
import type { Db } from '../src/db/knex';

export interface InstanceSeed {
  /** Unique to the run: instance IDs are `<prefix>-<n>`. */
  prefix: string;
  accountId: string;
  partnerId: string;
  vaIds: string[];
  skus: string[];
  count: number;
  /**
   * recent: every instance heard from within the last day. liveness: 1 in 100 silent past the
   * removal age (1 year), 1 in 100 past authorization expiry (90 days), 1 in 100 past the
   * failed-to-connect alert (30 days), the rest within the last 29 days.
   */
  silence: 'recent' | 'liveness';
}

const LAST_CONTACT = {
  recent: `now() - (g % 1440) * interval '1 minute'`,
  liveness: `CASE g % 100
      WHEN 0 THEN now() - interval '400 days' - (g % 1000) * interval '1 minute'
      WHEN 1 THEN now() - interval '120 days' - (g % 1000) * interval '1 minute'
      WHEN 2 THEN now() - interval '45 days' - (g % 1000) * interval '1 minute'
      ELSE now() - (g % 29) * interval '1 day' - (g % 1440) * interval '1 minute' END`,
};

/** How many of `count` instances the liveness mix makes due for each step of the sweep. */
export function livenessDue(count: number): { removed: number; expired: number; failedToConnect: number } {
  const ofResidue = (r: number) => (count > r ? Math.floor((count - 1 - r) / 100) + 1 : 0);
  return { removed: ofResidue(0), expired: ofResidue(1), failedToConnect: ofResidue(2) };
}

/** Instances, their use (one SKU each, count 1, Authorized), the purchase behind each pool and the pools. */
export async function seedInstances(db: Db, seed: InstanceSeed): Promise<void> {
  await db.raw(
    `INSERT INTO product_instances (id, account_id, virtual_account_id, product_id, serial_number, hostname, public_key,
       state, credential_serial, credential_expires_at, registered_at, last_contact_at)
     SELECT ? || '-' || g, ?, (?::bigint[])[1 + g % ?], 'BENCH-9300', ? || '-' || g, 'host-' || g, 'bench-key',
       'active', 'serial-' || g, now() + interval '30 days', now() - interval '500 days', ${LAST_CONTACT[seed.silence]}
     FROM generate_series(0, ? - 1) AS g`,
    [seed.prefix, seed.accountId, seed.vaIds, seed.vaIds.length, seed.prefix, seed.count],
  );
  // The SKU follows the instance number, so every VA sees every SKU when the counts allow it.
  await db.raw(
    `INSERT INTO instance_usage (instance_id, sku, virtual_account_id, count, state, reported_at)
     SELECT i.id, (?::text[])[1 + (substring(i.id from '[0-9]+$')::int / ?) % ?], i.virtual_account_id, 1, 'Authorized', i.last_contact_at
     FROM product_instances i WHERE i.account_id = ? AND i.id LIKE ? || '-%'`,
    [seed.skus, seed.vaIds.length, seed.skus.length, seed.accountId, seed.prefix],
  );
  const pools: Array<{ virtual_account_id: string; sku: string; used: number }> = (
    await db.raw(
      `SELECT u.virtual_account_id, u.sku, SUM(u.count)::int AS used FROM instance_usage u
       JOIN product_instances i ON i.id = u.instance_id
       WHERE i.account_id = ? AND i.id LIKE ? || '-%' GROUP BY 1, 2 ORDER BY 1, 2`,
      [seed.accountId, seed.prefix],
    )
  ).rows;
  await seedPurchase(db, seed, pools);
  await db.raw(
    `INSERT INTO license_pools (virtual_account_id, sku, account_id, purchased, authorized)
     SELECT va, sku, ?, 2 * used, used FROM unnest(?::bigint[], ?::text[], ?::int[]) AS p(va, sku, used)`,
    [seed.accountId, pools.map((p) => p.virtual_account_id), pools.map((p) => p.sku), pools.map((p) => p.used)],
  );
}

/**
 * One provisioned order with a line per pool: each line's entitlement active, allocated to its VA,
 * twice the use. Also what makes a SKU exist: a report naming a SKU no license exists of is refused.
 */
export async function seedPurchase(
  db: Db,
  seed: Pick<InstanceSeed, 'prefix' | 'accountId' | 'partnerId'>,
  pools: Array<{ virtual_account_id: string; sku: string; used: number }>,
): Promise<void> {
  const orderId = `bench-seed-${seed.prefix}`;
  await db('orders').insert({
    id: orderId,
    external_reference: `SEED-${seed.prefix}`,
    booked_by_partner_id: seed.partnerId,
    partner_id: seed.partnerId,
    workflow_id: `bench-seed-${seed.prefix}`,
    assignment_kind: 'smart_account',
    account_id: seed.accountId,
    status: 'Fulfilled',
    fulfilled_at: db.fn.now(),
  });
  await db.raw(
    `WITH p AS (SELECT * FROM unnest(?::bigint[], ?::text[], ?::int[]) WITH ORDINALITY AS p(va, sku, qty, n)),
     l AS (INSERT INTO order_lines (order_id, line_number, sku, quantity, license_type, sa_mandatory, state, shipped_on)
           SELECT ?, n, sku, qty, 'smart', true, 'provisioned', current_date FROM p RETURNING id, line_number),
     e AS (INSERT INTO entitlements (order_line_id, account_id, virtual_account_id, sku, quantity, status, activated_at)
           SELECT l.id, ?, p.va, p.sku, p.qty, 'active', now() FROM l JOIN p ON p.n = l.line_number
           RETURNING id, virtual_account_id, sku, quantity)
     INSERT INTO license_allocations (entitlement_id, account_id, virtual_account_id, sku, quantity)
     SELECT id, ?, virtual_account_id, sku, quantity FROM e`,
    [
      pools.map((p) => p.virtual_account_id),
      pools.map((p) => p.sku),
      pools.map((p) => 2 * p.used),
      orderId,
      seed.accountId,
      seed.accountId,
    ],
  );
}
