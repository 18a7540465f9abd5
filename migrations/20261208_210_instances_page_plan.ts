import type { Knex } from 'knex';

/**
 * With a second account in product_instances, Postgres walked the global last-contact index for
 * the instances page (src/licensing/views-licenses.ts) and dropped the other account's rows by
 * filter (10,000 per page). The index now holds only the instances the liveness sweep watches,
 * a predicate the page never implies, so the page walks its account's index: no index is added.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX product_instances_last_contact_at_index');
  await knex.raw(
    `CREATE INDEX product_instances_watched_contact_idx ON product_instances (last_contact_at) WHERE state IN ('active', 'authorization_expired')`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX product_instances_watched_contact_idx');
  await knex.raw('CREATE INDEX product_instances_last_contact_at_index ON product_instances (last_contact_at)');
}
