/**
 * U3 Held licenses never count (R4, R18): licenses held in a Partner Holding Account serve no
 * device, even shipped; after the partner's transfer to the Smart Account and provisioning they
 * do, at once, for the device already waiting on them.
 */
import { assignSmartAccount, reportShipment } from '../../src/orders/order-actions';
import { useTestApi } from '../helpers/api';
import { createToken, newDevice, poolOf, smartLine, vaIdOf } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import { book, entitlementsOf, heldBooking, waitForStatus } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename, { escalationAfterMs: 10 * 60_000 });
const api = useTestApi(stack);
const SKU = 'ISR4K-SEC-HELD';

test('U3: licenses held in a PHA serve no device; after the transfer to the SA and provisioning they do', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world, { lines: [smartLine(SKU, 6)] }));
  await waitForStatus(stack.client, booked.workflowId, (s) => s.phase === 'AwaitingSmartAccount');
  // Shipped while held: the licenses exist, but in the partner's holding account.
  await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-12-01' });
  await waitForStatus(stack.client, booked.workflowId, (s) => s.lines[0].shippedOn === '2026-12-01');
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.holdingAccountId, path: 'EMEA', status: 'held', quantity: 6 },
  ]);

  // No device registers into the holding account, and the customer's devices find nothing to use.
  const operator = await api.keyFor('operator');
  const phaToken = await api.call('POST', `/v1/accounts/${world.holdingAccountId}/registration-tokens`, {
    key: operator,
    body: { virtualAccountPath: 'EMEA', expiresInDays: 1, maxUses: 1 },
  });
  expect(phaToken).toMatchObject({ status: 422, body: { error: 'NotASmartAccount' } });
  const { token } = await createToken(api, operator, world.smartAccountId, { virtualAccountPath: 'Finance' });
  const device = newDevice(api, world, 'edge');
  await device.client.register(token, device.identity);
  const before = await device.client.report({ [SKU]: 4 });
  expect(before.usage).toEqual([{ sku: SKU, count: 4, state: 'OutOfCompliance' }]);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 0, authorized: 0, overage: 0, unserved: 4 });
  expect(await stack.db('license_pools').where({ account_id: world.holdingAccountId }).count({ n: '*' })).toEqual([{ n: '0' }]);
  expect(await stack.db('license_allocations').where({ account_id: world.holdingAccountId }).count({ n: '*' })).toEqual([{ n: '0' }]);

  // The partner transfers the order to the customer's Finance: provisioned at once (shipped already).
  await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    actingPartnerId: world.partnerId,
  });
  await stack.client.workflow.getHandle(booked.workflowId).result();
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 6, authorized: 4, overage: 0, unserved: 0 });
  expect(await stack.db('instance_usage').where({ instance_id: device.client.state.instanceId }).first('state')).toEqual({
    state: 'Authorized',
  });
  const after = await device.client.report({ [SKU]: 4 });
  expect(after.usage).toEqual([{ sku: SKU, count: 4, state: 'Authorized' }]);
  expect(after.compliant).toBe(true);
  const allocations = await stack
    .db('license_allocations')
    .where({ account_id: world.smartAccountId, sku: SKU })
    .select('virtual_account_id', 'quantity');
  expect(allocations).toEqual([{ virtual_account_id: await vaIdOf(stack.db, world.smartAccountId, 'Finance'), quantity: 6 }]);
});
