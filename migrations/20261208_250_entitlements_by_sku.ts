import type { Knex } from 'knex';

/**
 * A usage report naming a SKU no license was ever deposited of is refused (U9,
 * src/licensing/known-skus.ts), which asks "does any entitlement have this SKU?". No index led
 * with sku, so each such question read the whole table; with this one it reads one index entry.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX entitlements_sku_idx ON entitlements (sku)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX entitlements_sku_idx');
}
