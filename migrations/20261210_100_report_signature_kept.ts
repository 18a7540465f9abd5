import type { Knex } from 'knex';

/**
 * A usage report's request signature is kept with its stored answer (issue 15): the same signed
 * request again is a replay, found by the (instance, report ID) key the report is looked up by
 * anyway, so a report no longer writes a device_request_signatures row and its index entries
 * (nor does the sweep delete them later). No index: it is only compared once the row is found.
 * Nullable and without a default, the column is added in the catalog alone (no table rewrite,
 * a brief ACCESS EXCLUSIVE lock) whatever the table's size; rows kept before it hold null.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE usage_reports ADD COLUMN signature_hash bytea');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE usage_reports DROP COLUMN signature_hash');
}
