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
import { assignSmartAccount, reportShipment } from '../../src/orders/order-actions';
import type { Db } from '../../src/db/knex';
import { daysBetween } from '../../src/common/dates';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { orderStatusQuery } from '../../src/orders/workflow-api';
import { createTestWorld } from '../helpers/fixtures';
import {
  TERM_LINE,
  book,
  entitlementsOf,
  eventTypes,
  heldBooking,
  listWorkflowIds,
  outboxKeys,
  pollUntil,
  reminderNumberOf,
  remindersIn,
  shipLines,
  waitForPhase,
  waitForStatus,
} from '../helpers/orders';
import { mailOf, receivedNow, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const REMINDER_INTERVAL_MS = 1_000;

// Reminders every second; escalation far away so these flows only see transfer mail.
const stack = useTestStack(__filename, { reminderIntervalMs: REMINDER_INTERVAL_MS, escalationAfterMs: 10 * 60_000 });

async function entitlementIds(db: Db, orderId: string): Promise<Array<{ line_number: number; id: string }>> {
  const rows = await db('entitlements as e')
    .join('order_lines as l', 'l.id', 'e.order_line_id')
    .where('l.order_id', orderId)
    .orderBy('l.line_number')
    .select('l.line_number', 'e.id');
  return rows.map((r) => ({ line_number: r.line_number, id: String(r.id) }));
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
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world));
  const handle = stack.client.workflow.getHandle(booked.workflowId);

  // R4: held in the partner's holding account, virtual account EMEA, waiting for the partner.
  const held = await waitForStatus(
    stack.client,
    booked.workflowId,
    (s) => s.phase === 'AwaitingSmartAccount' && s.emailsSent.includes('transfer-needed'),
  );
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
  const needed = await waitForMail(mailOf(booked.orderId, 'transfer-needed'), 1);
  expect(needed).toHaveLength(1);
  expect(needed[0].to).toEqual([world.partnerEmail]);
  expect(needed[0].subject).toBe(
    `Action needed: order PO-${world.suffix} is in your holding account and must be moved to the customer's Smart Account`,
  );
  expect(needed[0].text).toContain(`deposited in Holding ${world.suffix}, virtual account EMEA`);
  const reminders = await waitForMail(mailOf(booked.orderId, 'transfer-reminder'), 1);
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
  const remindersAtAssignment = receivedNow(mailOf(booked.orderId, 'transfer-reminder'));
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
  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());

  // Reminders stop: nothing new over several reminder intervals.
  await new Promise((resolve) => setTimeout(resolve, 3.5 * REMINDER_INTERVAL_MS));
  expect(receivedNow(mailOf(booked.orderId, 'transfer-reminder'))).toHaveLength(remindersAtAssignment.length);
  expect(await outboxKeys(stack.db, booked.orderId, 'transfer-reminder')).toEqual(outboxRemindersAtAssignment);
  const afterQuiet = await handle.query(orderStatusQuery);
  expect(remindersIn(afterQuiet)).toEqual(remindersIn(assigned));
  expect(afterQuiet.phase).toBe('AwaitingShipment');

  // R8: the lines ship → activated in the Smart Account; the order completes.
  await shipLines(stack.client, booked.orderId, '2026-03-02');
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
  const fulfilled = await waitForMail(mailOf(booked.orderId, 'order-fulfilled'), 3);
  expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.holdingMemberEmail, world.partnerEmail].sort());
  expect(fulfilled[0].subject).toBe(`Order PO-${world.suffix} is fulfilled`);
  // Still no reminder after the assignment.
  expect(receivedNow(mailOf(booked.orderId, 'transfer-reminder'))).toHaveLength(remindersAtAssignment.length);
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
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world, { lines: [TERM_LINE] }));
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  await waitForStatus(
    stack.client,
    booked.workflowId,
    (s) => s.phase === 'AwaitingSmartAccount' && s.emailsSent.includes('transfer-needed'),
  );

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
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 2, account_id: pha, path: 'EMEA', status: 'held', quantity: 10 },
  ]);
  const subscriptionAtShipment = await subscriptionsOf(stack.db, booked.orderId);
  expect(subscriptionAtShipment).toEqual([
    expect.objectContaining({ line_number: 2, term_months: 36, starts_on: D, ends_on: '2029-02-10' }),
  ]);
  const remindersBeforeShipment = remindersIn(shipped).length;

  // A reminder written after the shipment warns that the subscription is running.
  const laterReminders = (
    await waitForMail((m) => mailOf(booked.orderId, 'transfer-reminder')(m) && reminderNumberOf(m) > remindersBeforeShipment, 1)
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
  expect(assigned.lines[0]).toMatchObject({
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    subscription: { startsOn: D, endsOn: '2029-02-10' },
  });
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
  expect(await stack.db('order_lines').where({ order_id: booked.orderId }).first('state', 'shipped_on')).toEqual({
    state: 'provisioned',
    shipped_on: D,
  });
  expect(await eventTypes(stack.db, booked.orderId)).toEqual([
    'booked',
    'held_in_holding_account',
    'line_shipped',
    'transferred_to_customer_account',
    'lines_provisioned',
  ]);
  const fulfilled = await waitForMail(mailOf(booked.orderId, 'order-fulfilled'), 3);
  expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.holdingMemberEmail, world.partnerEmail].sort());
  expect(fulfilled[0].text).toContain(`C9300-DNA-E-3Y x 10 (smart, 36-month term), provisioned, subscription ${D} to 2029-02-10`);
});

test('a partner who answers "transfer needed" at once is not refused: an assignment sent while the booking step runs waits for it', async () => {
  // The email leaves with the hold (one activity), so the partner can answer before the workflow
  // has taken the activity's result. Several orders, each assigned the moment it is booked, so
  // some assignments certainly arrive mid-step.
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const orders = await Promise.all(
    [1, 2, 3, 4].map(async (n) => {
      const booked = await book(
        stack.client,
        stack.taskQueue,
        heldBooking(world, { externalReference: `QUICK-${n}-${world.suffix}`, lines: [TERM_LINE] }),
      );
      const assigned = await assignSmartAccount(stack.client, booked.orderId, {
        accountId: world.smartAccountId,
        virtualAccountPath: 'Finance',
        actingPartnerId: world.partnerId,
      });
      return { booked, assigned };
    }),
  );
  for (const { booked, assigned } of orders) {
    expect(assigned.customerAccountId).toBe(world.smartAccountId);
    // Held first, then transferred: the partner was told, and the licenses went through the holding account.
    expect(await eventTypes(stack.db, booked.orderId)).toEqual(['booked', 'held_in_holding_account', 'transferred_to_customer_account']);
    await waitForMail(mailOf(booked.orderId, 'transfer-needed'), 1);
  }
});
