/**
 * S10 Never dropped: nobody assigns the Smart Account of a held, Smart Account-mandatory order →
 * numbered reminders keep coming, one escalation goes to the partner's distributor, the workflow
 * stays open and small (continue-as-new keeps each run's history bounded, the state travels
 * whole), and an order that continued as new still completes once assigned and shipped (R5).
 * Also: a held order with no Smart Account-mandatory line gets no transfer mail but still waits.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { assignSmartAccount } from '../../src/orders/order-actions';
import type { OrderLineInput } from '../../src/orders/order';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { orderStatusQuery } from '../../src/orders/workflow-api';
import { createTestWorld } from '../helpers/fixtures';
import {
  CLASSIC_LINE,
  book,
  entitlementsOf,
  heldBooking,
  listExecutions,
  outboxKeys,
  pollUntil,
  reminderNumberOf,
  remindersIn,
  shipLines,
  waitForStatus,
} from '../helpers/orders';
import { mailOf, receivedNow, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const REMINDER_INTERVAL_MS = 1_000;
const ESCALATION_AFTER_MS = 3_000;
const HISTORY_EVENT_LIMIT = 40;
/**
 * The workflow checks the bound once per turn of its loop, and one turn can add an escalation, a
 * reminder, a timer and their workflow tasks: a run may pass the limit by that much, no more.
 */
const HISTORY_MARGIN = 20;

const stack = useTestStack(__filename, {
  reminderIntervalMs: REMINDER_INTERVAL_MS,
  escalationAfterMs: ESCALATION_AFTER_MS,
  historyEventLimit: HISTORY_EVENT_LIMIT,
});

async function historyLengthOf(handle: WorkflowHandle, runId?: string): Promise<{ events: number; lastEvent: string | undefined }> {
  const target = runId ? stack.client.workflow.getHandle(handle.workflowId, runId) : handle;
  const history = await target.fetchHistory();
  const events = history.events ?? [];
  const last = events[events.length - 1];
  const lastEvent = last ? Object.keys(last).find((k) => k.endsWith('EventAttributes') && (last as Record<string, unknown>)[k]) : undefined;
  return { events: events.length, lastEvent };
}

test('S10: nobody assigns → numbered reminders, one escalation to the distributor, bounded history across continue-as-new; then it still completes', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const pha = world.holdingAccountId;
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world));
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const firstRunId = (await handle.describe()).runId;

  // Reminders keep coming, numbered, each with its own idempotency key, all to the partner.
  const reminders = await waitForMail(mailOf(booked.orderId, 'transfer-reminder'), 3, 25_000);
  expect(reminders.length).toBeGreaterThanOrEqual(3);
  const firstThree = [...reminders].sort((a, b) => reminderNumberOf(a) - reminderNumberOf(b)).slice(0, 3);
  expect(firstThree.map(reminderNumberOf)).toEqual([1, 2, 3]);
  expect(firstThree.map((m) => m.subject)).toEqual(
    [1, 2, 3].map((n) => `Reminder ${n}: order PO-${world.suffix} is still in your holding account`),
  );
  expect(new Set(reminders.map((m) => m.headers['x-idempotency-key'])).size).toBe(reminders.length);
  for (const m of reminders) expect(m.to).toEqual([world.partnerEmail]);

  // One escalation after escalationAfterMs, to the partner's distributor (two-tier link).
  const escalations = await waitForMail(mailOf(booked.orderId, 'escalation'), 1, 20_000);
  expect(escalations).toHaveLength(1);
  expect(escalations[0].to).toEqual([world.distributorEmail]);
  expect(escalations[0].subject).toMatch(
    new RegExp(
      `^Escalation: order PO-${world.suffix} of Partner ${world.suffix} has waited in a holding account since \\d{4}-\\d{2}-\\d{2}$`,
    ),
  );
  expect(escalations[0].text).toContain('The order is kept; it is never dropped.');

  // The workflow continues as new (at least once) and stays running.
  const continued = await pollUntil(
    () => handle.describe(),
    (d) => d.runId !== firstRunId,
    'continue-as-new',
    30_000,
  );
  expect(continued.status.name).toBe('RUNNING');
  const firstRun = await historyLengthOf(handle, firstRunId);
  expect(firstRun.lastEvent).toBe('workflowExecutionContinuedAsNewEventAttributes');
  expect(firstRun.events).toBeGreaterThanOrEqual(HISTORY_EVENT_LIMIT);
  expect(firstRun.events).toBeLessThan(HISTORY_EVENT_LIMIT + HISTORY_MARGIN);

  // After the continue-as-new the state is whole: still held, emails kept, numbering continues.
  const afterCan = await handle.query(orderStatusQuery);
  expect(afterCan.phase).toBe('AwaitingSmartAccount');
  expect(afterCan.waitingFor).toBe('PartnerTransfer');
  expect(afterCan.holdingAccountId).toBe(pha);
  expect(afterCan.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'held', pha, 'EMEA'],
    [2, 'held', pha, 'EMEA'],
  ]);
  expect(afterCan.emailsSent[0]).toBe('transfer-needed');
  const remindersAfterCan = remindersIn(afterCan).length;
  expect(remindersAfterCan).toBeGreaterThanOrEqual(1);
  const nextNumber = remindersAfterCan + 1;
  const laterStatus = await waitForStatus(
    stack.client,
    booked.workflowId,
    (s) => s.emailsSent.includes(`transfer-reminder:${nextNumber + 1}`),
    20_000,
  );
  const laterDescription = await handle.describe();
  expect(laterDescription.status.name).toBe('RUNNING');
  // Reminders numbered 1..N without a gap or a repeat across runs; one escalation; nothing twice.
  const numbers = remindersIn(laterStatus).map((p) => Number(p.split(':')[1]));
  expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  expect(laterStatus.emailsSent.filter((p) => p === 'escalation')).toHaveLength(1);
  expect(laterStatus.emailsSent.filter((p) => p === 'transfer-needed')).toHaveLength(1);
  expect(new Set(laterStatus.emailsSent).size).toBe(laterStatus.emailsSent.length);
  // The mail that arrived matches: each reminder number once, received as numbered.
  const receivedNumbers = receivedNow(mailOf(booked.orderId, 'transfer-reminder'))
    .map(reminderNumberOf)
    .sort((a, b) => a - b);
  expect(receivedNumbers.slice(0, numbers.length)).toEqual(numbers);
  expect(new Set(receivedNumbers).size).toBe(receivedNumbers.length);
  expect(await outboxKeys(stack.db, booked.orderId, 'escalation', 'sent')).toHaveLength(1);
  expect(receivedNow(mailOf(booked.orderId, 'escalation'))).toHaveLength(1);

  // Every run stays short: the current one, and each closed one.
  const current = await historyLengthOf(handle);
  expect(current.events).toBeLessThan(HISTORY_EVENT_LIMIT + HISTORY_MARGIN);
  const runs = (await listExecutions(stack.client, `WorkflowId="${booked.workflowId}"`)).map((execution) => execution.runId);
  for (const runId of runs) {
    const run = await historyLengthOf(handle, runId);
    expect(run.events).toBeLessThan(HISTORY_EVENT_LIMIT + HISTORY_MARGIN);
  }

  // Operators still find it after continue-as-new (search attributes travel with the order).
  const described = await pollUntil(
    () => handle.describe(),
    (d) => d.searchAttributes.OrderStatus?.[0] === 'AwaitingSmartAccount' && d.searchAttributes.HoldingAccountId?.[0] === pha,
    'search attributes after continue-as-new',
  );
  expect(described.searchAttributes).toMatchObject({
    OrderId: [booked.orderId],
    ExternalReference: [`PO-${world.suffix}`],
    PartnerId: [world.partnerId],
    OrderStatus: ['AwaitingSmartAccount'],
    HoldingAccountId: [pha],
  });

  // An order that continued as new mid-wait still completes: assign, ship → Fulfilled.
  const assigned = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    actingPartnerId: world.partnerId,
  });
  expect(assigned.phase).toBe('AwaitingShipment');
  expect(assigned.lines.map((l) => [l.lineNumber, l.state, l.accountId])).toEqual([
    [1, 'deposited', world.smartAccountId],
    [2, 'deposited', world.smartAccountId],
  ]);
  await shipLines(stack.client, booked.orderId, '2026-06-01');
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'provisioned', world.smartAccountId, 'Finance'],
    [2, 'provisioned', world.smartAccountId, 'Finance'],
  ]);
  expect(result.lines[1].subscription).toEqual({ startsOn: '2026-06-01', endsOn: '2029-06-01' });
  expect(result.emailsSent.filter((p) => p === 'escalation')).toHaveLength(1);
  expect(result.emailsSent.slice(-2)).toEqual([`deposit-confirmation:${world.smartAccountId}`, 'order-fulfilled']);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 10 },
  ]);
  const fulfilled = await waitForMail(mailOf(booked.orderId, 'order-fulfilled'), 3);
  expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.holdingMemberEmail, world.partnerEmail].sort());
  // Booked once, never re-booked by a new run.
  expect(await stack.db('order_events').where({ order_id: booked.orderId, type: 'booked' })).toHaveLength(1);
  expect(await stack.db('order_events').where({ order_id: booked.orderId, type: 'held_in_holding_account' })).toHaveLength(1);
});

test('a held order with no Smart Account-mandatory line gets no transfer mail and no reminders, and still waits for an assignment', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const pha = world.holdingAccountId;
  const optionalSmartLine: OrderLineInput = {
    lineNumber: 1,
    sku: 'ISR4K-APP-PERP',
    quantity: 3,
    licenseType: 'smart',
    smartAccountMandatory: false,
  };
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world, { lines: [optionalSmartLine, CLASSIC_LINE] }));
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const held = await waitForStatus(stack.client, booked.workflowId, (s) => s.phase === 'AwaitingSmartAccount');
  expect(held.lines.map((l) => [l.lineNumber, l.state, l.accountId])).toEqual([
    [1, 'held', pha],
    [3, 'held', pha],
  ]);

  // Longer than the escalation delay and several reminder intervals: nothing is sent.
  await new Promise((resolve) => setTimeout(resolve, ESCALATION_AFTER_MS + 2 * REMINDER_INTERVAL_MS));
  const waiting = await handle.query(orderStatusQuery);
  expect(waiting.phase).toBe('AwaitingSmartAccount');
  expect(waiting.waitingFor).toBe('PartnerTransfer');
  expect(waiting.emailsSent).toEqual([]);
  expect(receivedNow(mailOf(booked.orderId, 'transfer-needed'))).toEqual([]);
  expect(receivedNow(mailOf(booked.orderId, 'transfer-reminder'))).toEqual([]);
  expect(await outboxKeys(stack.db, booked.orderId, 'transfer-needed', 'sent')).toEqual([]);
  expect(await outboxKeys(stack.db, booked.orderId, 'transfer-reminder', 'sent')).toEqual([]);
  expect((await handle.describe()).status.name).toBe('RUNNING');
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: pha, path: 'EMEA', status: 'held', quantity: 3 },
    { line_number: 3, account_id: pha, path: 'EMEA', status: 'held', quantity: 1 },
  ]);

  // It still takes an assignment whenever it comes, and completes.
  const assigned = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    actingPartnerId: world.partnerId,
  });
  expect(assigned.phase).toBe('AwaitingShipment');
  expect(assigned.lines.map((l) => [l.lineNumber, l.state, l.accountId])).toEqual([
    [1, 'deposited', world.smartAccountId],
    [3, 'deposited', world.smartAccountId],
  ]);
  await shipLines(stack.client, booked.orderId, '2026-06-02', [1, 3]);
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(remindersIn(result)).toEqual([]);
  expect(result.emailsSent).not.toContain('transfer-needed');
});
