/**
 * Rows of license use for the view tests, written with direct SQL until the branches that write
 * them for real (devices and reports; liveness, term ends, alerts) land. One Smart Account with
 * nested virtual accounts: Finance, Region-US, Region-US/Finance, Region-US/Finance/Sacramento.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/db/knex';
import type { RoleName } from '../../src/accounts/roles';
import { createUserApiKey } from '../../src/api/auth';
import { tokenSlotRows } from '../../src/licensing/tokens';
import type { TestWorld } from './fixtures';

export interface ViewUser {
  userId: string;
  registeredId: string;
  email: string;
  fullName: string;
}

/** A user who verified their email and so owns a registered user ID. */
export async function verifiedUser(db: Db, world: TestWorld, name: string): Promise<ViewUser> {
  const registeredId = `${name}-${world.suffix}`;
  const email = `${name}@${world.domain}`;
  const fullName = `${name[0].toUpperCase()}${name.slice(1)} Person`;
  const [row] = await db('users')
    .insert({ email, full_name: fullName, registered_id: registeredId, email_verified_at: db.fn.now() })
    .returning<Array<{ id: string }>>('id');
  return { userId: String(row.id), registeredId, email, fullName };
}

export async function vaId(db: Db, accountId: string, path: string): Promise<string> {
  const row = await db('virtual_accounts').where({ account_id: accountId, path }).first<{ id: string }>('id');
  return String(row.id);
}

export async function grantTo(
  db: Db,
  accountId: string,
  who: { userId: string } | { partnerId: string },
  role: RoleName,
  path?: string,
): Promise<void> {
  await db('role_grants').insert({
    account_id: accountId,
    virtual_account_id: path ? await vaId(db, accountId, path) : null,
    ...('userId' in who ? { user_id: who.userId } : { partner_id: who.partnerId }),
    role,
    granted_by: 'test',
  });
}

export async function userKey(db: Db, user: ViewUser): Promise<string> {
  return (await createUserApiKey(db, user.userId, `test key of ${user.registeredId}`)).key;
}

export interface SeededPool {
  path: string;
  sku: string;
  purchased: number;
  authorized: number;
  overage: number;
  unserved: number;
  nextExpiryOn: string | null;
}

/** The pools the seed writes: what every view of the account must show, number for number. */
export const SEEDED_POOLS: SeededPool[] = [
  { path: 'Finance', sku: 'C9300-DNA-E-3Y', purchased: 10, authorized: 6, overage: 0, unserved: 0, nextExpiryOn: '2029-12-06' },
  { path: 'Region-US/Finance', sku: 'C9300-DNA-E-3Y', purchased: 5, authorized: 5, overage: 0, unserved: 2, nextExpiryOn: null },
  { path: 'Region-US/Finance/Sacramento', sku: 'ISR4K-SEC-PERP', purchased: 3, authorized: 1, overage: 0, unserved: 0, nextExpiryOn: null },
];

/** One instance per pool using exactly the pool's counts, by state. */
async function seedInstances(db: Db, world: TestWorld, pool: SeededPool, vaIdOf: string): Promise<void> {
  const id = `pi-${pool.path.replace(/\W+/g, '-').toLowerCase()}-${world.suffix}`;
  await db('product_instances').insert({
    id,
    account_id: world.smartAccountId,
    virtual_account_id: vaIdOf,
    product_id: 'C9300-48P',
    serial_number: `SN-${randomBytes(4).toString('hex')}`,
    hostname: `switch-${pool.path.split('/').pop()!.toLowerCase()}`,
    public_key: 'test-key',
    state: 'active',
    credential_serial: '1',
    credential_expires_at: new Date(Date.now() + 86_400_000),
  });
  const uses = [
    { state: 'Authorized', count: pool.authorized },
    { state: 'OutOfCompliance', count: pool.unserved },
  ].filter((u) => u.count > 0);
  // instance_usage is keyed by (instance, SKU): a second state needs a second instance.
  for (const [i, use] of uses.entries()) {
    const instanceId = i === 0 ? id : `${id}-${i}`;
    if (i > 0) {
      await db('product_instances').insert({
        ...(await db('product_instances').where({ id }).first()),
        id: instanceId,
        serial_number: `SN-${randomBytes(4).toString('hex')}`,
        hostname: `switch-${i}-${pool.path.split('/').pop()!.toLowerCase()}`,
      });
    }
    await db('instance_usage').insert({
      instance_id: instanceId,
      sku: pool.sku,
      virtual_account_id: vaIdOf,
      count: use.count,
      state: use.state,
    });
  }
}

/** Pools, instances, tokens, alerts, events and chart points of the world's Smart Account. */
export async function seedLicenseUse(db: Db, world: TestWorld): Promise<void> {
  const accountId = world.smartAccountId;
  for (const pool of SEEDED_POOLS) {
    const id = await vaId(db, accountId, pool.path);
    await db('license_pools').insert({
      virtual_account_id: id,
      sku: pool.sku,
      account_id: accountId,
      purchased: pool.purchased,
      authorized: pool.authorized,
      overage: pool.overage,
      unserved: pool.unserved,
      next_expiry_on: pool.nextExpiryOn,
    });
    await seedInstances(db, world, pool, id);
    for (let d = 4; d >= 0; d--) {
      await db.raw(
        'INSERT INTO pool_daily_use (virtual_account_id, sku, day, purchased, in_use) VALUES (?, ?, current_date - ?::int, ?, ?)',
        [id, pool.sku, d, pool.purchased, Math.max(0, pool.authorized + pool.unserved - d)],
      );
    }
    const [token]: Array<{ id: string }> = await db('registration_tokens')
      .insert({
        token_hash: randomBytes(32),
        account_id: accountId,
        virtual_account_id: id,
        description: `switches of ${pool.path}`,
        max_uses: 10,
        expires_at: new Date(Date.now() + 30 * 86_400_000),
        created_by: 'test',
      })
      .returning('id');
    await db('registration_token_slots').insert(tokenSlotRows(String(token.id), 10, 2));
  }
  const finance = await vaId(db, accountId, 'Finance');
  const regionFinance = await vaId(db, accountId, 'Region-US/Finance');
  await db('license_alerts').insert([
    {
      account_id: accountId,
      virtual_account_id: regionFinance,
      kind: 'insufficient_licenses',
      subject: `pool:${regionFinance}:C9300-DNA-E-3Y`,
      day: db.raw('current_date'),
      message: 'insufficient licenses: C9300-DNA-E-3Y is used 7 times, 5 purchased',
    },
    {
      account_id: accountId,
      virtual_account_id: null,
      kind: 'overage_report',
      subject: `account:${accountId}:2026Q4`,
      day: db.raw('current_date'),
      message: 'overage report for 2026Q4',
    },
  ]);
  await db('license_events').insert([
    {
      account_id: accountId,
      virtual_account_id: finance,
      type: 'instance_registered',
      subject: 'instance:pi-finance',
      actor: 'device:pi-finance',
      details: JSON.stringify({ hostname: 'switch-finance' }),
    },
    {
      account_id: accountId,
      virtual_account_id: regionFinance,
      type: 'usage_reported',
      subject: '=HYPERLINK("http://evil.test","x")',
      actor: 'device:pi-region, "quoted"',
      details: JSON.stringify({ note: 'a, b\nc' }),
    },
    {
      account_id: accountId,
      virtual_account_id: null,
      type: 'agreement_changed',
      subject: `account:${accountId}`,
      actor: 'operator',
      details: '{}',
    },
  ]);
}
