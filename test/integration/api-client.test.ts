/**
 * The typed client (src/api-client) against the real API on the real stack, as an ordering
 * system uses it: book, read, list, ship, cancel; refusals arrive as ApiError with the status,
 * the code and every field at fault.
 */
import { ApiError, LicenseFulfillmentClient, iterateOrders, type BookOrderRequest } from '../../src/api-client';
import { deriveOrderId } from '../../src/orders/book-order';
import { orderWorkflowId } from '../../src/orders/workflow-api';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { PERPETUAL_LINE, TERM_LINE, pollUntil, waitForPhase, waitForStatus } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

let world: TestWorld;
let client: LicenseFulfillmentClient;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  client = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: await api.keyFor('partner', world.partnerId) });
});

function booking(externalReference: string): BookOrderRequest {
  return {
    externalReference,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
    lines: [PERPETUAL_LINE, TERM_LINE],
  };
}

test('book, get, list, ship and cancel through the typed client', async () => {
  const ref = `CLIENT-${world.suffix}`;
  const booked = await client.bookOrder(booking(ref), { idempotencyKey: `client-${world.suffix}` });
  const orderId = deriveOrderId(world.partnerId, ref);
  expect(booked).toEqual({
    orderId,
    workflowId: orderWorkflowId(orderId),
    alreadyBooked: false,
    links: { self: `/v1/orders/${orderId}`, temporalUi: expect.any(String) },
  });
  expect(await client.bookOrder(booking(ref), { idempotencyKey: `client-${world.suffix}` })).toMatchObject({
    orderId,
    alreadyBooked: true,
  });

  await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  const status = await client.getOrder(orderId);
  expect(status).toMatchObject({
    orderId,
    externalReference: ref,
    partnerId: world.partnerId,
    phase: 'AwaitingShipment',
    waitingFor: 'Shipment',
  });
  expect(status.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'deposited', world.smartAccountId, 'Finance'],
    [2, 'deposited', world.smartAccountId, 'Finance'],
  ]);

  await pollUntil(
    () => client.listOrders({ partnerId: world.partnerId, status: 'AwaitingShipment' }),
    (page) => page.orders.some((o) => o.orderId === orderId),
    'the order in the list',
  );
  const listed: string[] = [];
  for await (const order of iterateOrders(client, { partnerId: world.partnerId, limit: 1 })) listed.push(order.orderId);
  expect(listed).toContain(orderId);

  // A shipped line in the active customer account is provisioned: the order can no longer be cancelled.
  expect(await client.reportShipment(orderId, { lineNumber: 2, shippedOn: '2026-01-31' })).toEqual({
    orderId,
    lineNumber: 2,
    shippedOn: '2026-01-31',
    accepted: true,
  });
  const shipped = await waitForStatus(stack.client, booked.workflowId, (s) => s.lines[1].state === 'provisioned');
  expect(shipped.lines[1]).toMatchObject({ shippedOn: '2026-01-31', subscription: { startsOn: '2026-01-31', endsOn: '2029-01-31' } });
  await expect(client.cancelOrder(orderId)).rejects.toMatchObject({
    name: 'ApiError',
    status: 409,
    message: expect.stringContaining('provisioned'),
  });

  const other = await client.bookOrder(booking(`${ref}-2`));
  await waitForPhase(stack.client, other.workflowId, 'AwaitingShipment');
  const cancelled = await client.cancelOrder(other.orderId, { reason: 'customer withdrew' });
  expect(cancelled).toMatchObject({ orderId: other.orderId, phase: 'Cancelled' });
  await pollUntil(
    () => stack.db('orders').where({ id: other.orderId }).first('status'),
    (r) => r?.status === 'Cancelled',
    'the order row cancelled',
  );
});

test('a bad booking is an ApiError with status 400, ValidationFailed and every field at fault; nothing is booked', async () => {
  const ref = `CLIENT-BAD-${world.suffix}`;
  const bad = {
    ...booking(ref),
    lines: [
      { ...PERPETUAL_LINE, quantity: 0 },
      { ...TERM_LINE, licenseType: 'perpetual' },
    ],
  } as unknown as BookOrderRequest;
  const error = await client.bookOrder(bad).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(ApiError);
  const apiError = error as ApiError;
  expect({ status: apiError.status, code: apiError.code, operationId: apiError.operationId }).toEqual({
    status: 400,
    code: 'ValidationFailed',
    operationId: 'bookOrder',
  });
  expect(apiError.fieldErrors).toEqual(
    expect.arrayContaining([
      { field: 'lines[0].quantity', reason: 'must be a whole number from 1 to 1000000' },
      { field: 'lines[1].licenseType', reason: expect.stringMatching(/^must /) },
    ]),
  );
  expect(apiError.message).toContain('lines[0].quantity');
  expect(await stack.db('orders').where({ external_reference: ref }).first()).toBeUndefined();
});

test("refusals keep their code: an unknown order is 404, someone else's order 403, a wrong key 401", async () => {
  await expect(client.getOrder('0123456789abcdef0123')).rejects.toMatchObject({ name: 'ApiError', status: 404, code: 'NotFound' });
  const ref = `CLIENT-OTHER-${world.suffix}`;
  const booked = await client.bookOrder(booking(ref));
  const other = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: await api.keyFor('partner', world.otherPartnerId) });
  await expect(other.cancelOrder(booked.orderId)).rejects.toMatchObject({ status: 403, code: 'Forbidden' });
  const wrongKey = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: 'lfk_' + 'x'.repeat(43) });
  await expect(wrongKey.listOrders()).rejects.toMatchObject({ status: 401, code: 'Unauthorized' });
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
});
