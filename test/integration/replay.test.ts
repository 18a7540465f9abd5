/**
 * Determinism guard. Every history committed under test/histories/ (recorded from the scenario
 * flows below) must replay against the current workflow code: a change that would break orders
 * already running fails here, and must go behind patched(). The flows are also run fresh and
 * their new histories replayed; `RECORD_HISTORIES=1 npm test -- --testPathPattern replay`
 * writes them to test/histories/ (do that only for a deliberate, patched change).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { activateSmartAccount, submitCustomerChoice } from '../../src/accounts/customer-links';
import { assignSmartAccount, cancelOrder, reportShipment } from '../../src/orders/order-actions';
import { dataConverterFor } from '../../src/temporal/connect';
import { activationWorkflowId } from '../../src/orders/workflow-api';
import { createTransferBatch } from '../../src/orders/transfer-batches';
import { TRANSFER_BATCH_WORKFLOW_TYPE, type TransferBatchInput } from '../../src/orders/transfer-batch-api';
import { createTestWorld, registerContact, type TestWorld } from '../helpers/fixtures';
import { activationToken, delegationLink, isActivationMail } from '../helpers/links';
import { PERPETUAL_LINE, TERM_LINE, book, heldBooking, listExecutions, shipLines, waitForPhase, waitForStatus } from '../helpers/orders';
import { openHistory } from '../helpers/payloads';
import { uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const HISTORIES = join(__dirname, '..', 'histories');

// Short cadences and a low history bound, so the held flow also records a continue-as-new.
// One order a chunk, two chunks a run: the transfer batch records a continue-as-new too.
const stack = useTestStack(__filename, {
  reminderIntervalMs: 400,
  escalationAfterMs: 1_200,
  historyEventLimit: 40,
  orderTransfer: { concurrency: 2, chunkSize: 1, chunksPerRun: 2 },
});

async function replay(histories: Array<{ workflowId: string; history: unknown }>): Promise<void> {
  // The payload codec, as in production: new histories are sealed, committed ones were opened.
  const results = Worker.runReplayHistories(
    { workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! }, dataConverter: dataConverterFor(stack.config) },
    histories,
  );
  const failures: string[] = [];
  for await (const result of results) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
}

test('every committed history replays against the current workflow code', async () => {
  const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThanOrEqual(7);
  await replay(
    files.map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8'))),
    })),
  );
});

/** Two held orders and `refusedOrderId` transferred as one batch; resolves with the batch's workflow ID once it is done. */
async function transferBatch(world: TestWorld, refusedOrderId: string): Promise<string> {
  const held = [];
  for (const i of [1, 2]) {
    const order = await book(stack.client, stack.taskQueue, heldBooking(world, { externalReference: `R-BATCH-${i}-${world.suffix}` }));
    await waitForPhase(stack.client, order.workflowId, 'AwaitingSmartAccount');
    held.push(order.orderId);
  }
  const { batch } = await createTransferBatch(stack.db, {
    partnerId: world.partnerId,
    requestKey: `replay-${world.suffix}`,
    accountId: world.smartAccountId,
    orderIds: [held[0], refusedOrderId, held[1]],
  });
  const input: TransferBatchInput = { batchId: batch.id, chunksPerRun: stack.config.orderTransfer.chunksPerRun };
  await stack.client.workflow.execute(TRANSFER_BATCH_WORKFLOW_TYPE, {
    taskQueue: stack.taskQueue,
    workflowId: batch.workflow_id,
    args: [input],
  });
  return batch.workflow_id;
}

test('the scenario flows run now replay too (and are recorded on request)', async () => {
  const recorded: Array<{ name: string; workflowId: string }> = [];
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const lines = [PERPETUAL_LINE, TERM_LINE];
  const ship = (orderId: string) =>
    shipLines(
      stack.client,
      orderId,
      '2026-04-15',
      lines.map((line) => line.lineNumber),
    );

  // Direct (S1).
  const direct = await book(stack.client, stack.taskQueue, {
    externalReference: `R-DIRECT-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
    lines,
  });
  await waitForPhase(stack.client, direct.workflowId, 'AwaitingShipment');
  await ship(direct.orderId);
  await stack.client.workflow.getHandle(direct.workflowId).result();
  recorded.push({ name: 'order-direct', workflowId: direct.workflowId });

  // Held, reminded, escalated, continued as new, assigned, shipped (S2, S3, S10).
  const held = await book(stack.client, stack.taskQueue, {
    externalReference: `R-HELD-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: world.holdingAccountId, virtualAccountPath: 'EMEA' },
    lines,
  });
  const heldHandle = stack.client.workflow.getHandle(held.workflowId);
  await reportShipment(stack.client, held.orderId, { lineNumber: 2, shippedOn: '2026-04-01' });
  const firstRun = (await heldHandle.describe()).runId;
  await waitForStatus(stack.client, held.workflowId, (s) => s.emailsSent.includes('escalation'), 30_000);
  for (let i = 0; i < 100 && (await heldHandle.describe()).runId === firstRun; i++) await new Promise((r) => setTimeout(r, 200));
  expect((await heldHandle.describe()).runId).not.toBe(firstRun);
  await assignSmartAccount(stack.client, held.orderId, { accountId: world.smartAccountId, actingPartnerId: world.partnerId });
  await reportShipment(stack.client, held.orderId, { lineNumber: 1, shippedOn: '2026-04-20' });
  await heldHandle.result();
  recorded.push({ name: 'order-held-reminded-assigned', workflowId: held.workflowId });

  // Cancelled while held (S9).
  const cancelled = await book(stack.client, stack.taskQueue, {
    externalReference: `R-CANCEL-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: world.holdingAccountId },
    lines,
  });
  await waitForPhase(stack.client, cancelled.workflowId, 'AwaitingSmartAccount');
  await cancelOrder(stack.client, cancelled.orderId, { reason: 'customer withdrew' });
  await stack.client.workflow.getHandle(cancelled.workflowId).result();
  recorded.push({ name: 'order-cancelled', workflowId: cancelled.workflowId });

  // A transfer batch of two held orders and the cancelled one (refused), in two runs.
  recorded.push({ name: 'order-transfer-batch', workflowId: await transferBatch(world, cancelled.orderId) });

  // Delegated: the contact picks the existing Smart Account (S4).
  const delegated = await book(stack.client, stack.taskQueue, {
    externalReference: `R-DELEGATE-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'delegate' },
    endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' },
    lines,
  });
  const { token: delegationToken } = await delegationLink(stack, delegated.orderId, world.customerEmail);
  await submitCustomerChoice({ db: stack.db, client: stack.client }, delegationToken, {
    kind: 'existing',
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
  });
  await ship(delegated.orderId);
  await stack.client.workflow.getHandle(delegated.workflowId).result();
  recorded.push({ name: 'order-delegated', workflowId: delegated.workflowId });

  // Requested on the customer's behalf, activated (S5), with the activation entity workflow.
  const domain = `new-${world.suffix}.test`;
  await registerContact(stack.db, { email: `it@${domain}`, fullName: 'Ira Admin', registeredId: `ira-${world.suffix}` });
  const requested = await book(stack.client, stack.taskQueue, {
    externalReference: `R-REQUEST-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'request_smart_account', domain },
    endCustomerContact: { email: `it@${domain}`, fullName: 'Ira Admin' },
    lines,
  });
  const [activation] = await waitForMail(isActivationMail(`it@${domain}`));
  const { accountId } = await activateSmartAccount(
    { db: stack.db, client: stack.client, taskQueue: stack.taskQueue },
    activationToken(stack, activation),
  );
  await waitForPhase(stack.client, requested.workflowId, 'AwaitingShipment');
  await ship(requested.orderId);
  await stack.client.workflow.getHandle(requested.workflowId).result();
  await stack.client.workflow.getHandle(activationWorkflowId(accountId)).result();
  recorded.push({ name: 'order-requested-account', workflowId: requested.workflowId });
  recorded.push({ name: 'smart-account-activation', workflowId: activationWorkflowId(accountId) });

  // Every run of each workflow: the first one and those that continued as new with carried state.
  const histories = [];
  for (const { name, workflowId } of recorded) {
    const runs = await listExecutions(stack.client, `WorkflowId = '${workflowId}'`);
    runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    for (const [index, run] of runs.entries()) {
      const history = await stack.client.workflow.getHandle(workflowId, run.runId).fetchHistory();
      histories.push({ name: runs.length > 1 ? `${name}.run${index + 1}` : name, workflowId: `${name}.run${index + 1}`, history });
    }
  }
  await replay(histories);
  if (process.env.RECORD_HISTORIES === '1') {
    mkdirSync(HISTORIES, { recursive: true });
    // Opened before writing: the key of this test run will not exist at the next one.
    for (const { name, history } of histories) {
      writeFileSync(join(HISTORIES, `${name}.json`), historyToJSON(await openHistory(history, stack.config.payloadEncryptionKeys)) + '\n');
    }
  }
}, 180_000);
