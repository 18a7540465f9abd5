import type { Knex } from 'knex';

/**
 * Part two: the people who sign in, and what the fulfilled licenses are used for.
 *
 * People (R24, issue 14): a user verifies their email and so owns a registered user ID; roles on
 * a Smart Account or one of its virtual accounts are granted to a partner or to a user (VA viewer
 * is read only); users sign in with a single-use emailed link that opens a session, and scripts
 * use API keys bound to one user.
 *
 * License use (R15-R25): licenses activated in a virtual account are allocated to its pool; a
 * product instance registers with a token of that VA and reports what it uses; the pool row of
 * (VA, SKU) carries the counters the hot path updates under a row lock, so concurrent reports
 * never grant more than the pool holds.
 */
export async function up(knex: Knex): Promise<void> {
  await upPeople(knex);
  await upLicenseUse(knex);
  await upAlertsAndEvents(knex);
}

async function upPeople(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('email_verified_at', { useTz: true });
  });
  await knex.raw('CREATE UNIQUE INDEX users_registered_id_unique ON users (lower(registered_id)) WHERE registered_id IS NOT NULL');

  // A role is granted to a partner (R11) or to one of the customer's users (R24).
  await knex.raw('ALTER TABLE role_grants ALTER COLUMN partner_id DROP NOT NULL');
  await knex.schema.alterTable('role_grants', (t) => {
    t.bigInteger('user_id').references('users.id');
    t.text('granted_by');
  });
  await knex.raw(`ALTER TABLE role_grants ADD CONSTRAINT role_grants_grantee_check CHECK ((partner_id IS NULL) <> (user_id IS NULL))`);
  await knex.raw('ALTER TABLE role_grants DROP CONSTRAINT role_grants_role_check');
  await knex.raw(`ALTER TABLE role_grants ADD CONSTRAINT role_grants_role_check
    CHECK (role IN ('sa_admin', 'sa_user', 'va_admin', 'va_user', 'va_viewer'))`);
  await knex.raw('ALTER TABLE role_grants DROP CONSTRAINT role_grants_scope_check');
  await knex.raw(`ALTER TABLE role_grants ADD CONSTRAINT role_grants_scope_check CHECK (
    (role IN ('sa_admin', 'sa_user') AND virtual_account_id IS NULL)
    OR (role IN ('va_admin', 'va_user', 'va_viewer') AND virtual_account_id IS NOT NULL))`);
  await knex.raw('DROP INDEX role_grants_unique');
  await knex.raw(`CREATE UNIQUE INDEX role_grants_unique ON role_grants
    (account_id, virtual_account_id, partner_id, user_id, role) NULLS NOT DISTINCT WHERE revoked_at IS NULL`);
  await knex.raw('CREATE INDEX role_grants_user_idx ON role_grants (user_id) WHERE revoked_at IS NULL AND user_id IS NOT NULL');

  // Keys for scripts acting as one user, with exactly that user's roles.
  await knex.schema.alterTable('api_keys', (t) => {
    t.bigInteger('user_id').references('users.id');
  });
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check');
  await knex.raw(`ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('partner', 'distributor', 'operator', 'user'))`);
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_partner_check');
  await knex.raw(`ALTER TABLE api_keys ADD CONSTRAINT api_keys_partner_check CHECK (
    (role = 'operator' AND partner_id IS NULL AND user_id IS NULL)
    OR (role = 'user' AND partner_id IS NULL AND user_id IS NOT NULL)
    OR (role IN ('partner', 'distributor') AND partner_id IS NOT NULL AND user_id IS NULL))`);

  // Single-use links: sign-in and email verification join delegation and activation.
  await knex.raw('ALTER TABLE access_tokens DROP CONSTRAINT access_tokens_purpose_check');
  await knex.raw(`ALTER TABLE access_tokens ADD CONSTRAINT access_tokens_purpose_check
    CHECK (purpose IN ('delegation', 'activation', 'sign_in', 'verify_email'))`);

  // A signed-in browser: only the SHA-256 of the session cookie is stored.
  await knex.schema.createTable('web_sessions', (t) => {
    t.bigIncrements('id');
    t.specificType('session_hash', 'bytea').notNullable().unique();
    t.bigInteger('user_id').notNullable().references('users.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true });
  });
}

async function upLicenseUse(knex: Knex): Promise<void> {
  // The part of an activated smart entitlement that sits in one virtual account. A move splits it
  // across VAs; the term end is copied from the line's subscription (fixed at shipment, R7).
  await knex.schema.createTable('license_allocations', (t) => {
    t.bigIncrements('id');
    t.bigInteger('entitlement_id').notNullable().references('entitlements.id');
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').notNullable().references('virtual_accounts.id');
    t.text('sku').notNullable();
    t.integer('quantity').notNullable();
    t.date('ends_on');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['entitlement_id', 'virtual_account_id']);
    t.index(['virtual_account_id', 'sku']);
  });
  await knex.raw('ALTER TABLE license_allocations ADD CONSTRAINT license_allocations_quantity_check CHECK (quantity >= 0)');

  // One row per (VA, SKU): the counters the report path reads and writes under its row lock.
  // purchased: unexpired allocations; authorized/overage/unserved: what instances use, by state.
  await knex.schema.createTable('license_pools', (t) => {
    t.bigInteger('virtual_account_id').notNullable().references('virtual_accounts.id');
    t.text('sku').notNullable();
    t.text('account_id').notNullable().references('accounts.id');
    t.integer('purchased').notNullable().defaultTo(0);
    t.integer('authorized').notNullable().defaultTo(0);
    t.integer('overage').notNullable().defaultTo(0);
    t.integer('unserved').notNullable().defaultTo(0);
    t.date('next_expiry_on');
    t.timestamp('insufficient_since', { useTz: true });
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['virtual_account_id', 'sku']);
    t.index(['account_id']);
  });
  await knex.raw(`ALTER TABLE license_pools ADD CONSTRAINT license_pools_counts_check
    CHECK (purchased >= 0 AND authorized >= 0 AND overage >= 0 AND unserved >= 0 AND authorized <= purchased)`);

  // Per Smart Account (R20): how far use may go beyond the purchase, and when it is reconciled.
  // allowance_factor NULL with kind 'unlimited'; 1.0 with kind 'none'.
  await knex.schema.createTable('overage_agreements', (t) => {
    t.text('account_id').primary().references('accounts.id');
    t.text('kind').notNullable().checkIn(['none', 'factor', 'unlimited'], 'overage_agreements_kind_check');
    t.decimal('allowance_factor', 4, 2);
    t.text('cadence').notNullable().checkIn(['monthly', 'quarterly', 'yearly'], 'overage_agreements_cadence_check');
    t.date('first_period_starts_on').notNullable();
    t.text('partner_id').references('partners.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE overage_agreements ADD CONSTRAINT overage_agreements_factor_check CHECK (
    (kind = 'none' AND allowance_factor = 1) OR (kind = 'factor' AND allowance_factor > 1 AND allowance_factor <= 10)
    OR (kind = 'unlimited' AND allowance_factor IS NULL))`);

  // The highest overage of each (VA, SKU) in each reconciliation period.
  await knex.schema.createTable('overage_peaks', (t) => {
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').notNullable().references('virtual_accounts.id');
    t.text('sku').notNullable();
    t.text('period').notNullable();
    t.integer('peak').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['virtual_account_id', 'sku', 'period']);
    t.index(['account_id', 'period']);
  });

  // Each period of each account is reconciled once: the unique key is the exactly-once guard.
  await knex.schema.createTable('true_ups', (t) => {
    t.bigIncrements('id');
    t.text('account_id').notNullable().references('accounts.id');
    t.text('period').notNullable();
    t.text('status').notNullable().checkIn(['reported', 'booked', 'approved', 'nothing_to_reconcile'], 'true_ups_status_check');
    t.text('order_id').references('orders.id');
    t.jsonb('report').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['account_id', 'period']);
  });

  // R15: shown once, stored hashed; registering spends one use.
  await knex.schema.createTable('registration_tokens', (t) => {
    t.bigIncrements('id');
    t.specificType('token_hash', 'bytea').notNullable().unique();
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').notNullable().references('virtual_accounts.id');
    t.text('description').notNullable().defaultTo('');
    t.boolean('export_controlled').notNullable().defaultTo(false);
    t.integer('max_uses').notNullable();
    t.integer('uses').notNullable().defaultTo(0);
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
    t.index(['virtual_account_id']);
  });
  await knex.raw(
    'ALTER TABLE registration_tokens ADD CONSTRAINT registration_tokens_uses_check CHECK (max_uses > 0 AND uses >= 0 AND uses <= max_uses)',
  );

  // R16: a device or software install, identified by its UDI (product ID + serial number).
  await knex.schema.createTable('product_instances', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').notNullable().references('virtual_accounts.id');
    t.text('product_id').notNullable();
    t.text('serial_number').notNullable();
    t.text('hostname').notNullable();
    t.text('public_key').notNullable();
    t.bigInteger('registration_token_id').references('registration_tokens.id');
    t.text('state').notNullable().checkIn(['active', 'authorization_expired', 'removed'], 'product_instances_state_check');
    t.text('credential_serial').notNullable();
    t.timestamp('credential_expires_at', { useTz: true }).notNullable();
    t.timestamp('registered_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_contact_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('removed_at', { useTz: true });
    t.index(['virtual_account_id', 'state']);
    t.index(['last_contact_at']);
  });
  await knex.raw(
    `CREATE UNIQUE INDEX product_instances_udi_unique ON product_instances (product_id, serial_number) WHERE state <> 'removed'`,
  );

  // What each instance uses of each SKU, and the state it was last told (R17, R18).
  await knex.schema.createTable('instance_usage', (t) => {
    t.text('instance_id').notNullable().references('product_instances.id');
    t.text('sku').notNullable();
    t.bigInteger('virtual_account_id').notNullable().references('virtual_accounts.id');
    t.integer('count').notNullable();
    t.text('state')
      .notNullable()
      .checkIn(['Authorized', 'Overage', 'OutOfCompliance', 'AuthorizationExpired'], 'instance_usage_state_check');
    t.timestamp('reported_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['instance_id', 'sku']);
    t.index(['virtual_account_id', 'sku', 'state', 'reported_at']);
  });
  await knex.raw('ALTER TABLE instance_usage ADD CONSTRAINT instance_usage_count_check CHECK (count >= 0)');

  // A report is answered once per report ID; a retry gets the same signed answer back.
  await knex.schema.createTable('usage_reports', (t) => {
    t.text('instance_id').notNullable().references('product_instances.id');
    t.text('report_id').notNullable();
    t.jsonb('answer').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['instance_id', 'report_id']);
  });

  // The chart of use against purchase: one row per (VA, SKU, day), the day's highest figures.
  await knex.schema.createTable('pool_daily_use', (t) => {
    t.bigInteger('virtual_account_id').notNullable().references('virtual_accounts.id');
    t.text('sku').notNullable();
    t.date('day').notNullable();
    t.integer('purchased').notNullable();
    t.integer('in_use').notNullable();
    t.primary(['virtual_account_id', 'sku', 'day']);
  });
}

async function upAlertsAndEvents(knex: Knex): Promise<void> {
  // R25: at most one alert per kind and subject per day; the unique key deduplicates.
  await knex.schema.createTable('license_alerts', (t) => {
    t.bigIncrements('id');
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').references('virtual_accounts.id');
    t.text('kind')
      .notNullable()
      .checkIn(
        [
          'insufficient_licenses',
          'licenses_expiring',
          'licenses_expired',
          'failed_to_connect',
          'authorization_expired',
          'instance_removed',
          'overage_report',
        ],
        'license_alerts_kind_check',
      );
    t.text('subject').notNullable();
    t.date('day').notNullable();
    t.text('message').notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['kind', 'subject', 'day']);
    t.index(['account_id', 'created_at']);
  });

  // Who asked to be emailed alerts of an account (R25).
  await knex.schema.createTable('alert_subscriptions', (t) => {
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('user_id').notNullable().references('users.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['account_id', 'user_id']);
  });

  // R23: every change to what an account holds or runs, in order (CSV export reads it).
  await knex.schema.createTable('license_events', (t) => {
    t.bigIncrements('id');
    t.text('account_id').notNullable().references('accounts.id');
    t.bigInteger('virtual_account_id').references('virtual_accounts.id');
    t.text('type').notNullable();
    t.text('subject').notNullable();
    t.text('actor').notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.text('idempotency_key').unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'license_events',
    'alert_subscriptions',
    'license_alerts',
    'pool_daily_use',
    'usage_reports',
    'instance_usage',
    'product_instances',
    'registration_tokens',
    'true_ups',
    'overage_peaks',
    'overage_agreements',
    'license_pools',
    'license_allocations',
    'web_sessions',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.raw(`UPDATE access_tokens SET used_at = COALESCE(used_at, now()) WHERE purpose IN ('sign_in', 'verify_email')`);
  await knex('access_tokens').whereIn('purpose', ['sign_in', 'verify_email']).delete();
  await knex.raw('ALTER TABLE access_tokens DROP CONSTRAINT access_tokens_purpose_check');
  await knex.raw(`ALTER TABLE access_tokens ADD CONSTRAINT access_tokens_purpose_check CHECK (purpose IN ('delegation', 'activation'))`);
  await knex('api_keys').where({ role: 'user' }).delete();
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_partner_check');
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check');
  await knex.schema.alterTable('api_keys', (t) => t.dropColumn('user_id'));
  await knex.raw(`ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('partner', 'distributor', 'operator'))`);
  await knex.raw(`ALTER TABLE api_keys ADD CONSTRAINT api_keys_partner_check CHECK (
    (role = 'operator' AND partner_id IS NULL) OR (role <> 'operator' AND partner_id IS NOT NULL))`);
  await knex('role_grants').whereNotNull('user_id').orWhere('role', 'va_viewer').delete();
  await knex.raw('DROP INDEX role_grants_user_idx');
  await knex.raw('DROP INDEX role_grants_unique');
  await knex.raw('ALTER TABLE role_grants DROP CONSTRAINT role_grants_grantee_check');
  await knex.raw('ALTER TABLE role_grants DROP CONSTRAINT role_grants_scope_check');
  await knex.raw('ALTER TABLE role_grants DROP CONSTRAINT role_grants_role_check');
  await knex.schema.alterTable('role_grants', (t) => {
    t.dropColumn('user_id');
    t.dropColumn('granted_by');
  });
  await knex.raw('ALTER TABLE role_grants ALTER COLUMN partner_id SET NOT NULL');
  await knex.raw(
    `ALTER TABLE role_grants ADD CONSTRAINT role_grants_role_check CHECK (role IN ('sa_admin', 'sa_user', 'va_admin', 'va_user'))`,
  );
  await knex.raw(`ALTER TABLE role_grants ADD CONSTRAINT role_grants_scope_check CHECK (
    (role IN ('sa_admin', 'sa_user') AND virtual_account_id IS NULL)
    OR (role IN ('va_admin', 'va_user') AND virtual_account_id IS NOT NULL))`);
  await knex.raw(`CREATE UNIQUE INDEX role_grants_unique ON role_grants
    (account_id, virtual_account_id, partner_id, role) NULLS NOT DISTINCT WHERE revoked_at IS NULL`);
  await knex.raw('DROP INDEX users_registered_id_unique');
  await knex.schema.alterTable('users', (t) => t.dropColumn('email_verified_at'));
}
