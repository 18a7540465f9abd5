import type { Knex } from 'knex';

/**
 * Every usage report rewrites its instance_usage rows (count, state, reported_at). Indexed on
 * (virtual_account_id, sku, state, reported_at), no such update could be HOT: each added an entry
 * to both of the table's indexes. Its one reader (recomputePool) finds a pool's rows by
 * (virtual_account_id, sku) and sorts them itself, so that prefix is all the index needs; with
 * free room left on each page (fillfactor) the rewrite stays on its page and touches no index.
 * The signed answers kept for retries are only ever stored and handed back whole: text, not
 * jsonb, so a report no longer pays for parsing its answer into jsonb.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX instance_usage_virtual_account_id_sku_state_reported_at_index');
  await knex.raw('CREATE INDEX instance_usage_pool_idx ON instance_usage (virtual_account_id, sku)');
  await knex.raw('ALTER TABLE instance_usage SET (fillfactor = 80)');
  await knex.raw('ALTER TABLE usage_reports ALTER COLUMN answer TYPE text USING answer::text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE usage_reports ALTER COLUMN answer TYPE jsonb USING answer::jsonb');
  await knex.raw('ALTER TABLE instance_usage RESET (fillfactor)');
  await knex.raw('DROP INDEX instance_usage_pool_idx');
  await knex.raw(
    'CREATE INDEX instance_usage_virtual_account_id_sku_state_reported_at_index ON instance_usage (virtual_account_id, sku, state, reported_at)',
  );
}
