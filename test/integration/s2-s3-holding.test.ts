/**
 * S2 Holding: the customer's Smart Account is unknown → the licenses are held in the partner's
 * holding account (EMEA); the partner gets "transfer needed" then reminders; the partner assigns
 * the customer's Smart Account (Finance) → the licenses move, reminders stop; the lines ship →
 * provisioned, order fulfilled, partner, customer and holding-account member told (R4, R5, R6, R9).
 *
 * S3 Ship while held: a 36-month term line ships on D while in the holding account; the reminders
 * warn that its subscription is running; the Smart Account is assigned later → provisioned at
 * once, the subscription still starts on D (R7).
 */
import type { Client } from '@temporalio/client';
import { assignSmartAccount, reportShipment } from '../../src/client/order-actions';
import type { Db } from '../../src/db/knex';
import { daysBetween } from '../../src/domain/dates';
import type { OrderStatus } from '../../src/domain/order-lifecycle';
import { readCaughtMail, type CaughtMail } from '../../src/dev/mail-catcher';
import { orderStatusQuery } from '../../src/temporal/order-workflow-api';
import { createTestWorld } from '../helpers/fixtures';
import { PERPETUAL_LINE, TERM_LINE, book, entitlementsOf, eventTypes, waitForPhase, waitForStatus } from '../helpers/orders';
import { startTestStack, uniqueSuffix, type TestStack } from '../helpers/stack';

const REMINDER_INTERVAL_MS = 1_000;

let stack: TestStack;
let collector: NodeJS.Timeout | undefined;
beforeAll(async () => {
  // Reminders every second; escalation far away so these flows only see transfer mail.
  stack = await startTestStack(__filename, { reminderIntervalMs: REMINDER_INTERVAL_MS, escalationAfterMs: 10 * 60_000 });
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

/** Every message received so far for the order (and template), without waiting. */
function receivedNow(orderId: string, template?: string): CaughtMail[] {
  return collectMail().filter(orderMail(orderId, template));
}

/** Waits until `count` received messages match (or the time runs out) and returns those that do. */
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

async function listWorkflowIds(client: Client, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const execution of client.workflow.list({ query })) ids.push(execution.workflowId);
  return ids;
}

async function entitlementIds(db: Db, orderId: string): Promise<Array<{ line_number: number; id: string }>> {
  const rows = await db('entitlements as e')
    .join('order_lines as l', 'l.id', 'e.order_line_id')
    .where('l.order_id', orderId)
    .orderBy('l.line_number')
    .select('l.line_number', 'e.id');
  return rows.map((r) => ({ line_number: r.line_number, id: String(r.id) }));
}

/** The email outbox (one row per email and recipient) of the order for a template. */
async function outboxKeys(db: Db, orderId: string, template: string): Promise<string[]> {
  return db('email_outbox').where({ order_id: orderId, template }).orderBy('id').pluck('idempotency_key');
}

async function subscriptionsOf(db: Db, orderId: string) {
  return db('subscriptions as s')
    .join('order_lines as l', 'l.id', 's.order_line_id')
    .where('l.order_id', orderId)
    .orderBy('l.line_number')
    .select('s.id', 'l.line_number', 's.term_months', 's.starts_on', 's.ends_on', 's.created_at');
}

test('S2: a held order reminds the partner until the Smart Account is assigned, then transfers, activates and completes', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const pha = world.holdingAccountId;
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: pha, virtualAccountPath: 'EMEA' },
    lines: [PERPETUAL_LINE, TERM_LINE],
  });
  const handle = stack.client.workflow.getHandle(booked.workflowId);

  // R4: held in the partner's holding account, virtual account EMEA, waiting for the partner.
  const held = await waitForStatus(stack.client, booked.workflowId, (s) => s.phase === 'AwaitingSmartAccount' && s.emailsSent.includes('transfer-needed'));
  expect(held.waitingFor).toBe('PartnerTransfer');
  expect(held.holdingAccountId).toBe(pha);
  expect(held.customerAccountId).toBeUndefined();
  expect(held.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'held', pha, 'EMEA'],
    [2, 'held', pha, 'EMEA'],
  ]);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: pha, path: 'EMEA', status: 'held', quantity: 2 },
    { line_number: 2, account_id: pha, path: 'EMEA', status: 'held', quantity: 10 },
  ]);
  expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
    status: 'AwaitingSmartAccount',
    waiting_for: 'PartnerTransfer',
    holding_account_id: pha,
    account_id: null,
  });
  const heldEntitlementIds = await entitlementIds(stack.db, booked.orderId);

  // R5: "transfer needed" to the partner, once, then reminders on the configured cadence.
  const needed = await waitForMail(orderMail(booked.orderId, 'transfer-needed'), 1);
  expect(needed).toHaveLength(1);
  expect(needed[0].to).toEqual([world.partnerEmail]);
  expect(needed[0].subject).toBe(`Action needed: order PO-${world.suffix} is in your holding account and must be moved to the customer's Smart Account`);
  expect(needed[0].text).toContain(`deposited in Holding ${world.suffix}, virtual account EMEA`);
  const reminders = await waitForMail(orderMail(booked.orderId, 'transfer-reminder'), 1);
  expect(reminders.length).toBeGreaterThanOrEqual(1);
  expect(reminders[0].to).toEqual([world.partnerEmail]);
  expect(reminders[0].subject).toBe(`Reminder 1: order PO-${world.suffix} is still in your holding account`);
  expect(reminders[0].text).toContain(`has been waiting in Holding ${world.suffix}, virtual account EMEA since `);

  // Operators find it: search attributes on the execution, and the list query (visibility lags).
  const described = await pollUntil(
    () => handle.describe(),
    (d) => d.searchAttributes.OrderStatus?.[0] === 'AwaitingSmartAccount' && d.searchAttributes.HoldingAccountId?.[0] === pha,
    'search attributes OrderStatus=AwaitingSmartAccount and HoldingAccountId',
  );
  expect(described.searchAttributes).toMatchObject({
    OrderStatus: ['AwaitingSmartAccount'],
    HoldingAccountId: [pha],
    WaitingFor: ['PartnerTransfer'],
    PartnerId: [world.partnerId],
  });
  const listed = await pollUntil(
    () => listWorkflowIds(stack.client, `OrderStatus="AwaitingSmartAccount" AND HoldingAccountId="${pha}"`),
    (ids) => ids.length > 0,
    'list query by OrderStatus and HoldingAccountId',
  );
  expect(listed).toEqual([booked.workflowId]);

  // R6: the partner assigns the customer's Smart Account; the update answers with the new status.
  const assigned = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    actingPartnerId: world.partnerId,
  });
  const remindersAtAssignment = receivedNow(booked.orderId, 'transfer-reminder');
  const outboxRemindersAtAssignment = await outboxKeys(stack.db, booked.orderId, 'transfer-reminder');
  expect(outboxRemindersAtAssignment.length).toBeGreaterThanOrEqual(1);
  expect(assigned.phase).toBe('AwaitingShipment');
  expect(assigned.waitingFor).toBe('Shipment');
  expect(assigned.customerAccountId).toBe(world.smartAccountId);
  expect(assigned.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'deposited', world.smartAccountId, 'Finance'],
    [2, 'deposited', world.smartAccountId, 'Finance'],
  ]);
  // The same entitlement rows moved: now in the Smart Account, deposited, not yet active.
  expect(await entitlementIds(stack.db, booked.orderId)).toEqual(heldEntitlementIds);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 10 },
  ]);
  const transferred = await stack.db('order_events').where({ order_id: booked.orderId, type: 'transferred_to_customer_account' });
  expect(transferred).toHaveLength(1);
  expect(transferred[0].details).toMatchObject({ accountId: world.smartAccountId, virtualAccountPath: 'Finance', lines: [1, 2] });
  const confirmations = await waitForMail(orderMail(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());

  // Reminders stop: nothing new over several reminder intervals.
  await new Promise((resolve) => setTimeout(resolve, 3.5 * REMINDER_INTERVAL_MS));
  expect(receivedNow(booked.orderId, 'transfer-reminder')).toHaveLength(remindersAtAssignment.length);
  expect(await outboxKeys(stack.db, booked.orderId, 'transfer-reminder')).toEqual(outboxRemindersAtAssignment);
  const afterQuiet = await handle.query(orderStatusQuery);
  expect(remindersIn(afterQuiet)).toEqual(remindersIn(assigned));
  expect(afterQuiet.phase).toBe('AwaitingShipment');

  // R8: the lines ship → activated in the Smart Account; the order completes.
  await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-03-02' });
  await reportShipment(stack.client, booked.orderId, { lineNumber: 2, shippedOn: '2026-03-02' });
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.waitingFor).toBe('Nothing');
  expect(result.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'provisioned', world.smartAccountId, 'Finance'],
    [2, 'provisioned', world.smartAccountId, 'Finance'],
  ]);
  expect(result.lines[1].subscription).toEqual({ startsOn: '2026-03-02', endsOn: '2029-03-02' });
  expect(result.emailsSent[0]).toBe('transfer-needed');
  expect(result.emailsSent.slice(-2)).toEqual([`deposit-confirmation:${world.smartAccountId}`, 'order-fulfilled']);
  expect(await entitlementIds(stack.db, booked.orderId)).toEqual(heldEntitlementIds);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 10 },
  ]);
  expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
    status: 'Fulfilled',
    waiting_for: 'Nothing',
    account_id: world.smartAccountId,
    holding_account_id: pha,
  });
  expect(await eventTypes(stack.db, booked.orderId)).toEqual([
    'booked',
    'held_in_holding_account',
    'transferred_to_customer_account',
    'line_shipped',
    'line_shipped',
    'lines_provisioned',
  ]);

  // R9: fulfilment goes to the partner, the customer and the holding account's member.
  const fulfilled = await waitForMail(orderMail(booked.orderId, 'order-fulfilled'), 3);
  expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.holdingMemberEmail, world.partnerEmail].sort());
  expect(fulfilled[0].subject).toBe(`Order PO-${world.suffix} is fulfilled`);
  // Still no reminder after the assignment.
  expect(receivedNow(booked.orderId, 'transfer-reminder')).toHaveLength(remindersAtAssignment.length);
  const finalDescription = await pollUntil(
    () => handle.describe(),
    (d) => d.searchAttributes.OrderStatus?.[0] === 'Fulfilled',
    'search attribute OrderStatus=Fulfilled',
  );
  expect(finalDescription.status.name).toBe('COMPLETED');
  expect(finalDescription.searchAttributes).toMatchObject({ CustomerDomain: [world.domain], HoldingAccountId: [pha] });
});

test('S3: a term line shipped while held starts its subscription on the ship date; a later assignment provisions it at once', async () => {
  const D = '2026-02-10';
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const pha = world.holdingAccountId;
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: pha, virtualAccountPath: 'EMEA' },
    lines: [TERM_LINE],
  });
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  await waitForStatus(stack.client, booked.workflowId, (s) => s.phase === 'AwaitingSmartAccount' && s.emailsSent.includes('transfer-needed'));

  // Day D: the term line ships while its licenses sit in the holding account.
  await reportShipment(stack.client, booked.orderId, { lineNumber: 2, shippedOn: D });
  const shipped = await waitForStatus(stack.client, booked.workflowId, (s) => s.lines[0].shippedOn === D);
  expect(shipped.phase).toBe('AwaitingSmartAccount');
  expect(shipped.waitingFor).toBe('PartnerTransfer');
  expect(shipped.lines[0]).toMatchObject({
    lineNumber: 2,
    state: 'shipped',
    accountId: pha,
    virtualAccountPath: 'EMEA',
    shippedOn: D,
    subscription: { startsOn: D, endsOn: '2029-02-10' },
  });
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([{ line_number: 2, account_id: pha, path: 'EMEA', status: 'held', quantity: 10 }]);
  const subscriptionAtShipment = await subscriptionsOf(stack.db, booked.orderId);
  expect(subscriptionAtShipment).toEqual([expect.objectContaining({ line_number: 2, term_months: 36, starts_on: D, ends_on: '2029-02-10' })]);
  const remindersBeforeShipment = remindersIn(shipped).length;

  // A reminder written after the shipment warns that the subscription is running.
  const laterReminders = (
    await waitForMail((m) => orderMail(booked.orderId, 'transfer-reminder')(m) && reminderNumberOf(m) > remindersBeforeShipment, 1)
  ).filter((m) => reminderNumberOf(m) > remindersBeforeShipment);
  expect(laterReminders.length).toBeGreaterThanOrEqual(1);
  const warning = laterReminders[0];
  const days = daysBetween(D, warning.receivedAt.slice(0, 10));
  expect(warning.text).toContain('shipped on 2026-02-10');
  expect(warning.text).toContain('has been running for');
  expect(warning.text).toContain(
    `Line 2 (C9300-DNA-E-3Y) shipped on ${D}: its 36-month subscription has been running for ${days} day${days === 1 ? '' : 's'} and ends on 2029-02-10`,
  );
  expect(warning.html).toContain('has been running for');
  // Still held while the warning goes out.
  const stillHeld = await handle.query(orderStatusQuery);
  expect(stillHeld.phase).toBe('AwaitingSmartAccount');
  expect(stillHeld.lines[0]).toMatchObject({ accountId: pha, subscription: { startsOn: D, endsOn: '2029-02-10' } });

  // Day D+k: the partner assigns the Smart Account → provisioned at once, no new shipment needed.
  const assigned = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    actingPartnerId: world.partnerId,
  });
  expect(assigned.customerAccountId).toBe(world.smartAccountId);
  expect(assigned.lines[0]).toMatchObject({ accountId: world.smartAccountId, virtualAccountPath: 'Finance', subscription: { startsOn: D, endsOn: '2029-02-10' } });
  await waitForPhase(stack.client, booked.workflowId, 'Fulfilled', 15_000);
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.lines).toEqual([
    expect.objectContaining({
      lineNumber: 2,
      state: 'provisioned',
      accountId: world.smartAccountId,
      virtualAccountPath: 'Finance',
      shippedOn: D,
      subscription: { startsOn: D, endsOn: '2029-02-10' },
    }),
  ]);

  // R7: the subscription row is exactly the one written at shipment.
  expect(await subscriptionsOf(stack.db, booked.orderId)).toEqual(subscriptionAtShipment);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 10 },
  ]);
  expect(await stack.db('order_lines').where({ order_id: booked.orderId }).first('state', 'shipped_on')).toEqual({ state: 'provisioned', shipped_on: D });
  expect(await eventTypes(stack.db, booked.orderId)).toEqual([
    'booked',
    'held_in_holding_account',
    'line_shipped',
    'transferred_to_customer_account',
    'lines_provisioned',
  ]);
  const fulfilled = await waitForMail(orderMail(booked.orderId, 'order-fulfilled'), 3);
  expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.holdingMemberEmail, world.partnerEmail].sort());
  expect(fulfilled[0].text).toContain(`C9300-DNA-E-3Y x 10 (smart, 36-month term), provisioned, subscription ${D} to 2029-02-10`);
});
