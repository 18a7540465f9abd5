import type { Knex } from 'knex';

/**
 * Usage reports are deleted once past USAGE_REPORT_RETENTION (src/licensing/report-retention.ts):
 * the license clock finds them, oldest first, by this index rather than by reading the table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_reports', (t) => {
    t.index(['received_at'], 'usage_reports_received_at_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_reports', (t) => {
    t.dropIndex(['received_at'], 'usage_reports_received_at_index');
  });
}
