/**
 * Batch transfers (POST /v1/order-transfers) on the real stack: held orders, one request, every
 * order assigned by its own Update; progress rows in Postgres (succeeded, refused with the
 * order's reason, pending); a repeated request is the same batch; only the partner that owns
 * the orders may ask; and a worker stopped mid-batch leaves no order updated twice.
 */
import { cancelOrder } from '../../src/orders/order-actions';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { TRANSFER_BATCH_WORKFLOW_TYPE, transferBatchWorkflowId } from '../../src/orders/transfer-batch-api';
import { orderWorkflowId } from '../../src/orders/workflow-api';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { replaceWorker } from '../helpers/license-use';
import { book, heldBooking, listExecutions, pollUntil, waitForPhase } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

// Small chunks and two at a time, so a handful of orders spans several chunks and runs.
const stack = useTestStack(__filename, {
  reminderIntervalMs: 10 * 60_000,
  escalationAfterMs: 60 * 60_000,
  orderTransfer: { concurrency: 2, chunkSize: 3, chunksPerRun: 2 },
});
const api = useTestApi(stack);

/** `count` orders parked in the world's holding account, awaiting the customer's Smart Account. */
async function parkOrders(world: TestWorld, count: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const booked = await book(stack.client, stack.taskQueue, heldBooking(world, { externalReference: `TB-${tag}-${i}-${world.suffix}` }));
    ids.push(booked.orderId);
  }
  for (const id of ids) await waitForPhase(stack.client, orderWorkflowId(id), 'AwaitingSmartAccount');
  return ids;
}

function transferBody(world: TestWorld, orderIds: string[], requestKey: string) {
  return { requestKey, accountId: world.smartAccountId, virtualAccountPath: 'Finance', orderIds };
}

async function awaitCompleted(key: string, batchId: string, timeoutMs = 60_000) {
  const res = await pollUntil(
    () => api.call('GET', `/v1/order-transfers/${batchId}`, { key }),
    (r) => r.body?.status === 'completed',
    `transfer batch ${batchId} completed`,
    timeoutMs,
  );
  return res.body;
}

/** How many assignSmartAccount Updates each order's history accepted (every run). */
async function acceptedAssignments(orderId: string): Promise<number> {
  let accepted = 0;
  for (const run of await listExecutions(stack.client, `WorkflowId = '${orderWorkflowId(orderId)}'`)) {
    const history = await stack.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    accepted += (history.events ?? []).filter(
      (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'assignSmartAccount',
    ).length;
  }
  return accepted;
}

test('held orders -> one request -> all assigned, a refused one with its reason; the same request again is the same batch', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const key = await api.keyFor('partner', world.partnerId);
  const held = await parkOrders(world, 5, 'ok');
  const [cancelled] = await parkOrders(world, 1, 'cancelled');
  await cancelOrder(stack.client, cancelled, { reason: 'customer withdrew' });
  const orderIds = [held[0], held[1], cancelled, ...held.slice(2)];

  const started = await api.call('POST', '/v1/order-transfers', { key, body: transferBody(world, orderIds, `rk-${world.suffix}`) });
  expect(started.status).toBe(202);
  const { batchId } = started.body;
  expect(started.body).toMatchObject({ total: 6, partnerId: world.partnerId, accountId: world.smartAccountId, status: 'running' });
  expect(started.headers.get('location')).toBe(`/v1/order-transfers/${batchId}`);

  const done = await awaitCompleted(key, batchId);
  expect(done).toMatchObject({
    succeeded: 5,
    refused: 1,
    pending: 0,
    refusals: [{ orderId: cancelled, reason: 'the order is cancelled' }],
  });
  expect(done.finishedAt).not.toBeNull();
  const rows = await stack.db('order_transfer_items').where({ batch_id: batchId }).orderBy('position').select('order_id', 'state');
  expect(rows).toEqual(orderIds.map((id) => ({ order_id: id, state: id === cancelled ? 'refused' : 'succeeded' })));
  for (const id of held) {
    const status = await waitForPhase(stack.client, orderWorkflowId(id), 'AwaitingShipment');
    expect(status.customerAccountId).toBe(world.smartAccountId);
    expect(await acceptedAssignments(id)).toBe(1);
  }
  // Two chunks of three, two chunks a run: the run that found nothing left is the second.
  const runs = await listExecutions(stack.client, `WorkflowId = '${transferBatchWorkflowId(batchId)}'`);
  expect(runs.length).toBe(2);

  // The same request again: the same batch (200), nothing new started; another body: 409.
  const again = await api.call('POST', '/v1/order-transfers', { key, body: transferBody(world, orderIds, `rk-${world.suffix}`) });
  expect([again.status, again.body.batchId, again.body.succeeded]).toEqual([200, batchId, 5]);
  expect(await listExecutions(stack.client, `WorkflowId = '${transferBatchWorkflowId(batchId)}'`)).toHaveLength(2);
  const other = await api.call('POST', '/v1/order-transfers', { key, body: transferBody(world, held, `rk-${world.suffix}`) });
  expect([other.status, other.body.error]).toEqual([409, 'TransferConflict']);
}, 120_000);

test("only the orders' own partner may transfer them and see the batch; bad input is a 400 naming the field", async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const owner = await api.keyFor('partner', world.partnerId);
  const stranger = await api.keyFor('partner', world.otherPartnerId);
  const orderIds = await parkOrders(world, 1, 'auth');
  const body = transferBody(world, orderIds, `auth-${world.suffix}`);

  const foreign = await api.call('POST', '/v1/order-transfers', { key: stranger, body });
  expect([foreign.status, foreign.body.message]).toEqual([403, expect.stringContaining(orderIds[0])]);
  const unknown = await api.call('POST', '/v1/order-transfers', { key: owner, body: { ...body, orderIds: ['0123456789abcdef0123'] } });
  expect(unknown.status).toBe(404);
  const inactive = await api.call('POST', '/v1/order-transfers', { key: owner, body: { ...body, accountId: world.pendingSmartAccountId } });
  expect([inactive.status, inactive.body.error]).toEqual([422, 'AccountNotActive']);
  const malformed = await api.call('POST', '/v1/order-transfers', { key: owner, body: { ...body, orderIds: ['nope'] } });
  expect(malformed.status).toBe(400);
  expect(malformed.body.errors.map((e: { field: string }) => e.field)).toContain('orderIds[0]');
  // Nothing was written for any of them.
  expect(await stack.db('order_transfer_batches').where({ partner_id: world.otherPartnerId })).toHaveLength(0);
  expect(await stack.db('order_transfer_batches').where({ partner_id: world.partnerId })).toHaveLength(0);

  const started = await api.call('POST', '/v1/order-transfers', { key: owner, body });
  expect(started.status).toBe(202);
  expect((await api.call('GET', `/v1/order-transfers/${started.body.batchId}`, { key: stranger })).status).toBe(403);
  await awaitCompleted(owner, started.body.batchId);
}, 90_000);

test('a batch workflow whose batch row does not exist fails at once with the reason, not retried forever', async () => {
  const batchId = `missing-${uniqueSuffix()}`;
  const handle = await stack.client.workflow.start(TRANSFER_BATCH_WORKFLOW_TYPE, {
    taskQueue: stack.taskQueue,
    workflowId: transferBatchWorkflowId(batchId),
    args: [{ batchId }],
  });
  const failure = await handle.result().catch((err: WorkflowFailedError) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const cause = (failure as WorkflowFailedError).cause?.cause as ApplicationFailure;
  expect([cause.type, cause.nonRetryable, cause.message]).toEqual([
    'UnknownTransferBatch',
    true,
    `transfer batch ${batchId} does not exist`,
  ]);
}, 30_000);

// Last in the file: it stops this file's worker.
test('a worker stopped mid-batch: a new one resumes the batch, continued as new, and no order is updated twice', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const key = await api.keyFor('partner', world.partnerId);
  const orderIds = await parkOrders(world, 10, 'crash');
  const started = await api.call('POST', '/v1/order-transfers', { key, body: transferBody(world, orderIds, `crash-${world.suffix}`) });
  expect(started.status).toBe(202);
  const { batchId } = started.body;
  await pollUntil(
    () => api.call('GET', `/v1/order-transfers/${batchId}`, { key }),
    (r) => r.body.succeeded >= 2,
    'the batch under way',
  );
  const replacement = await replaceWorker(stack);
  try {
    const done = await awaitCompleted(key, batchId, 90_000);
    expect(done).toMatchObject({ succeeded: 10, refused: 0, pending: 0 });
    for (const id of orderIds) expect(await acceptedAssignments(id)).toBe(1);
    // Four chunks of at most three, two a run: the batch continued as new with its cursor.
    const runs = await listExecutions(stack.client, `WorkflowId = '${transferBatchWorkflowId(batchId)}'`);
    expect(runs.length).toBeGreaterThanOrEqual(2);
  } finally {
    await replacement.stop();
  }
}, 150_000);
