import type { Knex } from 'knex';

/**
 * The order's full status as its workflow last derived it, kept current by the activities in the
 * transactions that change the facts, so `GET /v1/orders/:id` reads one row and wakes no workflow.
 * status_version only grows: a write with a version at or below the stored one (a late retry of an
 * earlier step) changes nothing. NULL on orders whose runs predate it: the API asks the workflow.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.jsonb('status_document');
    t.integer('status_version');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.dropColumn('status_version');
    t.dropColumn('status_document');
  });
}
