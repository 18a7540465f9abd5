/**
 * U2 Pool (R17, R18): VA Finance holds 10 of a SKU from an order as in S1; three devices use 4, 4
 * and 2 -> all Authorized, balance 0; a fourth uses 1 -> OutOfCompliance and "insufficient
 * licenses"; an order deposits 5 more -> compliance restored at once, without a new report.
 */
import { DeviceClient, keysFromPublished, type SignedUsageAnswer } from '../../src/device-client';
import { useTestApi } from '../helpers/api';
import { createToken, depositElsewhere, newDevice, poolOf, provisionLicenses, smartLine, vaIdOf } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-A-PERP';

const states = (answer: SignedUsageAnswer) => answer.usage.map((u) => [u.sku, u.count, u.state]);

test('U2: 4, 4, 2 of 10 are Authorized; a fourth device is OutOfCompliance until a deposit of 5 restores it at once', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 10)], `PO-${world.suffix}-1`);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 10, authorized: 0, overage: 0, unserved: 0 });

  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const devices = ['d1', 'd2', 'd3', 'd4'].map((name) => newDevice(api, world, name));
  for (const d of devices) await d.client.register(token, d.identity);

  const answers = [];
  for (const [i, count] of [4, 4, 2].entries()) answers.push(await devices[i].client.report({ [SKU]: count }));
  expect(answers.map(states)).toEqual([[[SKU, 4, 'Authorized']], [[SKU, 4, 'Authorized']], [[SKU, 2, 'Authorized']]]);
  expect(answers.every((a) => a.compliant)).toBe(true);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 10, authorized: 10, overage: 0, unserved: 0 });

  const fourth = await devices[3].client.report({ [SKU]: 1 });
  expect(states(fourth)).toEqual([[SKU, 1, 'OutOfCompliance']]);
  expect(fourth.compliant).toBe(false);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 10, authorized: 10, overage: 0, unserved: 1 });
  const vaId = await vaIdOf(stack.db, world.smartAccountId, 'Finance');
  const alerts = await stack.db('license_alerts').where({ account_id: world.smartAccountId }).select('kind', 'subject', 'details');
  expect(alerts).toEqual([
    { kind: 'insufficient_licenses', subject: `pool:${vaId}:${SKU}`, details: expect.objectContaining({ unserved: 1 }) },
  ]);

  // The answers verify offline against the published keys (fetched once, then no network).
  const published = await api.call('GET', '/v1/license-signing-keys');
  expect(published.status).toBe(200);
  const keys = keysFromPublished(published.body);
  for (const [i, answer] of [...answers, fourth].entries()) expect(devices[i].client.verify(answer, keys)).toMatchObject({ ok: true });

  // An order deposits 5 more: the fourth device is Authorized at once, before it reports again.
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 5)], `PO-${world.suffix}-2`);
  const fourthId = devices[3].client.state.instanceId!;
  expect(await stack.db('instance_usage').where({ instance_id: fourthId }).select('sku', 'count', 'state')).toEqual([
    { sku: SKU, count: 1, state: 'Authorized' },
  ]);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 15, authorized: 11, overage: 0, unserved: 0 });
  expect(states(await devices[3].client.report({ [SKU]: 1 }))).toEqual([[SKU, 1, 'Authorized']]);
});

test('R17: a retried report gets the same signed answer; a shrinking use frees licenses for the unserved at once', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 5)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const [big, small] = ['big', 'small'].map((name) => newDevice(api, world, name));
  await big.client.register(token, big.identity);
  await small.client.register(token, small.identity);

  // NEVER-HELD exists (another account holds it), but not in this VA.
  await depositElsewhere(stack, 'NEVER-HELD');
  const first = await big.client.report({ [SKU]: 5, 'NEVER-HELD': 2 }, { reportId: 'boot-1' });
  expect(states(first)).toEqual([
    [SKU, 5, 'Authorized'],
    ['NEVER-HELD', 2, 'OutOfCompliance'],
  ]);
  // The same report ID again (a retry after a lost answer): the stored answer, nothing counted twice.
  const retried = await big.client.report({ [SKU]: 5, 'NEVER-HELD': 2 }, { reportId: 'boot-1' });
  expect(retried).toEqual(first);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 5, authorized: 5, overage: 0, unserved: 0 });
  expect(await stack.db('usage_reports').where({ instance_id: big.client.state.instanceId }).count({ n: '*' })).toEqual([{ n: '1' }]);

  expect(states(await small.client.report({ [SKU]: 3 }))).toEqual([[SKU, 3, 'OutOfCompliance']]);
  // A contact two minutes old, so the next report writes it (a report keeps the contact to the minute).
  await stack
    .db('product_instances')
    .where({ id: big.client.state.instanceId })
    .update({ last_contact_at: new Date(Date.now() - 120_000) });
  // The big one drops to 2 and stops using NEVER-HELD: its 3 freed licenses serve the small one at once.
  expect(states(await big.client.report({ [SKU]: 2 }))).toEqual([[SKU, 2, 'Authorized']]);
  expect(await stack.db('instance_usage').where({ instance_id: small.client.state.instanceId }).first('state')).toEqual({
    state: 'Authorized',
  });
  expect(await stack.db('instance_usage').where({ instance_id: big.client.state.instanceId }).pluck('sku')).toEqual([SKU]);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 5, authorized: 5, overage: 0, unserved: 0 });
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', 'NEVER-HELD')).toEqual({
    purchased: 0,
    authorized: 0,
    overage: 0,
    unserved: 0,
  });
  const lastContact = await stack.db('product_instances').where({ id: big.client.state.instanceId }).first('last_contact_at', 'state');
  expect(lastContact.state).toBe('active');
  expect(Date.now() - lastContact.last_contact_at.getTime()).toBeLessThan(10_000);
});

test('R16: a device renews its credential; the new one works, and an authorization_expired instance is authorized again', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 3)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const device = newDevice(api, world, 'renewing');
  const registered = await device.client.register(token, device.identity);
  expect(Date.parse(registered.renewAfter) - Date.now()).toBeGreaterThan(180 * 86_400_000);
  expect(Date.parse(registered.expiresAt) - Date.now()).toBeGreaterThan(364 * 86_400_000);
  await device.client.report({ [SKU]: 2 });

  // R19 as the liveness process leaves it: use released, instance authorization_expired.
  const instanceId = registered.instanceId;
  await stack.db('instance_usage').where({ instance_id: instanceId }).update({ state: 'AuthorizationExpired' });
  await stack.db('product_instances').where({ id: instanceId }).update({ state: 'authorization_expired' });
  await stack
    .db('license_pools')
    .where({ virtual_account_id: await vaIdOf(stack.db, world.smartAccountId, 'Finance'), sku: SKU })
    .update({ authorized: 0 });

  const renewed = await device.client.renew();
  expect(renewed.instanceId).toBe(instanceId);
  expect(renewed.credential).not.toBe(registered.credential);
  expect(states(await device.client.report({ [SKU]: 2 }))).toEqual([[SKU, 2, 'Authorized']]);
  expect(await stack.db('product_instances').where({ id: instanceId }).first('state')).toEqual({ state: 'active' });
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 3, authorized: 2, overage: 0, unserved: 0 });
});

test('R19: a removed instance is refused and its use is not counted; its UDI registers again as a new instance', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 2)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const device = newDevice(api, world, 'gone');
  const first = await device.client.register(token, device.identity);
  await device.client.report({ [SKU]: 1 });
  // As the liveness process leaves a device silent for a year: removed, its use released.
  await stack.db('instance_usage').where({ instance_id: first.instanceId }).update({ state: 'AuthorizationExpired' });
  await stack.db('product_instances').where({ id: first.instanceId }).update({ state: 'removed', removed_at: stack.db.fn.now() });
  await stack
    .db('license_pools')
    .where({ virtual_account_id: await vaIdOf(stack.db, world.smartAccountId, 'Finance'), sku: SKU })
    .update({ authorized: 0 });

  await expect(device.client.report({ [SKU]: 1 })).rejects.toMatchObject({ status: 403, code: 'InstanceRemoved' });
  await expect(device.client.renew()).rejects.toMatchObject({ status: 403, code: 'InstanceRemoved' });
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 2, authorized: 0, overage: 0, unserved: 0 });

  const again = await device.client.register(token, device.identity);
  expect(again.instanceId).not.toBe(first.instanceId);
  expect(again.alreadyRegistered).toBe(false);
  expect(states(await device.client.report({ [SKU]: 1 }))).toEqual([[SKU, 1, 'Authorized']]);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 2, authorized: 1, overage: 0, unserved: 0 });
});

test('R17: a device whose clock is two hours off is refused as stale once, takes the server time and is answered', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const skewed = DeviceClient.create(api.baseUrl, { attempts: 1, clock: () => Date.now() + 2 * 3_600_000 });
  await skewed.register(token, newDevice(api, world, 'skewed').identity);
  const answer = await skewed.report({ [SKU]: 1 });
  expect(states(answer)).toEqual([[SKU, 1, 'OutOfCompliance']]);
  expect(Math.abs(skewed.clockOffsetMs + 2 * 3_600_000)).toBeLessThan(5_000);
  // Later requests are signed on the corrected clock straight away.
  expect((await skewed.report({ [SKU]: 0 })).compliant).toBe(true);
});
