import type { Knex } from 'knex';

/**
 * R18: a pool's counters are sums of its instances' use. Each instance may report up to 1,000,000
 * of a SKU, so about 2,148 of them in one pool passed 2^31 - 1 and every later report touching
 * the pool failed (integer out of range). The summed columns become bigint: the pool's counters,
 * the chart's daily points and the period's overage peak.
 *
 * Left integer, each bounded by 1,000,000 where it is written (the report schema, the order line
 * validation): instance_usage.count (the biggest table: a type change would rewrite it and its
 * index), license_allocations.quantity, entitlements.quantity and order_lines.quantity. Their sums
 * are taken as bigint in SQL.
 *
 * Each changed table is rewritten once (one ALTER TABLE per table) under ACCESS EXCLUSIVE.
 * license_pools and overage_peaks are small; pool_daily_use grows a row per pool and day, and the
 * report path writes it, so reports wait while it is rewritten (10,000 pools x 365 days, 435 MB:
 * 28 s on a loaded host, bench/findings.md): run it off-peak on a big deployment. node-postgres
 * reads int8 as a string: every reader converts with Number() (counts stay far below 2^53).
 *
 * down fails with "integer out of range" while any counter is beyond 2^31 - 1, rather than
 * clipping what the pools hold.
 */
const COLUMNS: ReadonlyArray<[table: string, columns: string[]]> = [
  ['license_pools', ['purchased', 'authorized', 'overage', 'unserved']],
  ['pool_daily_use', ['purchased', 'in_use']],
  ['overage_peaks', ['peak']],
];

function alterTypes(type: 'bigint' | 'integer'): string[] {
  return COLUMNS.map(([table, columns]) => `ALTER TABLE ${table} ${columns.map((c) => `ALTER COLUMN ${c} TYPE ${type}`).join(', ')}`);
}

export async function up(knex: Knex): Promise<void> {
  for (const statement of alterTypes('bigint')) await knex.raw(statement);
}

export async function down(knex: Knex): Promise<void> {
  for (const statement of alterTypes('integer')) await knex.raw(statement);
}
