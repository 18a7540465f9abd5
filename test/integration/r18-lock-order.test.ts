/**
 * R18, R19, R21: a usage report locks its instance, then its pools. A move of that instance and
 * its expiry at 90 days of silence must take the locks in the same order, or each waits on the
 * other and Postgres aborts one of them as a deadlock. Here a transaction holds the instance as a
 * report does while the other starts, then locks the instance's pool: both finish, one after the other.
 */
import type { Knex } from 'knex';
import { expireInstance } from '../../src/licensing/liveness';
import { moveInstance } from '../../src/licensing/moves';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { seedLicenseUse, vaId } from '../helpers/license-view-fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const SKU = 'C9300-DNA-E-3Y';
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const outcome = <T>(work: Promise<T>) =>
  work.then(
    (value) => ({ value }),
    (err: Error) => ({ err: err.message }),
  );

/**
 * Holds the instance as a report does, starts `other`, then locks the instance's Finance pool as
 * the report would next; returns both outcomes.
 */
async function asAReportRuns<T>(world: TestWorld, instanceId: string, other: () => Promise<T>) {
  const report: Knex.Transaction = await stack.db.transaction();
  await report('product_instances').where({ id: instanceId }).forUpdate().first('id');
  const started = outcome(other());
  await settle(500);
  const finance = await vaId(stack.db, world.smartAccountId, 'Finance');
  // purchased is bigint: node-postgres reads it as a string.
  const pool = await outcome(report('license_pools').where({ virtual_account_id: finance, sku: SKU }).forUpdate().first('purchased'));
  await ('err' in pool ? report.rollback() : report.commit());
  return { pool, other: await started };
}

async function seeded(): Promise<{ world: TestWorld; instanceId: string }> {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await seedLicenseUse(stack.db, world);
  return { world, instanceId: `pi-finance-${world.suffix}` };
}

test('a move of an instance while its report holds it: no deadlock, the move waits, then moves its use', async () => {
  const { world, instanceId } = await seeded();
  const to = { id: await vaId(stack.db, world.smartAccountId, 'Region-US'), path: 'Region-US' };
  const { pool, other } = await asAReportRuns(world, instanceId, () =>
    moveInstance(stack.db, { accountId: world.smartAccountId, instanceId, to, actor: 'operator' }),
  );
  expect(pool).toEqual({ value: { purchased: '10' } });
  expect(other).toMatchObject({ value: { from: [{ sku: SKU }], to: [{ sku: SKU }] } });
  expect(await stack.db('product_instances').where({ id: instanceId }).first('virtual_account_id')).toEqual({ virtual_account_id: to.id });
}, 30_000);

test('the expiry of a silent instance while its report holds it: no deadlock, the expiry waits, then releases its use', async () => {
  const { world, instanceId } = await seeded();
  const instance = await stack
    .db('product_instances')
    .where({ id: instanceId })
    .first('id', 'account_id', 'virtual_account_id', 'last_contact_at');
  const { pool, other } = await asAReportRuns(world, instanceId, () =>
    stack.db.transaction((trx) => expireInstance(trx, instance, Date.now(), false)),
  );
  expect(pool).toEqual({ value: { purchased: '10' } });
  expect(other).toEqual({ value: true });
  expect(await stack.db('product_instances').where({ id: instanceId }).first('state')).toEqual({ state: 'authorization_expired' });
}, 30_000);
