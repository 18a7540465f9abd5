/**
 * Issue 16: `GET /v1/orders/:id` reads the status the order's activities commit to Postgres
 * (orders.status_document), not the workflow. After each phase the stored status is the
 * workflow's own (`?live=true`, the Query); after an Update the API sent, the next read already
 * shows it; a late write of an older version never moves it back; an order without a stored
 * status (a run from before the projection) is answered by its workflow.
 */
import { writeListStatus } from '../../activities/orders/records';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { apiBody, directBooking, heldBooking, waitForStatus } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

let world: TestWorld;
let partnerKey: string;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  partnerKey = await api.keyFor('partner', world.partnerId);
});

const body = apiBody;

async function stored(orderId: string): Promise<{ status_document: OrderStatus | null; status_version: number | null }> {
  return stack.db('orders').where({ id: orderId }).first('status_document', 'status_version');
}

/** Once the workflow has settled in `until`: the default answer (Postgres) is the workflow's own. */
async function expectProjectionMatchesWorkflow(orderId: string, workflowId: string, until: (s: OrderStatus) => boolean) {
  const live = await waitForStatus(stack.client, workflowId, until);
  const projected = await api.call('GET', `/v1/orders/${orderId}`, { key: partnerKey });
  expect(projected.status).toBe(200);
  expect(projected.headers.get('order-status-source')).toBe('projection');
  const asked = await api.call('GET', `/v1/orders/${orderId}?live=true`, { key: partnerKey });
  expect(asked.headers.get('order-status-source')).toBe('workflow');
  expect(asked.body).toEqual(projected.body);
  expect((await stored(orderId)).status_document).toEqual(live);
  return projected.body as OrderStatus;
}

/** The status the workflow derived: the GET answer without the outbox's `emails`, which it adds. */
function statusOnly(body: OrderStatus & { emails?: unknown }): OrderStatus {
  const { emails, ...status } = body;
  expect(Array.isArray(emails)).toBe(true);
  return status;
}

test("after each phase of a held order the stored status is the workflow's; after the assignment Update the next read shows it", async () => {
  const booking = heldBooking(world, { externalReference: `PROJ-HELD-${world.suffix}` });
  const booked = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
  const { orderId, workflowId } = booked.body;

  const held = await expectProjectionMatchesWorkflow(orderId, workflowId, (s) => s.emailsSent.includes('transfer-needed'));
  expect([held.phase, held.waitingFor, held.holdingAccountId]).toEqual(['AwaitingSmartAccount', 'PartnerTransfer', world.holdingAccountId]);
  const heldVersion = (await stored(orderId)).status_version!;

  // Read-your-writes: the Update's answer, then at once the same from Postgres (no waiting).
  const assigned = await api.call('POST', `/v1/orders/${orderId}/assignment`, {
    key: partnerKey,
    body: { accountId: world.smartAccountId },
  });
  expect(assigned.status).toBe(200);
  const read = await api.call('GET', `/v1/orders/${orderId}`, { key: partnerKey });
  expect(read.headers.get('order-status-source')).toBe('projection');
  // The GET adds the order's emails as the outbox has them (not part of the workflow's status).
  expect(statusOnly(read.body)).toEqual(assigned.body);
  expect(read.body).toMatchObject({ phase: 'AwaitingShipment', customerAccountId: world.smartAccountId });
  expect((await stored(orderId)).status_version).toBeGreaterThan(heldVersion);

  await expectProjectionMatchesWorkflow(orderId, workflowId, (s) => s.phase === 'AwaitingShipment');

  for (const lineNumber of [1, 2]) {
    const shipped = await api.call('POST', `/v1/orders/${orderId}/shipments`, {
      key: partnerKey,
      body: { lineNumber, shippedOn: '2026-04-15' },
    });
    expect(shipped.status).toBe(202);
  }
  const done = await expectProjectionMatchesWorkflow(orderId, workflowId, (s) => s.emailsSent.includes('order-fulfilled'));
  expect(done.phase).toBe('Fulfilled');
  expect(done.lines.map((l) => [l.state, l.subscription?.endsOn])).toEqual([
    ['provisioned', undefined],
    ['provisioned', '2029-04-15'],
  ]);
});

test('a cancellation Update is read back at once; a late write of an older version changes nothing', async () => {
  const booking = directBooking(world, { externalReference: `PROJ-CANCEL-${world.suffix}` });
  const booked = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
  const { orderId, workflowId } = booked.body;
  await expectProjectionMatchesWorkflow(orderId, workflowId, (s) => s.emailsSent.some((e) => e.startsWith('deposit-confirmation')));

  const cancelled = await api.call('POST', `/v1/orders/${orderId}/cancellation`, { key: partnerKey, body: { reason: 'test' } });
  expect(cancelled.status).toBe(200);
  const read = await api.call('GET', `/v1/orders/${orderId}`, { key: partnerKey });
  expect(statusOnly(read.body)).toEqual(cancelled.body);
  expect(read.body.phase).toBe('Cancelled');

  // A retried attempt of an earlier step (older version) arrives late: neither the status nor the list moves back.
  const before = await stored(orderId);
  const stale = { ...before.status_document!, phase: 'AwaitingShipment' as const, waitingFor: 'Shipment' as const };
  await stack.db.transaction((trx) =>
    writeListStatus(
      trx,
      orderId,
      { phase: 'AwaitingShipment', waitingFor: 'Shipment' },
      { projection: { version: before.status_version! - 1, status: stale } },
    ),
  );
  expect(await stored(orderId)).toEqual(before);
  expect(await stack.db('orders').where({ id: orderId }).first('status')).toEqual({ status: 'Cancelled' });
  const after = await api.call('GET', `/v1/orders/${orderId}`, { key: partnerKey });
  expect(after.body.phase).toBe('Cancelled');
});

test('an order whose run predates the stored status is answered by its workflow', async () => {
  const booking = directBooking(world, { externalReference: `PROJ-OLD-${world.suffix}` });
  const booked = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
  const { orderId, workflowId } = booked.body;
  const live = await waitForStatus(stack.client, workflowId, (s) => s.phase === 'AwaitingShipment' && s.emailsSent.length > 0);
  await stack.db('orders').where({ id: orderId }).update({ status_document: null, status_version: null });

  const read = await api.call('GET', `/v1/orders/${orderId}`, { key: partnerKey });
  expect(read.status).toBe(200);
  expect(read.headers.get('order-status-source')).toBe('workflow');
  expect(statusOnly(read.body)).toEqual(live);

  // Its next step (the perpetual line ships, then is provisioned) writes the status again: Postgres answers from then on.
  await api.call('POST', `/v1/orders/${orderId}/shipments`, { key: partnerKey, body: { lineNumber: 1, shippedOn: '2026-04-15' } });
  await expectProjectionMatchesWorkflow(orderId, workflowId, (s) => s.lines[0].state === 'provisioned');
});

test('live must be a boolean', async () => {
  const res = await api.call('GET', `/v1/orders/${'0'.repeat(20)}?live=maybe`, { key: partnerKey });
  expect(res.status).toBe(400);
  expect(res.body.errors[0].field).toContain('live');
});
