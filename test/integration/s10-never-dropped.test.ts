/**
 * S10 Never dropped: nobody assigns the Smart Account of a held, Smart Account-mandatory order →
 * numbered reminders keep coming, one escalation goes to the partner's distributor, the workflow
 * stays open and small (continue-as-new keeps each run's history bounded, the state travels
 * whole), and an order that continued as new still completes once assigned and shipped (R5).
 * Also: a held order with no Smart Account-mandatory line gets no transfer mail but still waits.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { assignSmartAccount, reportShipment } from '../../src/client/order-actions';
import type { Db } from '../../src/db/knex';
import type { OrderLineInput } from '../../src/domain/order';
import type { OrderStatus } from '../../src/domain/order-lifecycle';
import { readCaughtMail, type CaughtMail } from '../../src/dev/mail-catcher';
import { orderStatusQuery } from '../../src/temporal/order-workflow-api';
import { createTestWorld } from '../helpers/fixtures';
import { CLASSIC_LINE, PERPETUAL_LINE, TERM_LINE, book, entitlementsOf, waitForStatus } from '../helpers/orders';
import { startTestStack, uniqueSuffix, type TestStack } from '../helpers/stack';

const REMINDER_INTERVAL_MS = 1_000;
const ESCALATION_AFTER_MS = 3_000;
const HISTORY_EVENT_LIMIT = 40;
/**
 * The workflow checks the bound once per turn of its loop, and one turn can add an escalation, a
 * reminder, a timer and their workflow tasks: a run may pass the limit by that much, no more.
 */
const HISTORY_MARGIN = 20;

let stack: TestStack;
let collector: NodeJS.Timeout | undefined;
beforeAll(async () => {
  stack = await startTestStack(__filename, {
    reminderIntervalMs: REMINDER_INTERVAL_MS,
    escalationAfterMs: ESCALATION_AFTER_MS,
    historyEventLimit: HISTORY_EVENT_LIMIT,
  });
  collector = setInterval(collectMail, 50);
});
afterAll(async () => {
  if (collector) clearInterval(collector);
  await stack?.stop();
});

/**
 * Every message the SMTP catcher received, kept once read. The catcher's directory is shared by
 * every test run in this checkout and another run's global setup empties it (see the report), so
 * mail is collected continuously instead of re-read from the directory at assertion time.
 */
const collected = new Map<string, CaughtMail>();
function collectMail(): CaughtMail[] {
  try {
    for (const mail of readCaughtMail(process.env.TEST_MAIL_DIR!)) collected.set(mail.file, mail);
  } catch {
    // A file half-written or removed while listing: the next poll reads it.
  }
  const order = (file: string) => file.replace(/\.eml$/, '').split('-').map(Number);
  return [...collected.values()].sort((a, b) => {
    const [ta, pa, sa] = order(a.file);
    const [tb, pb, sb] = order(b.file);
    return ta - tb || pa - pb || sa - sb;
  });
}

function orderMail(orderId: string, template?: string): (mail: CaughtMail) => boolean {
  return (m) => m.headers['x-order-id'] === orderId && (template === undefined || m.headers['x-email-template'] === template);
}

function receivedNow(orderId: string, template?: string): CaughtMail[] {
  return collectMail().filter(orderMail(orderId, template));
}

async function waitForMail(match: (mail: CaughtMail) => boolean, count = 1, timeoutMs = 20_000): Promise<CaughtMail[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = collectMail().filter(match);
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function reminderNumberOf(mail: CaughtMail): number {
  const match = /:transfer-reminder:(\d+):/.exec(mail.headers['x-idempotency-key'] ?? '');
  if (!match) throw new Error(`not a reminder key: ${mail.headers['x-idempotency-key']}`);
  return Number(match[1]);
}

function remindersIn(status: OrderStatus): string[] {
  return status.emailsSent.filter((purpose) => purpose.startsWith('transfer-reminder:'));
}

async function pollUntil<T>(read: () => Promise<T>, until: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (until(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen in ${timeoutMs} ms; last value: ${JSON.stringify(last)}; last error: ${String(lastError)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function historyLengthOf(handle: WorkflowHandle, runId?: string): Promise<{ events: number; lastEvent: string | undefined }> {
  const target = runId ? stack.client.workflow.getHandle(handle.workflowId, runId) : handle;
  const history = await target.fetchHistory();
  const events = history.events ?? [];
  const last = events[events.length - 1];
  const lastEvent = last ? Object.keys(last).find((k) => k.endsWith('EventAttributes') && (last as Record<string, unknown>)[k]) : undefined;
  return { events: events.length, lastEvent };
}

async function outboxKeys(db: Db, orderId: string, template: string): Promise<string[]> {
  return db('email_outbox').where({ order_id: orderId, template, status: 'sent' }).orderBy('id').pluck('idempotency_key');
}

test('S10: nobody assigns → numbered reminders, one escalation to the distributor, bounded history across continue-as-new; then it still completes', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const pha = world.holdingAccountId;
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: pha, virtualAccountPath: 'EMEA' },
    lines: [PERPETUAL_LINE, TERM_LINE],
  });
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const firstRunId = (await handle.describe()).runId;

  // Reminders keep coming, numbered, each with its own idempotency key, all to the partner.
  const reminders = await waitForMail(orderMail(booked.orderId, 'transfer-reminder'), 3, 25_000);
  expect(reminders.length).toBeGreaterThanOrEqual(3);
  const firstThree = [...reminders].sort((a, b) => reminderNumberOf(a) - reminderNumberOf(b)).slice(0, 3);
  expect(firstThree.map(reminderNumberOf)).toEqual([1, 2, 3]);
  expect(firstThree.map((m) => m.subject)).toEqual([1, 2, 3].map((n) => `Reminder ${n}: order PO-${world.suffix} is still in your holding account`));
  expect(new Set(reminders.map((m) => m.headers['x-idempotency-key'])).size).toBe(reminders.length);
  for (const m of reminders) expect(m.to).toEqual([world.partnerEmail]);

  // One escalation after escalationAfterMs, to the partner's distributor (two-tier link).
  const escalations = await waitForMail(orderMail(booked.orderId, 'escalation'), 1, 20_000);
  expect(escalations).toHaveLength(1);
  expect(escalations[0].to).toEqual([world.distributorEmail]);
  expect(escalations[0].subject).toMatch(new RegExp(`^Escalation: order PO-${world.suffix} of Partner ${world.suffix} has waited in a holding account since \\d{4}-\\d{2}-\\d{2}$`));
  expect(escalations[0].text).toContain('The order is kept; it is never dropped.');

  // The workflow continues as new (at least once) and stays running.
  const continued = await pollUntil(() => handle.describe(), (d) => d.runId !== firstRunId, 'continue-as-new', 30_000);
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
  const receivedNumbers = receivedNow(booked.orderId, 'transfer-reminder').map(reminderNumberOf).sort((a, b) => a - b);
  expect(receivedNumbers.slice(0, numbers.length)).toEqual(numbers);
  expect(new Set(receivedNumbers).size).toBe(receivedNumbers.length);
  expect(await outboxKeys(stack.db, booked.orderId, 'escalation')).toHaveLength(1);
  expect(receivedNow(booked.orderId, 'escalation')).toHaveLength(1);

  // Every run stays short: the current one, and each closed one.
  const current = await historyLengthOf(handle);
  expect(current.events).toBeLessThan(HISTORY_EVENT_LIMIT + HISTORY_MARGIN);
  const runs: string[] = [];
  for await (const execution of stack.client.workflow.list({ query: `WorkflowId="${booked.workflowId}"` })) runs.push(execution.runId);
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
  await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-06-01' });
  await reportShipment(stack.client, booked.orderId, { lineNumber: 2, shippedOn: '2026-06-01' });
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
  const fulfilled = await waitForMail(orderMail(booked.orderId, 'order-fulfilled'), 3);
  expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.holdingMemberEmail, world.partnerEmail].sort());
  // Booked once, never re-booked by a new run.
  expect(await stack.db('order_events').where({ order_id: booked.orderId, type: 'booked' })).toHaveLength(1);
  expect(await stack.db('order_events').where({ order_id: booked.orderId, type: 'held_in_holding_account' })).toHaveLength(1);
});

test('a held order with no Smart Account-mandatory line gets no transfer mail and no reminders, and still waits for an assignment', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const pha = world.holdingAccountId;
  const optionalSmartLine: OrderLineInput = { lineNumber: 1, sku: 'ISR4K-APP-PERP', quantity: 3, licenseType: 'smart', smartAccountMandatory: false };
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: pha, virtualAccountPath: 'EMEA' },
    lines: [optionalSmartLine, CLASSIC_LINE],
  });
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
  expect(receivedNow(booked.orderId, 'transfer-needed')).toEqual([]);
  expect(receivedNow(booked.orderId, 'transfer-reminder')).toEqual([]);
  expect(await outboxKeys(stack.db, booked.orderId, 'transfer-needed')).toEqual([]);
  expect(await outboxKeys(stack.db, booked.orderId, 'transfer-reminder')).toEqual([]);
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
  await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-06-02' });
  await reportShipment(stack.client, booked.orderId, { lineNumber: 3, shippedOn: '2026-06-02' });
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(remindersIn(result)).toEqual([]);
  expect(result.emailsSent).not.toContain('transfer-needed');
});
