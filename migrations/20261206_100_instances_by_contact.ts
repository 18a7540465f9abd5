import type { Knex } from 'knex';

/**
 * The instances view (R23, src/licensing/views-licenses.ts) lists an account's product instances
 * most recently heard from first, a page at a time. Without this index Postgres read and sorted
 * every instance of the account for each page (10,000 in one VA: the whole VA per request); with
 * it, it walks the account's instances in that order and stops at the page's end.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX product_instances_account_contact_idx ON product_instances (account_id, last_contact_at DESC, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX product_instances_account_contact_idx');
}
