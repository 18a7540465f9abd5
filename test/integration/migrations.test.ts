/**
 * The core schema migration (migrations/20261129_001_core_schema.ts) on a database of its own:
 * it goes up, all the way down and up again; and the constraints that make a double side effect
 * impossible (a second deposit, a second email, a second order...) really reject the duplicate.
 */
import { randomBytes } from 'node:crypto';
import { createDb, dropDatabase, ensureDatabase, withDatabase, type Db } from '../../src/db/knex';
import { migrateLatest, rollbackAll } from '../../src/db/migrate';
import { SCHEMA_TABLES as SCHEMA_TABLE_NAMES } from '../helpers/schema';

const SCHEMA_TABLES = [...SCHEMA_TABLE_NAMES].sort();

const MIGRATIONS = [
  '20261129_001_core_schema',
  '20261129_002_api_access',
  '20261130_003_outbox_withdrawn',
  '20261206_004_people_and_license_use',
  '20261206_010_device_request_signatures',
  '20261206_020_license_clock',
  '20261206_030_access_token_details',
  '20261206_040_order_status_projection',
  '20261206_060_outbox_failed',
  '20261206_070_usage_report_retention',
  '20261206_080_order_transfer_batches',
  '20261206_100_instances_by_contact',
  '20261207_130_email_resends',
  '20261208_210_instances_page_plan',
  '20261208_220_report_writes_in_place',
  '20261208_250_entitlements_by_sku',
  '20261209_100_pool_counters_bigint',
  '20261209_300_registration_token_slots',
  '20261210_100_report_signature_kept',
];

const KNEX_TABLES = ['knex_migrations', 'knex_migrations_lock'];

const UNIQUE_VIOLATION = '23505';
const CHECK_VIOLATION = '23514';

let databaseUrl: string;
let db: Db;

beforeAll(async () => {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL is not set: run this file through the integration project (global setup)');
  databaseUrl = withDatabase(base, `license_fulfillment_migrations_${process.pid}`);
  await dropDatabase(databaseUrl); // a leftover from an interrupted run
  await ensureDatabase(databaseUrl);
  db = createDb(databaseUrl, 2);
});

afterAll(async () => {
  await db?.destroy();
  if (databaseUrl) await dropDatabase(databaseUrl);
});

async function publicTables(): Promise<string[]> {
  const rows: Array<{ table_name: string }> = await db('information_schema.tables')
    .where({ table_schema: 'public', table_type: 'BASE TABLE' })
    .select('table_name');
  return rows.map((r) => r.table_name).sort();
}

/** Every relation (table, index, sequence, view...) in the public schema. */
async function publicRelations(): Promise<string[]> {
  const result = await db.raw(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1`,
  );
  return result.rows.map((r: { relname: string }) => r.relname);
}

/** Expects the statement to fail with the given Postgres error code (and constraint, when named). */
async function expectPgError(statement: Promise<unknown>, code: string, constraint?: string): Promise<void> {
  let caught: unknown;
  try {
    await statement;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeDefined();
  const pgError = caught as { code?: string; constraint?: string; message?: string };
  const seen = { code: pgError.code, ...(constraint !== undefined ? { constraint: pgError.constraint } : {}) };
  expect(seen).toEqual({ code, ...(constraint !== undefined ? { constraint } : {}) });
}

describe('schema migrations', () => {
  test('migrates up: every table of the schema exists', async () => {
    expect(await migrateLatest(db)).toEqual(MIGRATIONS);
    expect(await publicTables()).toEqual([...SCHEMA_TABLES, ...KNEX_TABLES].sort());
  });

  test('migrating up again does nothing', async () => {
    expect(await migrateLatest(db)).toEqual([]);
    expect(await publicTables()).toEqual([...SCHEMA_TABLES, ...KNEX_TABLES].sort());
  });

  test('rolls back all: only knex bookkeeping is left', async () => {
    expect(await rollbackAll(db)).toEqual([...MIGRATIONS].reverse());
    expect(await publicTables()).toEqual(KNEX_TABLES);
    // No orphaned index or sequence either (e.g. users_email_unique, role_grants_unique).
    for (const relation of await publicRelations()) expect(relation).toMatch(/^knex_migrations/);
    const applied = await db('knex_migrations').count<{ count: string }[]>('* as count');
    expect(Number(applied[0].count)).toBe(0);
  });

  test('migrates up again after a full rollback', async () => {
    expect(await migrateLatest(db)).toEqual(MIGRATIONS);
    expect(await publicTables()).toEqual([...SCHEMA_TABLES, ...KNEX_TABLES].sort());
    // And the schema is usable.
    await db('partners').insert({ id: 'p-after-remigrate', name: 'P', kind: 'partner', notification_email: 'p@p.test' });
    expect(await db('partners').where({ id: 'p-after-remigrate' }).pluck('id')).toEqual(['p-after-remigrate']);
  });

  test('pool counters, chart points and overage peaks are bigint (sums of use pass 2^31); per-row counts stay integer', async () => {
    const types = async () =>
      Object.fromEntries(
        (
          await db('information_schema.columns')
            .where({ table_schema: 'public' })
            .whereIn('table_name', ['license_pools', 'pool_daily_use', 'overage_peaks', 'instance_usage'])
            .whereIn('column_name', ['purchased', 'authorized', 'overage', 'unserved', 'in_use', 'peak', 'count'])
            .select('table_name', 'column_name', 'data_type')
        ).map((c: { table_name: string; column_name: string; data_type: string }) => [`${c.table_name}.${c.column_name}`, c.data_type]),
      );
    expect(await types()).toEqual({
      'license_pools.purchased': 'bigint',
      'license_pools.authorized': 'bigint',
      'license_pools.overage': 'bigint',
      'license_pools.unserved': 'bigint',
      'pool_daily_use.purchased': 'bigint',
      'pool_daily_use.in_use': 'bigint',
      'overage_peaks.peak': 'bigint',
      'instance_usage.count': 'integer',
    });
  });
});

describe('constraints that make double side effects impossible', () => {
  const s = randomBytes(4).toString('hex');
  const partnerId = `partner-${s}`;
  const otherPartnerId = `partner-other-${s}`;
  const smartAccountId = `sa-${s}`;
  const holdingAccountId = `pha-${s}`;
  const orderId = `order-${s}`;
  let virtualAccountId: number;
  let lineIds: number[];

  beforeAll(async () => {
    await migrateLatest(db); // no-op when the migration tests above ran
    await db('partners').insert([
      { id: partnerId, name: 'Partner', kind: 'partner', notification_email: `orders@${partnerId}.test` },
      { id: otherPartnerId, name: 'Other', kind: 'distributor', notification_email: `orders@${otherPartnerId}.test` },
    ]);
    await db('accounts').insert([
      { id: smartAccountId, kind: 'smart_account', name: 'Acme', domain: `acme-${s}.test`, status: 'active' },
      { id: holdingAccountId, kind: 'holding_account', name: 'Holding', status: 'active', owner_partner_id: partnerId },
    ]);
    const [va] = await db('virtual_accounts').insert({ account_id: smartAccountId, name: 'Finance', path: 'Finance' }).returning('id');
    virtualAccountId = Number(va.id);
    await db('orders').insert(order(orderId, `PO-${s}`, partnerId));
    const lines = await db('order_lines')
      .insert([orderLine(orderId, 1), orderLine(orderId, 2)])
      .returning('id');
    lineIds = lines.map((l: { id: string | number }) => Number(l.id));
  });

  function order(id: string, externalReference: string, bookedBy: string) {
    return {
      id,
      external_reference: externalReference,
      booked_by_partner_id: bookedBy,
      partner_id: bookedBy,
      workflow_id: `order-wf-${id}`,
      assignment_kind: 'smart_account',
      account_id: smartAccountId,
      status: 'Booked',
    };
  }

  function orderLine(forOrder: string, lineNumber: number, overrides: Record<string, unknown> = {}) {
    return {
      order_id: forOrder,
      line_number: lineNumber,
      sku: 'C9300-DNA-E-24-3Y',
      quantity: 5,
      license_type: 'smart',
      term_months: 36,
      sa_mandatory: true,
      state: 'booked',
      ...overrides,
    };
  }

  function entitlement(orderLineId: number) {
    return { order_line_id: orderLineId, account_id: smartAccountId, sku: 'C9300-DNA-E-24-3Y', quantity: 5, status: 'deposited' };
  }

  function outboxRow(idempotencyKey: string, messageId: string) {
    return {
      idempotency_key: idempotencyKey,
      order_id: orderId,
      template: 'deposit-confirmation',
      to_address: `admin@acme-${s}.test`,
      subject: 'Order deposited',
      text_body: 'text',
      html_body: '<p>html</p>',
      message_id: messageId,
    };
  }

  test('a second entitlement for the same order line is a unique violation', async () => {
    await db('entitlements').insert(entitlement(lineIds[0]));
    await expectPgError(db('entitlements').insert(entitlement(lineIds[0])), UNIQUE_VIOLATION, 'entitlements_order_line_id_unique');
    // Even into another account: one line, one entitlement.
    await expectPgError(
      db('entitlements').insert({ ...entitlement(lineIds[0]), account_id: holdingAccountId, status: 'held' }),
      UNIQUE_VIOLATION,
      'entitlements_order_line_id_unique',
    );
    // Another line is fine, and the first line still has exactly one.
    await db('entitlements').insert(entitlement(lineIds[1]));
    expect(Number((await db('entitlements').where({ order_line_id: lineIds[0] }).count<{ count: string }[]>('* as count'))[0].count)).toBe(
      1,
    );
  });

  test('a second email_outbox row with the same idempotency_key is a unique violation', async () => {
    const key = `order-wf-${orderId}:deposit-confirmation:customer`;
    await db('email_outbox').insert(outboxRow(key, `<a-${s}@license-fulfillment.localhost>`));
    await expectPgError(
      db('email_outbox').insert(outboxRow(key, `<b-${s}@license-fulfillment.localhost>`)),
      UNIQUE_VIOLATION,
      'email_outbox_idempotency_key_unique',
    );
    // The Message-ID is unique too.
    await expectPgError(
      db('email_outbox').insert(outboxRow(`${key}:other`, `<a-${s}@license-fulfillment.localhost>`)),
      UNIQUE_VIOLATION,
      'email_outbox_message_id_unique',
    );
    expect(await db('email_outbox').where({ idempotency_key: key }).pluck('message_id')).toEqual([
      `<a-${s}@license-fulfillment.localhost>`,
    ]);
  });

  test('a second order with the same (booked_by_partner_id, external_reference) is a unique violation', async () => {
    await expectPgError(
      db('orders').insert(order(`order-dup-${s}`, `PO-${s}`, partnerId)),
      UNIQUE_VIOLATION,
      'orders_booked_by_partner_id_external_reference_unique',
    );
    // The same reference from another partner is another order.
    await db('orders').insert(order(`order-other-${s}`, `PO-${s}`, otherPartnerId));
    // A second order line with the same number is rejected as well.
    await expectPgError(db('order_lines').insert(orderLine(orderId, 1)), UNIQUE_VIOLATION, 'order_lines_order_id_line_number_unique');
  });

  describe('role_grants', () => {
    const grant = (overrides: Record<string, unknown>) => ({
      account_id: smartAccountId,
      partner_id: partnerId,
      virtual_account_id: null,
      role: 'sa_admin',
      ...overrides,
    });

    test('the same active grant on a virtual account twice is a unique violation', async () => {
      await db('role_grants').insert(grant({ role: 'va_user', virtual_account_id: virtualAccountId }));
      await expectPgError(
        db('role_grants').insert(grant({ role: 'va_user', virtual_account_id: virtualAccountId })),
        UNIQUE_VIOLATION,
        'role_grants_unique',
      );
      // Another role on the same virtual account is a different grant.
      await db('role_grants').insert(grant({ role: 'va_admin', virtual_account_id: virtualAccountId }));
    });

    test('the same active account-wide grant (NULL virtual_account_id) twice is a unique violation (NULLS NOT DISTINCT)', async () => {
      await db('role_grants').insert(grant({ role: 'sa_admin' }));
      await expectPgError(db('role_grants').insert(grant({ role: 'sa_admin' })), UNIQUE_VIOLATION, 'role_grants_unique');
      await db('role_grants').insert(grant({ role: 'sa_user' }));
      await expectPgError(db('role_grants').insert(grant({ role: 'sa_user' })), UNIQUE_VIOLATION, 'role_grants_unique');
    });

    test('a revoked grant can be granted again, once', async () => {
      await db('role_grants').insert(grant({ partner_id: otherPartnerId, role: 'sa_user' }));
      await db('role_grants')
        .where({ account_id: smartAccountId, partner_id: otherPartnerId, role: 'sa_user' })
        .whereNull('revoked_at')
        .update({ revoked_at: db.fn.now() });
      await db('role_grants').insert(grant({ partner_id: otherPartnerId, role: 'sa_user' }));
      await expectPgError(
        db('role_grants').insert(grant({ partner_id: otherPartnerId, role: 'sa_user' })),
        UNIQUE_VIOLATION,
        'role_grants_unique',
      );
    });

    test('scope check: virtual-account roles need a virtual account, account roles must not have one', async () => {
      for (const role of ['va_user', 'va_admin']) {
        await expectPgError(
          db('role_grants').insert(grant({ partner_id: otherPartnerId, role, virtual_account_id: null })),
          CHECK_VIOLATION,
          'role_grants_scope_check',
        );
      }
      for (const role of ['sa_user', 'sa_admin']) {
        await expectPgError(
          db('role_grants').insert(grant({ partner_id: otherPartnerId, role, virtual_account_id: virtualAccountId })),
          CHECK_VIOLATION,
          'role_grants_scope_check',
        );
      }
      await expectPgError(
        db('role_grants').insert(grant({ partner_id: otherPartnerId, role: 'owner' })),
        CHECK_VIOLATION,
        'role_grants_role_check',
      );
    });
  });

  describe('accounts kind check', () => {
    test('a Smart Account needs a domain', async () => {
      await expectPgError(
        db('accounts').insert({ id: `sa-nodomain-${s}`, kind: 'smart_account', name: 'No domain', status: 'active' }),
        CHECK_VIOLATION,
        'accounts_kind_fields_check',
      );
    });

    test('a Smart Account domain must be lower case', async () => {
      await expectPgError(
        db('accounts').insert({ id: `sa-upper-${s}`, kind: 'smart_account', name: 'Upper', domain: `Acme-${s}.TEST`, status: 'active' }),
        CHECK_VIOLATION,
        'accounts_kind_fields_check',
      );
      await db('accounts').insert({
        id: `sa-lower-${s}`,
        kind: 'smart_account',
        name: 'Lower',
        domain: `lower-${s}.test`,
        status: 'active',
      });
    });

    test('a holding account needs an owner partner', async () => {
      await expectPgError(
        db('accounts').insert({ id: `pha-noowner-${s}`, kind: 'holding_account', name: 'No owner', status: 'active' }),
        CHECK_VIOLATION,
        'accounts_kind_fields_check',
      );
    });

    test('unknown kinds and statuses are rejected', async () => {
      await expectPgError(
        db('accounts').insert({ id: `x-${s}`, kind: 'customer', name: 'X', domain: `x-${s}.test`, status: 'active' }),
        CHECK_VIOLATION,
        'accounts_kind_check',
      );
      await expectPgError(
        db('accounts').insert({ id: `y-${s}`, kind: 'smart_account', name: 'Y', domain: `y-${s}.test`, status: 'open' }),
        CHECK_VIOLATION,
        'accounts_status_check',
      );
    });
  });

  test('an order line with quantity 0 (or less) is rejected', async () => {
    await expectPgError(db('order_lines').insert(orderLine(orderId, 10, { quantity: 0 })), CHECK_VIOLATION, 'order_lines_quantity_check');
    await expectPgError(db('order_lines').insert(orderLine(orderId, 11, { quantity: -1 })), CHECK_VIOLATION, 'order_lines_quantity_check');
    await expectPgError(db('order_lines').insert(orderLine(orderId, 12, { term_months: 0 })), CHECK_VIOLATION, 'order_lines_term_check');
    await db('order_lines').insert(orderLine(orderId, 13, { quantity: 1, term_months: null }));
  });

  test('a subscription must end after it starts', async () => {
    const subscription = (orderLineId: number, startsOn: string, endsOn: string) => ({
      order_line_id: orderLineId,
      term_months: 36,
      starts_on: startsOn,
      ends_on: endsOn,
    });
    await expectPgError(
      db('subscriptions').insert(subscription(lineIds[0], '2026-12-01', '2026-12-01')),
      CHECK_VIOLATION,
      'subscriptions_dates_check',
    );
    await expectPgError(
      db('subscriptions').insert(subscription(lineIds[0], '2026-12-01', '2026-11-30')),
      CHECK_VIOLATION,
      'subscriptions_dates_check',
    );
    await db('subscriptions').insert(subscription(lineIds[0], '2026-12-01', '2029-12-01'));
    // And, like the entitlement, one subscription per line.
    await expectPgError(
      db('subscriptions').insert(subscription(lineIds[0], '2026-12-01', '2029-12-01')),
      UNIQUE_VIOLATION,
      'subscriptions_order_line_id_unique',
    );
  });
});
