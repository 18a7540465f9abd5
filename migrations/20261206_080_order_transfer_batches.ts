import type { Knex } from 'knex';

/**
 * Batch transfers (POST /v1/order-transfers): one partner request that assigns many held orders
 * to one customer Smart Account. The batch row is keyed by the partner and the client's request
 * key, so a repeated request finds its batch; each order's outcome is a row of its own, written
 * by the batch workflow as its Update answers, and read by GET /v1/order-transfers/:id.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('order_transfer_batches', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id');
    t.text('request_key').notNullable();
    // What the request asked for, so a repeat with another body is told apart (409).
    t.text('fingerprint').notNullable();
    t.text('account_id').notNullable().references('accounts.id');
    t.text('virtual_account_path').nullable();
    t.text('workflow_id').notNullable();
    t.text('status').notNullable().defaultTo('running').checkIn(['running', 'completed'], 'order_transfer_batches_status_check');
    t.integer('total').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true }).nullable();
    t.unique(['partner_id', 'request_key']);
  });
  await knex.schema.createTable('order_transfer_items', (t) => {
    t.text('batch_id').notNullable().references('order_transfer_batches.id').onDelete('CASCADE');
    // The order's place in the request: the batch works through them in this order (its cursor).
    t.integer('position').notNullable();
    t.text('order_id').notNullable();
    t.text('state').notNullable().defaultTo('pending').checkIn(['pending', 'succeeded', 'refused'], 'order_transfer_items_state_check');
    t.text('reason').nullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['batch_id', 'position']);
    t.unique(['batch_id', 'order_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('order_transfer_items');
  await knex.schema.dropTable('order_transfer_batches');
}
