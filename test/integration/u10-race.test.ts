/**
 * U10 Race (R16, R18): 200 devices register and report at once against a pool of 100 without an
 * overage agreement -> exactly 100 Authorized, every count exact (the pool row lock: no lost
 * update, never more granted than held). And a token's last uses are spent exactly once.
 */
import { DeviceApiError, DeviceClient } from '../../src/device-client';
import { useTestApi } from '../helpers/api';
import { createToken, expectPoolCountersAgree, newDevice, poolOf, provisionLicenses, smartLine, vaIdOf } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';
import { tokenUses } from '../helpers/token-uses';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-RACE';

// Hundreds of concurrent requests: on a loaded 2-core machine this takes longer than the default 60 s.
jest.setTimeout(180_000);

test('U10: 200 devices register and report 1 each at once against a pool of 100 -> exactly 100 Authorized', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 100)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, {
    virtualAccountPath: 'Finance',
    maxUses: 200,
  });
  const devices = Array.from({ length: 200 }, (_, i) => newDevice(api, world, `race-${i}`));

  const answers = await Promise.all(
    devices.map(async (d) => {
      await d.client.register(token, d.identity);
      return d.client.report({ [SKU]: 1 });
    }),
  );

  const told = answers.map((a) => a.usage[0].state);
  expect(told.filter((s) => s === 'Authorized')).toHaveLength(100);
  expect(told.filter((s) => s === 'OutOfCompliance')).toHaveLength(100);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({
    purchased: 100,
    authorized: 100,
    overage: 0,
    unserved: 100,
  });
  // The rows agree with what each device was told, and with the pool's counters.
  const usage = await stack
    .db('instance_usage')
    .where({ virtual_account_id: await vaIdOf(stack.db, world.smartAccountId, 'Finance'), sku: SKU });
  expect(usage).toHaveLength(200);
  const byInstance = new Map(usage.map((u) => [u.instance_id, u.state]));
  for (const [i, d] of devices.entries()) expect(byInstance.get(d.client.state.instanceId)).toBe(told[i]);
  expect(usage.filter((u) => u.state === 'Authorized').reduce((n, u) => n + u.count, 0)).toBe(100);
  expect(await tokenUses(stack.db, { account_id: world.smartAccountId })).toEqual([200]);
  expect(await stack.db('product_instances').where({ account_id: world.smartAccountId }).count({ n: '*' })).toEqual([{ n: '200' }]);
});

test('U10: 60 devices race for a token of 50 uses -> exactly 50 registered, 10 refused "used up"', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const { token, tokenId } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, {
    virtualAccountPath: 'Finance',
    maxUses: 50,
  });
  const results = await Promise.all(
    Array.from({ length: 60 }, (_, i) => newDevice(api, world, `last-${i}`)).map((d) =>
      d.client.register(token, d.identity).then(
        () => 'registered',
        (err: unknown) => (err instanceof DeviceApiError ? err.code : String(err)),
      ),
    ),
  );
  expect(results.filter((r) => r === 'registered')).toHaveLength(50);
  expect(results.filter((r) => r === 'TokenUsedUp')).toHaveLength(10);
  expect(await tokenUses(stack.db, { id: tokenId })).toEqual([50]);
  expect(await stack.db('product_instances').where({ registration_token_id: tokenId }).count({ n: '*' })).toEqual([{ n: '50' }]);
});

test('R16: one new UDI registering 8 times at once with its key -> one instance, one use spent, one 201 and 7 "already registered"', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const { token, tokenId } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const { identity } = newDevice(api, world, 'twin');
  const keys = DeviceClient.create(api.baseUrl).state;
  const results = await Promise.all(
    Array.from({ length: 8 }, () => new DeviceClient({ baseUrl: api.baseUrl, state: { ...keys }, attempts: 1 }).register(token, identity)),
  );
  expect(new Set(results.map((r) => r.instanceId)).size).toBe(1);
  expect(results.filter((r) => !r.alreadyRegistered)).toHaveLength(1);
  expect(await tokenUses(stack.db, { id: tokenId })).toEqual([1]);
  expect(await stack.db('product_instances').where({ serial_number: identity.serialNumber }).count({ n: '*' })).toEqual([{ n: '1' }]);
  expect(
    await stack.db('license_events').where({ account_id: world.smartAccountId, type: 'instance_registered' }).count({ n: '*' }),
  ).toEqual([{ n: '1' }]);
});

test('R18: one device sending 10 reports at once, and 40 devices reporting while an order deposits: no lost update, no deadlock', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 20)], `PO-${world.suffix}-1`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const devices = Array.from({ length: 40 }, (_, i) => newDevice(api, world, `mix-${i}`));
  await Promise.all(devices.map((d) => d.client.register(token, d.identity)));

  // One instance, ten reports in flight: they run one after the other under its row lock.
  const single = devices[0].client;
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => single.report({ [SKU]: i + 1 }, { reportId: `burst-${i}` })));
  expect(answers.every((a) => a.usage[0].state === 'Authorized')).toBe(true);
  await expectPoolCountersAgree(stack.db, world.smartAccountId, 'Finance', SKU);

  // Everyone reports 1 while a second order deposits 30 more: the deposit re-judges under the same locks.
  const reports = Promise.all(devices.slice(1).map((d) => d.client.report({ [SKU]: 1 })));
  const deposit = provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 30)], `PO-${world.suffix}-2`);
  await Promise.all([reports, deposit]);
  await expectPoolCountersAgree(stack.db, world.smartAccountId, 'Finance', SKU);
  // 50 licenses cover whatever the single device ended on (at most 10) and the 39 others.
  const pool = await poolOf(stack.db, world.smartAccountId, 'Finance', SKU);
  expect(pool).toMatchObject({ purchased: 50, overage: 0, unserved: 0 });
});
