import type { Knex } from 'knex';

/**
 * Device requests are signed by the device's private key over method, path, body and timestamp
 * (R16, R17). A signature is accepted once: its hash is kept for the clock-skew window, so a
 * captured request replayed within the window is refused, and an older one is stale anyway.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('device_request_signatures', (t) => {
    t.specificType('signature_hash', 'bytea').primary();
    t.text('instance_id').notNullable();
    t.timestamp('seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['seen_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('device_request_signatures');
}
