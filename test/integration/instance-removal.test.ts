/**
 * Removing a product instance (R19, R23; issue 15): a customer's admin removes a device that lost
 * its key or was decommissioned. Its use leaves the pool at once (and whoever it pushed out of
 * compliance is served), its old credential is refused InstanceRemoved, the same UDI registers
 * again with a new key, the event log and an alert name who removed it, and removing it again
 * answers the same and writes nothing. Who may: SA admin and admin roles over its virtual account;
 * a VA viewer or user may not; one who may not see its virtual account is told it is not there.
 * Through the API, the CLI and the virtual account page in Chromium.
 */
import { DeviceClient } from '../../src/device-client';
import { openSession, SESSION_COOKIE } from '../../src/web/session';
import { useLinkedStackAndApi, withBrowser } from '../helpers/browser';
import { runCliInProcess } from '../helpers/cli';
import { createToken, newDevice, refusal } from '../helpers/devices';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { poolOf, provisionLicenses, usageStates, virtualAccountId } from '../helpers/license-use';
import { grantTo, userKey, verifiedUser, type ViewUser } from '../helpers/license-view-fixtures';
import { uniqueSuffix } from '../helpers/stack';

const { stack, api } = useLinkedStackAndApi(__filename);
jest.setTimeout(120_000);
const SKU = 'C9300-DNA-A-RM';

/** A user of the world with `role` (on `path`, or the whole account) and their API key. */
async function userWith(world: TestWorld, name: string, role: 'sa_admin' | 'va_admin' | 'va_user' | 'va_viewer', path?: string) {
  const user = await verifiedUser(stack.db, world, name);
  await grantTo(stack.db, world.smartAccountId, user, role, path);
  return { user, key: await userKey(stack.db, user) };
}

/** What removing may change: the instance's state, use and events, the pool, the alerts. */
async function snapshot(world: TestWorld, instanceId: string) {
  return {
    instance: await stack.db('product_instances').where({ id: instanceId }).first('state', 'removed_at'),
    use: await usageStates(stack.db, [instanceId]),
    events: await stack.db('license_events').where({ account_id: world.smartAccountId }).count({ n: '*' }),
    alerts: await stack.db('license_alerts').where({ account_id: world.smartAccountId }).count({ n: '*' }),
    pool: await poolOf(stack.db, await virtualAccountId(stack.db, world.smartAccountId, 'Finance'), SKU),
  };
}

test('an SA admin removes a device: its use leaves the pool at once, its credential is refused, its UDI registers again with a new key; again answers the same', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const admin = await userWith(world, 'ada', 'sa_admin');
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const [lost, steady, late] = ['lost', 'steady', 'late'].map((name) => newDevice(api, world, name));
  const { instanceId: lostId } = await lost.client.register(token, lost.identity);
  await steady.client.register(token, steady.identity);
  const { instanceId: lateId } = await late.client.register(token, late.identity);
  await lost.client.report({ [SKU]: 6 });
  await steady.client.report({ [SKU]: 4 });
  expect((await late.client.report({ [SKU]: 3 })).usage).toEqual([{ sku: SKU, count: 3, state: 'OutOfCompliance' }]);

  // The device lost its key: with a new one it is refused until the instance is removed.
  const rebuilt = DeviceClient.create(api.baseUrl, { attempts: 1 });
  expect(await refusal(rebuilt.register(token, lost.identity))).toEqual({ status: 409, code: 'UdiRegisteredWithAnotherKey' });

  const path = `/v1/accounts/${world.smartAccountId}/product-instances/${lostId}`;
  const removed = await api.call('DELETE', path, { key: admin.key });
  expect(removed.status).toBe(200);
  expect(removed.body).toMatchObject({
    instanceId: lostId,
    virtualAccountPath: 'Finance',
    serialNumber: lost.identity.serialNumber,
    hostname: lost.identity.hostname,
    state: 'removed',
    pools: [{ virtualAccountPath: 'Finance', sku: SKU, purchased: 10, authorized: 7, overage: 0, unserved: 0 }],
  });
  // At once: the pool's in-use drops by its 6, and the device it pushed out is served.
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 10, authorized: 7, unserved: 0 });
  expect(await usageStates(stack.db, [lostId, lateId])).toEqual({ [lostId]: 'AuthorizationExpired', [lateId]: 'Authorized' });
  const licenses = await api.call('GET', `/v1/accounts/${world.smartAccountId}/licenses?virtualAccountPath=Finance`, { key: admin.key });
  expect(licenses.body.licenses).toEqual([expect.objectContaining({ sku: SKU, purchased: 10, inUse: 7, balance: 3 })]);

  // Its old credential gets what a removed instance gets: reports and renewals are refused.
  expect(await refusal(lost.client.report({ [SKU]: 6 }))).toEqual({ status: 403, code: 'InstanceRemoved' });
  expect(await refusal(lost.client.renew())).toEqual({ status: 403, code: 'InstanceRemoved' });

  // One event and one alert, naming who removed it.
  const events = await stack.db('license_events').where({ subject: `instance:${lostId}`, type: 'instance_removed' });
  expect(events).toEqual([expect.objectContaining({ actor: `user:${admin.user.userId}`, virtual_account_id: finance })]);
  expect(events[0].details).toMatchObject({ released: [SKU], removedBy: `user:${admin.user.userId}` });
  const alerts = await stack.db('license_alerts').where({ subject: `instance:${lostId}` });
  expect(alerts.map((a) => a.kind)).toEqual(['instance_removed']);
  expect(alerts[0].message).toContain(`removed by user:${admin.user.userId}`);

  // Removing it again answers the same and writes nothing.
  const before = await snapshot(world, lostId);
  const again = await api.call('DELETE', path, { key: admin.key });
  expect(again).toMatchObject({ status: 200, body: removed.body });
  expect(await snapshot(world, lostId)).toEqual(before);

  // The same UDI registers again, with its new key: a new instance, which reports as any other.
  const reRegistered = await rebuilt.register(token, lost.identity);
  expect(reRegistered).toMatchObject({ alreadyRegistered: false, virtualAccountPath: 'Finance' });
  expect(reRegistered.instanceId).not.toBe(lostId);
  expect((await rebuilt.report({ [SKU]: 3 })).usage).toEqual([{ sku: SKU, count: 3, state: 'Authorized' }]);
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ authorized: 10, unserved: 0 });

  // The CLI removes through the same route.
  const cli = await runCliInProcess(['remove', 'instance', world.smartAccountId, reRegistered.instanceId], {
    apiUrl: api.baseUrl,
    apiKey: admin.key,
  });
  expect([cli.code, cli.stdout]).toEqual([0, expect.stringContaining(`Removed ${reRegistered.instanceId}`)]);
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ authorized: 7, unserved: 0 });
});

test('who may remove: SA admin and an admin over its VA; a VA viewer or user is refused 403; one who cannot see its VA, or names an unknown instance, gets 404', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const other = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const device = newDevice(api, world, 'dev');
  const { instanceId } = await device.client.register(token, device.identity);
  await device.client.report({ [SKU]: 2 });
  const viewer = await userWith(world, 'vic', 'va_viewer', 'Finance');
  const vaUser = await userWith(world, 'val', 'va_user', 'Finance');
  const regionAdmin = await userWith(world, 'reg', 'va_admin', 'Region-US');
  const financeAdmin = await userWith(world, 'fin', 'va_admin', 'Finance');
  const otherAdmin = await userWith(other, 'oth', 'sa_admin');
  const path = (id: string, accountId = world.smartAccountId) => `/v1/accounts/${accountId}/product-instances/${id}`;
  const before = await snapshot(world, instanceId);

  for (const refused of [viewer, vaUser]) {
    const res = await api.call('DELETE', path(instanceId), { key: refused.key });
    expect([res.status, res.body.error, res.body.message]).toEqual([403, 'Forbidden', expect.stringContaining('Finance')]);
  }
  // One who may not see Finance is told what an unknown instance is told: nothing says it exists.
  const hidden = await api.call('DELETE', path(instanceId), { key: regionAdmin.key });
  const unknown = await api.call('DELETE', path('pi-no-such-instance'), { key: regionAdmin.key });
  expect([hidden.status, hidden.body.error, hidden.body.errors]).toEqual([
    404,
    'UnknownInstance',
    [{ field: 'instanceId', reason: 'is not a product instance of this Smart Account that you may see' }],
  ]);
  expect(unknown.body.message.replace('pi-no-such-instance', instanceId)).toBe(hidden.body.message);
  // Another customer's admin has no role here; under its own account's URL the instance is not there.
  expect((await api.call('DELETE', path(instanceId), { key: otherAdmin.key })).status).toBe(403);
  const elsewhere = await api.call('DELETE', path(instanceId, other.smartAccountId), { key: otherAdmin.key });
  expect([elsewhere.status, elsewhere.body.error]).toEqual([404, 'UnknownInstance']);
  const bad = await api.call('DELETE', path('not%20an%20id'), { key: financeAdmin.key });
  expect([bad.status, bad.body.errors?.[0]?.field]).toEqual([400, 'instanceId']);
  expect(await snapshot(world, instanceId)).toEqual(before);

  // The VA admin of Finance may.
  const removed = await api.call('DELETE', path(instanceId), { key: financeAdmin.key });
  expect([removed.status, removed.body.state]).toEqual([200, 'removed']);
  expect(await poolOf(stack.db, await virtualAccountId(stack.db, world.smartAccountId, 'Finance'), SKU)).toMatchObject({ authorized: 0 });
});

test('in Chromium: the VA page shows Remove to an admin (asking first), none to a viewer; removing sends back to the page without the instance', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const device = newDevice(api, world, 'gone');
  const { instanceId } = await device.client.register(token, device.identity);
  await device.client.report({ [SKU]: 4 });
  const admin = await userWith(world, 'ada', 'sa_admin');
  const viewer = await userWith(world, 'vic', 'va_viewer', 'Finance');
  const vaPage = `${api.baseUrl}/accounts/${world.smartAccountId}/va?path=Finance`;

  const signIn = async (user: ViewUser) => (await openSession(stack.db, user.userId, 60 * 60_000)).value;
  await withBrowser(async ({ context, page, cspViolations }) => {
    await context.addCookies([{ name: SESSION_COOKIE, value: await signIn(viewer.user), url: api.baseUrl }]);
    await page.goto(vaPage);
    await page.getByRole('heading', { name: 'Virtual account Finance' }).waitFor();
    expect(await page.getByText(device.identity.hostname).count()).toBe(1);
    expect(await page.getByText('Remove', { exact: false }).count()).toBe(0);

    await context.clearCookies();
    await context.addCookies([{ name: SESSION_COOKIE, value: await signIn(admin.user), url: api.baseUrl }]);
    await page.goto(vaPage);
    const instances = page.getByRole('table', { name: 'Product instances' });
    const confirm = page.getByRole('button', { name: `Remove ${device.identity.hostname} for good` });
    expect(await confirm.isVisible()).toBe(false);
    await instances.getByText(`Remove ${device.identity.hostname}`).first().click();
    await confirm.click();
    await page
      .getByRole('status')
      .filter({ hasText: `Removed product instance ${instanceId}` })
      .waitFor();
    expect(await instances.getByText(device.identity.hostname).count()).toBe(0);
    expect(cspViolations).toEqual([]);
  });
  expect(await stack.db('product_instances').where({ id: instanceId }).first('state')).toEqual({ state: 'removed' });
  expect(
    await stack
      .db('license_events')
      .where({ subject: `instance:${instanceId}`, type: 'instance_removed' })
      .pluck('actor'),
  ).toEqual([`user:${admin.user.userId}`]);
  expect(await refusal(device.client.report({ [SKU]: 4 }))).toEqual({ status: 403, code: 'InstanceRemoved' });
});
