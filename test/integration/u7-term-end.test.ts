/**
 * U7 Term end (R22): a 12-month line -> the seven "licenses expiring" alerts (90, 60, 30, 14, 7,
 * 3, 1 days before), each once and emailed once; at the end its licenses leave the pool and its
 * devices become OutOfCompliance; a renewal order for the same SKU into the same VA puts them back.
 * The clock runs with a given "as of" instant (scoped to this test's account) to walk the year.
 */
import { addMonths } from '../../src/common/dates';
import { useTestApi } from '../helpers/api';
import { createTestWorld } from '../helpers/fixtures';
import { addAccountUser, poolOf, provisionLicenses, runClock, useLicenses, usageStates, virtualAccountId } from '../helpers/license-use';
import { pollUntil } from '../helpers/orders';
import { mailFor, uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-E-1Y';
const DAY_MS = 86_400_000;

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** Noon UTC of the day `days` before `endsOn`. */
const daysBefore = (endsOn: string, days: number) => Date.parse(`${endsOn}T12:00:00Z`) - days * DAY_MS;

/** A 12-month line shipped a year minus `daysLeft` days ago; returns its term end and allocation. */
async function expiringLine(world: Awaited<ReturnType<typeof createTestWorld>>, daysLeft: number) {
  const shippedOn = isoDay(Date.parse(`${addMonths(isoDay(Date.now()), -12)}T00:00:00Z`) + daysLeft * DAY_MS);
  const orderId = await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance', termMonths: 12, shippedOn });
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  const allocation = await stack
    .db('license_allocations')
    .where({ virtual_account_id: finance, sku: SKU })
    .first<{ id: string; ends_on: string }>('id', stack.db.raw(`to_char(ends_on, 'YYYY-MM-DD') AS ends_on`));
  return { orderId, finance, allocationId: String(allocation.id), endsOn: allocation.ends_on };
}

async function expiringAlertSubjects(accountId: string): Promise<string[]> {
  return stack.db('license_alerts').where({ account_id: accountId, kind: 'licenses_expiring' }).orderBy('id').pluck('subject');
}

test('U7: seven alerts each once, expiry leaves devices OutOfCompliance, a renewal restores them', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const admin = await addAccountUser(stack.db, world, { name: 'ada', role: 'sa_admin' });
  const { finance, allocationId, endsOn } = await expiringLine(world, 5);
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 10, next_expiry_on: endsOn });
  const { id: device } = await useLicenses(api, world, 'Finance', { [SKU]: 6 });
  const scope = { accountId: world.smartAccountId };

  // Walk the last 90 days: each threshold raises its alert once, a second run nothing.
  const thresholds = [90, 60, 30, 14, 7, 3, 1];
  for (const days of thresholds) {
    expect(await runClock(stack, { ...scope, asOfMs: daysBefore(endsOn, days) })).toMatchObject({ expiringAlerts: 1, expiredPools: 0 });
    expect(await runClock(stack, { ...scope, asOfMs: daysBefore(endsOn, days) + 3_600_000 })).toMatchObject({ expiringAlerts: 0 });
  }
  expect(await expiringAlertSubjects(world.smartAccountId)).toEqual(thresholds.map((d) => `allocation:${allocationId}:${d}d`));
  const days: string[] = await stack
    .db('license_alerts')
    .where({ account_id: world.smartAccountId, kind: 'licenses_expiring' })
    .orderBy('id')
    .pluck('day');
  expect(days).toEqual(thresholds.map((d) => isoDay(daysBefore(endsOn, d))));
  const mails = await pollUntil(
    async () => mailFor(admin.email).filter((m) => m.subject.startsWith('Licenses expiring')),
    (m) => m.length >= 7,
    'seven expiring mails',
  );
  expect(mails).toHaveLength(7);
  expect(mails[0].text).toContain(`expire on ${endsOn}`);
  expect(await usageStates(stack.db, [device])).toEqual({ [device]: 'Authorized' });

  // The end: the licenses leave the pool; the device is out of compliance and the pool insufficient.
  const atEnd = daysBefore(endsOn, 0);
  expect(await runClock(stack, { ...scope, asOfMs: atEnd })).toMatchObject({ expiredPools: 1, expiringAlerts: 0 });
  expect(await runClock(stack, { ...scope, asOfMs: atEnd })).toMatchObject({ expiredPools: 0 });
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 0, authorized: 0, unserved: 6, next_expiry_on: null });
  expect(await usageStates(stack.db, [device])).toEqual({ [device]: 'OutOfCompliance' });
  expect(await stack.db('license_alerts').where({ account_id: world.smartAccountId, kind: 'licenses_expired' }).pluck('subject')).toEqual([
    `allocation:${allocationId}:expired`,
  ]);
  expect(await stack.db('license_alerts').where({ account_id: world.smartAccountId, kind: 'insufficient_licenses' })).toHaveLength(1);
  const events = await stack.db('license_events').where({ account_id: world.smartAccountId }).orderBy('id').pluck('type');
  // The licenses' arrival (the order provisioned), the device's token, registration and report
  // (through the device client), then the term's end.
  expect(events).toEqual([
    'licenses_activated',
    'token_created',
    'instance_registered',
    'usage_reported',
    'licenses_expired',
    'usage_state_changed',
  ]);

  // A renewal: a new 12-month order for the same SKU into Finance. Provisioning recomputes with
  // the real date (before the simulated end), so the clock at the end date settles the pool.
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance', termMonths: 12, shippedOn: endsOn });
  await runClock(stack, { ...scope, asOfMs: atEnd });
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({
    purchased: 10,
    authorized: 6,
    unserved: 0,
    next_expiry_on: addMonths(endsOn, 12),
  });
  expect(await usageStates(stack.db, [device])).toEqual({ [device]: 'Authorized' });
  // The renewal's own alerts come only in its last 90 days.
  expect(await expiringAlertSubjects(world.smartAccountId)).toHaveLength(7);
}, 120_000);

test('a term first seen inside a window gets that window alert only, not the ones already passed', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const { allocationId, endsOn } = await expiringLine(world, 5);
  const scope = { accountId: world.smartAccountId };
  // 5 days left when the clock first sees it: the 7-day alert, not 90, 60, 30 or 14.
  expect(await runClock(stack, { ...scope, asOfMs: daysBefore(endsOn, 5) })).toMatchObject({ expiringAlerts: 1 });
  expect(await runClock(stack, { ...scope, asOfMs: daysBefore(endsOn, 2) })).toMatchObject({ expiringAlerts: 1 });
  expect(await expiringAlertSubjects(world.smartAccountId)).toEqual([`allocation:${allocationId}:7d`, `allocation:${allocationId}:3d`]);
}, 60_000);
