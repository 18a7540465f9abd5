import type { Knex } from 'knex';

/**
 * What takes time in license use (R19, R20, R22, R25): the license clock sweeps Postgres by
 * indexed timestamps, so each of its questions reads only what is due.
 *
 * - license_alerts.emailed_at: an alert is emailed once; the sweep reads the unmailed ones only.
 * - license_alerts (kind, subject): "was this instance or term already alerted" is one probe.
 * - license_allocations.ends_on: term ends coming up (the seven "licenses expiring" alerts).
 * - license_pools.next_expiry_on: pools whose licenses end today leave the pool.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('license_alerts', (t) => {
    t.timestamp('emailed_at', { useTz: true });
  });
  await knex.raw('CREATE INDEX license_alerts_unmailed_idx ON license_alerts (id) WHERE emailed_at IS NULL');
  await knex.raw('CREATE INDEX license_alerts_kind_subject_idx ON license_alerts (kind, subject)');
  await knex.raw('CREATE INDEX license_allocations_ends_on_idx ON license_allocations (ends_on) WHERE ends_on IS NOT NULL');
  await knex.raw('CREATE INDEX license_pools_next_expiry_idx ON license_pools (next_expiry_on) WHERE next_expiry_on IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX license_pools_next_expiry_idx');
  await knex.raw('DROP INDEX license_allocations_ends_on_idx');
  await knex.raw('DROP INDEX license_alerts_kind_subject_idx');
  await knex.raw('DROP INDEX license_alerts_unmailed_idx');
  await knex.schema.alterTable('license_alerts', (t) => {
    t.dropColumn('emailed_at');
  });
}
