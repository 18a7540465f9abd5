/**
 * S1 Direct: active Smart Account acme-<x>.test, virtual account Finance; a perpetual line and a
 * 36-month term line ship → both active in Finance; term end = ship date + 36 months; partner
 * and customer told. Plus the repeat-safety of the activities on that path (R12).
 */
import { createActivities } from '../../activities';
import { reportShipment } from '../../src/orders/order-actions';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { orderStatusQuery } from '../../src/orders/workflow-api';
import { createTestWorld } from '../helpers/fixtures';
import { PERPETUAL_LINE, TERM_LINE, book, directBooking, entitlementsOf, eventTypes, shipLines, waitForPhase } from '../helpers/orders';
import { mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename);

test('S1: a direct order is deposited, ships, is provisioned in Finance, and partner and customer are told', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
    lines: [PERPETUAL_LINE, TERM_LINE],
  });
  const handle = stack.client.workflow.getHandle(booked.workflowId);

  const deposited = await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  expect(deposited.waitingFor).toBe('Shipment');
  expect(deposited.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'deposited', world.smartAccountId, 'Finance'],
    [2, 'deposited', world.smartAccountId, 'Finance'],
  ]);
  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());
  expect(confirmations[0].subject).toBe(`Order PO-${world.suffix}: licenses deposited in ${world.smartAccountName}`);

  await shipLines(stack.client, booked.orderId, '2026-01-31');
  const result: OrderStatus = await handle.result();

  expect(result.phase).toBe('Fulfilled');
  expect(result.waitingFor).toBe('Nothing');
  expect(result.lines).toEqual([
    expect.objectContaining({
      lineNumber: 1,
      state: 'provisioned',
      accountId: world.smartAccountId,
      virtualAccountPath: 'Finance',
      shippedOn: '2026-01-31',
    }),
    expect.objectContaining({
      lineNumber: 2,
      state: 'provisioned',
      shippedOn: '2026-01-31',
      // 31 Jan 2026 + 36 months = 31 Jan 2029.
      subscription: { startsOn: '2026-01-31', endsOn: '2029-01-31' },
    }),
  ]);
  expect(result.lines[0].subscription).toBeUndefined();
  expect(result.emailsSent).toEqual([`deposit-confirmation:${world.smartAccountId}`, 'order-fulfilled']);

  // Postgres: active entitlements in Finance, the subscription, the order row and its events.
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 10 },
  ]);
  const subscriptions = await stack
    .db('subscriptions as s')
    .join('order_lines as l', 'l.id', 's.order_line_id')
    .where('l.order_id', booked.orderId)
    .select('l.line_number', 's.term_months', 's.starts_on', 's.ends_on');
  expect(subscriptions).toEqual([{ line_number: 2, term_months: 36, starts_on: '2026-01-31', ends_on: '2029-01-31' }]);
  expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
    status: 'Fulfilled',
    waiting_for: 'Nothing',
    account_id: world.smartAccountId,
    customer_domain: world.domain,
  });
  expect(await stack.db('order_lines').where({ order_id: booked.orderId }).orderBy('line_number').pluck('state')).toEqual([
    'provisioned',
    'provisioned',
  ]);
  expect(await eventTypes(stack.db, booked.orderId)).toEqual(['booked', 'deposited', 'line_shipped', 'line_shipped', 'lines_provisioned']);
  // The account's own event log (R23) shows what each pool gained, and from which order.
  const gained = await stack
    .db('license_events as e')
    .join('virtual_accounts as va', 'va.id', 'e.virtual_account_id')
    .where({ 'e.account_id': world.smartAccountId, 'e.type': 'licenses_activated' })
    .orderBy('e.id')
    .select('va.path', 'e.actor', 'e.details');
  expect(gained.map((e) => ({ path: e.path, actor: e.actor, ...e.details }))).toEqual(
    expect.arrayContaining([
      { path: 'Finance', actor: 'system', sku: 'ISR4K-SEC-PERP', quantity: 2, orderId: booked.orderId },
      { path: 'Finance', actor: 'system', sku: 'C9300-DNA-E-3Y', quantity: 10, orderId: booked.orderId },
    ]),
  );
  expect(gained).toHaveLength(2);

  // Mail actually received: fulfilment to partner and customer, with the subscription dates.
  const fulfilled = await waitForMail(mailOf(booked.orderId, 'order-fulfilled'), 2);
  expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());
  expect(fulfilled[0].subject).toBe(`Order PO-${world.suffix} is fulfilled`);
  expect(fulfilled[0].text).toContain('C9300-DNA-E-3Y x 10 (smart, 36-month term), provisioned, subscription 2026-01-31 to 2029-01-31');
  expect(fulfilled[0].html).toContain('<td>C9300-DNA-E-3Y</td>');

  // Search attributes as operators see them.
  const description = await handle.describe();
  expect(description.searchAttributes).toMatchObject({
    OrderStatus: ['Fulfilled'],
    CustomerDomain: [world.domain],
    PartnerId: [world.partnerId],
  });
});

test('R12: repeating the placement, shipment, provisioning and email activities changes and sends nothing more', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, directBooking(world));
  await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-03-01' });
  await reportShipment(stack.client, booked.orderId, { lineNumber: 2, shippedOn: '2026-03-01' });
  // A repeated shipment report of the same line changes nothing.
  await reportShipment(stack.client, booked.orderId, { lineNumber: 2, shippedOn: '2026-03-01' });
  await stack.client.workflow.getHandle(booked.workflowId).result();
  await waitForMail(mailOf(booked.orderId), 4);
  const before = {
    entitlements: await entitlementsOf(stack.db, booked.orderId),
    events: await eventTypes(stack.db, booked.orderId),
    outbox: await stack.db('email_outbox').where({ order_id: booked.orderId }).count({ n: '*' }),
    lrp: await stack.db('lrp_records').count({ n: '*' }),
  };

  // What retried activities would do: the same calls with the same idempotency keys.
  const activities = createActivities({ db: stack.db, mailer: stack.mailer, temporal: stack.client, config: stack.config });
  const listStatus = { phase: 'Fulfilled' as const, waitingFor: 'Nothing' as const };
  await activities.placeLines({
    orderId: booked.orderId,
    target: { kind: 'smart_account', accountId: world.smartAccountId },
    actor: { kind: 'partner', partnerId: world.partnerId },
    idempotencyKey: `${booked.workflowId}:deposit:${world.smartAccountId}`,
    listStatus,
  });
  await activities.recordShipment({
    orderId: booked.orderId,
    lineNumber: 2,
    shippedOn: '2026-03-01',
    subscription: { termMonths: 36, startsOn: '2026-03-01', endsOn: '2029-03-01' },
    idempotencyKey: `${booked.workflowId}:shipped:2`,
    listStatus,
  });
  await activities.provisionLines({
    orderId: booked.orderId,
    lineNumbers: [1, 2],
    idempotencyKey: `${booked.workflowId}:provisioned:1,2`,
    listStatus,
  });
  await activities.sendOrderEmail({
    orderId: booked.orderId,
    template: 'order-fulfilled',
    audiences: ['partner', 'customer'],
    idempotencyKey: `${booked.workflowId}:order-fulfilled`,
  });
  // The merged activities the workflow runs now (patch one-activity-per-phase-and-spread-reminders), retried whole.
  await activities.placeLinesAndAnnounce({
    orderId: booked.orderId,
    target: { kind: 'smart_account', accountId: world.smartAccountId },
    actor: { kind: 'partner', partnerId: world.partnerId },
    idempotencyKey: `${booked.workflowId}:deposit:${world.smartAccountId}`,
    listStatus,
    email: {
      orderId: booked.orderId,
      template: 'deposit-confirmation',
      audiences: ['partner', 'customer'],
      idempotencyKey: `${booked.workflowId}:deposit-confirmation:${world.smartAccountId}`,
    },
  });
  await activities.provisionLinesAndAnnounce({
    orderId: booked.orderId,
    lineNumbers: [1, 2],
    idempotencyKey: `${booked.workflowId}:provisioned:1,2`,
    listStatus,
    email: {
      orderId: booked.orderId,
      template: 'order-fulfilled',
      audiences: ['partner', 'customer', 'holding-members'],
      idempotencyKey: `${booked.workflowId}:order-fulfilled`,
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 500));

  expect(await waitForMail(mailOf(booked.orderId), 5, 1_000)).toHaveLength(4);
  expect({
    entitlements: await entitlementsOf(stack.db, booked.orderId),
    events: await eventTypes(stack.db, booked.orderId),
    outbox: await stack.db('email_outbox').where({ order_id: booked.orderId }).count({ n: '*' }),
    lrp: await stack.db('lrp_records').count({ n: '*' }),
  }).toEqual(before);
  expect(before.events.filter((e) => e === 'line_shipped')).toHaveLength(2);
});

test('cost: a direct order runs five activities, each deposit and provisioning together with the email announcing it', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, directBooking(world));
  await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  await shipLines(stack.client, booked.orderId, '2026-03-01');
  await stack.client.workflow.getHandle(booked.workflowId).result();
  const history = await stack.client.workflow.getHandle(booked.workflowId).fetchHistory();
  const scheduled = history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  expect(scheduled).toEqual(['recordBooking', 'placeLinesAndAnnounce', 'recordShipment', 'recordShipment', 'provisionLinesAndAnnounce']);
  // Still every email, each once: deposit confirmation and fulfilled, to the partner and the customer.
  const mail = await waitForMail(mailOf(booked.orderId), 4);
  expect(mail.map((m) => m.headers['x-email-template']).sort()).toEqual([
    'deposit-confirmation',
    'deposit-confirmation',
    'order-fulfilled',
    'order-fulfilled',
  ]);
});

test('the status query answers at every step and matches the result', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, directBooking(world, { lines: [PERPETUAL_LINE] }));
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-05-04' });
  const result = await handle.result();
  expect(await handle.query(orderStatusQuery)).toEqual(result);
});
