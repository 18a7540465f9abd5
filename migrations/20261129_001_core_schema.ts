import type { Knex } from 'knex';

/**
 * The whole licensing domain of PRODUCT.md. Postgres is the system of record for accounts,
 * entitlements, LRP records, subscriptions and the email outbox; the workflow is the record of
 * the process. Unique constraints are what make every side effect idempotent (R12): a retried
 * activity hits ON CONFLICT instead of depositing, subscribing or mailing twice.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('partners', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('kind').notNullable().checkIn(['partner', 'distributor'], 'partners_kind_check');
    // Where "transfer needed", reminders and confirmations go.
    t.text('notification_email').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // Two-tier (R10): a distributor sells through resellers and may act on their holding accounts.
  await knex.schema.createTable('distributor_resellers', (t) => {
    t.text('distributor_id').notNullable().references('partners.id');
    t.text('reseller_id').notNullable().references('partners.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['distributor_id', 'reseller_id']);
  });

  // End-customer contacts and partner staff. registered_id is the user's cisco.com-style ID;
  // R2 refuses to request an account for a contact who has none.
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id');
    t.text('email').notNullable();
    t.text('full_name');
    t.text('registered_id');
    t.text('partner_id').references('partners.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('CREATE UNIQUE INDEX users_email_unique ON users (lower(email))');

  // Smart Accounts (customer, identified by domain) and Partner Holding Accounts (owned by a partner).
  await knex.schema.createTable('accounts', (t) => {
    t.text('id').primary();
    t.text('kind').notNullable().checkIn(['smart_account', 'holding_account'], 'accounts_kind_check');
    t.text('name').notNullable();
    t.text('domain');
    t.text('status').notNullable().checkIn(['requested', 'pending_activation', 'active', 'closed'], 'accounts_status_check');
    t.text('owner_partner_id').references('partners.id');
    t.bigInteger('primary_contact_id').references('users.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('activated_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE accounts ADD CONSTRAINT accounts_kind_fields_check CHECK (
    (kind = 'smart_account' AND domain IS NOT NULL AND domain = lower(domain))
    OR (kind = 'holding_account' AND owner_partner_id IS NOT NULL))`);
  await knex.raw("CREATE INDEX accounts_domain_idx ON accounts (domain) WHERE kind = 'smart_account'");

  // Nested virtual accounts: path is the full "Region-US/Finance/Sacramento" for lookups.
  await knex.schema.createTable('virtual_accounts', (t) => {
    t.bigIncrements('id');
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('parent_id').references('virtual_accounts.id');
    t.text('name').notNullable();
    t.text('path').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['account_id', 'path']);
  });

  // R11: partners act on a customer account only with a role the customer granted.
  await knex.schema.createTable('role_grants', (t) => {
    t.bigIncrements('id');
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').references('virtual_accounts.id');
    t.text('partner_id').notNullable().references('partners.id');
    t.text('role').notNullable().checkIn(['sa_admin', 'sa_user', 'va_admin', 'va_user'], 'role_grants_role_check');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE role_grants ADD CONSTRAINT role_grants_scope_check CHECK (
    (role IN ('sa_admin', 'sa_user') AND virtual_account_id IS NULL)
    OR (role IN ('va_admin', 'va_user') AND virtual_account_id IS NOT NULL))`);
  await knex.raw(`CREATE UNIQUE INDEX role_grants_unique ON role_grants
    (account_id, virtual_account_id, partner_id, role) NULLS NOT DISTINCT WHERE revoked_at IS NULL`);

  // R9: holding-account members who signed up to be told when an order is fulfilled.
  await knex.schema.createTable('holding_account_subscriptions', (t) => {
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('user_id').notNullable().references('users.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['account_id', 'user_id']);
  });

  // R2, S5: a Smart Account requested on the end customer's behalf.
  await knex.schema.createTable('smart_account_requests', (t) => {
    t.bigIncrements('id');
    t.text('domain').notNullable();
    t.bigInteger('contact_id').notNullable().references('users.id');
    t.text('requested_by_partner_id').notNullable().references('partners.id');
    t.text('account_id').references('accounts.id');
    t.text('status').notNullable().checkIn(['pending_activation', 'activated', 'refused'], 'sa_requests_status_check');
    t.text('refusal_reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['domain', 'contact_id']);
  });

  await knex.schema.createTable('orders', (t) => {
    t.text('id').primary();
    t.text('external_reference').notNullable();
    t.text('booked_by_partner_id').notNullable().references('partners.id');
    // The selling partner: the booking partner itself, or in two-tier the distributor's reseller.
    t.text('partner_id').notNullable().references('partners.id');
    t.text('workflow_id').notNullable().unique();
    t.text('assignment_kind')
      .notNullable()
      .checkIn(['smart_account', 'holding_account', 'request_smart_account', 'delegate'], 'orders_assignment_kind_check');
    // The customer's Smart Account (and virtual account) once assigned.
    t.text('account_id').references('accounts.id');
    t.bigInteger('virtual_account_id').references('virtual_accounts.id');
    // The Partner Holding Account the licenses sit or sat in.
    t.text('holding_account_id').references('accounts.id');
    t.text('customer_domain');
    t.bigInteger('end_customer_contact_id').references('users.id');
    // Mirrors of the workflow's derived phase for read-your-writes lists; the workflow owns them.
    t.text('status').notNullable();
    t.text('waiting_for');
    t.timestamp('booked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('fulfilled_at', { useTz: true });
    t.timestamp('cancelled_at', { useTz: true });
    t.unique(['booked_by_partner_id', 'external_reference']);
    t.index(['partner_id', 'status']);
    t.index(['status', 'waiting_for']);
    t.index(['customer_domain']);
    t.index(['holding_account_id']);
  });

  await knex.schema.createTable('order_lines', (t) => {
    t.bigIncrements('id');
    t.text('order_id').notNullable().references('orders.id');
    t.integer('line_number').notNullable();
    t.text('sku').notNullable();
    t.integer('quantity').notNullable();
    t.text('license_type').notNullable().checkIn(['smart', 'classic'], 'order_lines_license_type_check');
    // NULL: perpetual; otherwise the subscription term in months.
    t.integer('term_months');
    t.boolean('sa_mandatory').notNullable();
    t.text('state')
      .notNullable()
      .checkIn(['booked', 'held', 'deposited', 'shipped', 'provisioned', 'cancelled'], 'order_lines_state_check');
    t.date('shipped_on');
    t.unique(['order_id', 'line_number']);
  });
  await knex.raw('ALTER TABLE order_lines ADD CONSTRAINT order_lines_quantity_check CHECK (quantity > 0)');
  await knex.raw('ALTER TABLE order_lines ADD CONSTRAINT order_lines_term_check CHECK (term_months IS NULL OR term_months > 0)');

  // One entitlement per order line: a deposit is an insert that conflicts on a retry, a transfer
  // is an update of where it sits. "held" licenses (R4) can be neither consumed nor activated.
  await knex.schema.createTable('entitlements', (t) => {
    t.bigIncrements('id');
    t.bigInteger('order_line_id').notNullable().unique().references('order_lines.id');
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').references('virtual_accounts.id');
    t.text('sku').notNullable();
    t.integer('quantity').notNullable();
    t.text('status').notNullable().checkIn(['held', 'deposited', 'active', 'withdrawn'], 'entitlements_status_check');
    t.timestamp('deposited_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('activated_at', { useTz: true });
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id', 'status']);
  });

  // Classic licenses are fulfilled in the License Registration Portal.
  await knex.schema.createTable('lrp_records', (t) => {
    t.bigIncrements('id');
    t.bigInteger('order_line_id').notNullable().unique().references('order_lines.id');
    t.text('account_id').notNullable().references('accounts.id');
    t.text('license_key').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // R7: fixed once, at ship time; provisioning later never moves it.
  await knex.schema.createTable('subscriptions', (t) => {
    t.bigIncrements('id');
    t.bigInteger('order_line_id').notNullable().unique().references('order_lines.id');
    t.integer('term_months').notNullable();
    t.date('starts_on').notNullable();
    t.date('ends_on').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_dates_check CHECK (ends_on > starts_on)');

  // R3: single-use, expiring links. Only the SHA-256 of the token is stored.
  await knex.schema.createTable('access_tokens', (t) => {
    t.bigIncrements('id');
    t.specificType('token_hash', 'bytea').notNullable().unique();
    t.text('purpose').notNullable().checkIn(['delegation', 'activation'], 'access_tokens_purpose_check');
    t.text('order_id').references('orders.id');
    t.text('account_id').references('accounts.id');
    t.bigInteger('contact_id').notNullable().references('users.id');
    // The link email that carries it. Each sending attempt mints its own token (the raw token
    // lives only in that attempt's memory); every one stays valid until one of them is used.
    t.text('email_idempotency_key').notNullable().index();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // Every email goes through here, keyed by a deterministic idempotency key: a retried
  // activity finds its row already sent and does not mail twice.
  await knex.schema.createTable('email_outbox', (t) => {
    t.bigIncrements('id');
    t.text('idempotency_key').notNullable().unique();
    t.text('order_id').references('orders.id');
    t.text('template').notNullable();
    t.text('to_address').notNullable();
    t.text('subject').notNullable();
    t.text('text_body').notNullable();
    t.text('html_body').notNullable();
    t.text('message_id').notNullable().unique();
    t.text('status').notNullable().defaultTo('pending').checkIn(['pending', 'sent'], 'email_outbox_status_check');
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('sent_at', { useTz: true });
    t.index(['order_id']);
  });

  // What happened to an order, in order, once per idempotency key.
  await knex.schema.createTable('order_events', (t) => {
    t.bigIncrements('id');
    t.text('order_id').notNullable().references('orders.id');
    t.text('type').notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.text('idempotency_key').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['order_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'order_events',
    'email_outbox',
    'access_tokens',
    'subscriptions',
    'lrp_records',
    'entitlements',
    'order_lines',
    'orders',
    'smart_account_requests',
    'holding_account_subscriptions',
    'role_grants',
    'virtual_accounts',
    'accounts',
    'users',
    'distributor_resellers',
    'partners',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
