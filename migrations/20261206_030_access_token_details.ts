import type { Knex } from 'knex';

/**
 * What a single-use link carries besides its purpose (R24): a verify-email link holds the user ID
 * and name the person asked for, applied only when the link is opened, so an unverified request
 * never takes a registered user ID from anyone.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('access_tokens', (t) => {
    t.jsonb('details').notNullable().defaultTo('{}');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('access_tokens', (t) => {
    t.dropColumn('details');
  });
}
