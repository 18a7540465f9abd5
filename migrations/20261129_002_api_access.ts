import type { Knex } from 'knex';

/**
 * API access (issue 4). Every caller of the HTTP API holds a key: a partner, a distributor or an
 * operator. Only the key's SHA-256 is stored; a key is 256 random bits, so a plain hash is
 * enough (there is nothing to brute-force) and lookup stays an index probe.
 *
 * Booking idempotency: an `Idempotency-Key` header is remembered per caller with the fingerprint
 * of the request it came with, so a replay returns the same order and a reused key with a
 * different body is refused rather than silently booking something else.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.bigIncrements('id');
    t.specificType('key_hash', 'bytea').notNullable().unique();
    t.text('role').notNullable().checkIn(['partner', 'distributor', 'operator'], 'api_keys_role_check');
    t.text('partner_id').references('partners.id');
    // A label for operators ("ERP integration", "ops laptop"); never the key itself.
    t.text('label').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE api_keys ADD CONSTRAINT api_keys_partner_check CHECK (
    (role = 'operator' AND partner_id IS NULL) OR (role <> 'operator' AND partner_id IS NOT NULL))`);

  await knex.schema.createTable('api_idempotency_keys', (t) => {
    t.bigInteger('api_key_id').notNullable().references('api_keys.id');
    t.text('idempotency_key').notNullable();
    t.text('request_fingerprint').notNullable();
    t.text('order_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['api_key_id', 'idempotency_key']);
  });

  // The API's order list filters by what the order waits for and pages by booking time.
  await knex.raw('CREATE INDEX orders_waiting_for_idx ON orders (waiting_for, booked_at, id) WHERE waiting_for IS NOT NULL');
  await knex.raw('CREATE INDEX orders_booked_at_idx ON orders (booked_at DESC, id DESC)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS orders_booked_at_idx');
  await knex.raw('DROP INDEX IF EXISTS orders_waiting_for_idx');
  await knex.schema.dropTableIfExists('api_idempotency_keys');
  await knex.schema.dropTableIfExists('api_keys');
}
