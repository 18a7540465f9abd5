/**
 * The first real path end to end: a booked order is recorded, its licenses are deposited into
 * an active Smart Account (and virtual account), and partner and customer are emailed, on a
 * real Temporal dev server, real Postgres and a real SMTP server.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { bookOrder } from '../../src/client/book-order';
import type { BookOrderInput } from '../../src/domain/order';
import type { OrderStatus } from '../../src/domain/order-status';
import { orderStatusQuery } from '../../src/temporal/order-workflow-api';
import { createActivities } from '../../activities';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { mailFor, startTestStack, uniqueSuffix, waitForMail, type TestStack } from '../helpers/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack(__filename);
});
afterAll(async () => {
  await stack?.stop();
});

function directOrder(world: TestWorld, externalReference: string, accountId = world.smartAccountId): BookOrderInput {
  return {
    externalReference,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId, virtualAccountPath: 'Finance' },
    lines: [
      { lineNumber: 1, sku: 'C9300-DNA-E-3Y', quantity: 10, licenseType: 'smart', termMonths: 36, smartAccountMandatory: true },
      { lineNumber: 2, sku: 'ISR4K-SEC-PERP', quantity: 2, licenseType: 'smart', smartAccountMandatory: true },
    ],
  };
}

test('a direct order is recorded, deposited in the Smart Account and confirmed by email', async () => {
  const suffix = uniqueSuffix();
  const world = await createTestWorld(stack.db, suffix);
  const booked = await bookOrder(stack.client, stack.taskQueue, directOrder(world, `PO-${suffix}`));
  expect(booked.alreadyBooked).toBe(false);
  expect(booked.workflowId).toBe(`order-${booked.orderId}`);

  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('AwaitingShipment');
  expect(result.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'deposited', world.smartAccountId, 'Finance'],
    [2, 'deposited', world.smartAccountId, 'Finance'],
  ]);
  expect(result.emailsSent).toEqual(['deposit-confirmation']);
  expect(await handle.query(orderStatusQuery)).toEqual(result);

  // Postgres: the order, its lines, one entitlement per line in Finance, the event log.
  const order = await stack.db('orders').where({ id: booked.orderId }).first();
  expect(order).toMatchObject({
    external_reference: `PO-${suffix}`,
    partner_id: world.partnerId,
    workflow_id: booked.workflowId,
    account_id: world.smartAccountId,
    customer_domain: world.domain,
    status: 'AwaitingShipment',
  });
  const entitlements = await stack.db('entitlements as e')
    .join('order_lines as l', 'l.id', 'e.order_line_id')
    .join('virtual_accounts as va', 'va.id', 'e.virtual_account_id')
    .where('l.order_id', booked.orderId)
    .orderBy('l.line_number')
    .select('l.line_number', 'e.sku', 'e.quantity', 'e.status', 'e.account_id', 'va.path');
  expect(entitlements).toEqual([
    { line_number: 1, sku: 'C9300-DNA-E-3Y', quantity: 10, status: 'deposited', account_id: world.smartAccountId, path: 'Finance' },
    { line_number: 2, sku: 'ISR4K-SEC-PERP', quantity: 2, status: 'deposited', account_id: world.smartAccountId, path: 'Finance' },
  ]);
  const events = await stack.db('order_events').where({ order_id: booked.orderId }).orderBy('id').pluck('type');
  expect(events).toEqual(['booked', 'deposited']);

  // Mail actually received: one to the partner, one to the customer's primary contact.
  const mail = await waitForMail((m) => m.headers['x-order-id'] === booked.orderId, 2);
  expect(mail.map((m) => m.to).sort()).toEqual([[world.customerEmail], [world.partnerEmail]].sort());
  for (const m of mail) {
    expect(m.subject).toBe(`Order PO-${suffix}: licenses deposited in Acme ${suffix}`);
    expect(m.text).toContain('C9300-DNA-E-3Y x 10 (smart, 36-month term)');
    expect(m.text).toContain(`virtual account Finance`);
    expect(m.html).toContain('<td>C9300-DNA-E-3Y</td>');
  }
  expect(mailFor(world.customerEmail)[0].text).toMatch(/^Hello Casey Customer,/);
  const outbox = await stack.db('email_outbox').where({ order_id: booked.orderId }).select('status', 'message_id');
  expect(outbox).toHaveLength(2);
  expect(outbox.every((row) => row.status === 'sent')).toBe(true);
  expect(mail.map((m) => m.messageId).sort()).toEqual(outbox.map((row) => row.message_id).sort());
});

test('booking the same external reference twice yields one order and one workflow', async () => {
  const suffix = uniqueSuffix();
  const world = await createTestWorld(stack.db, suffix);
  const first = await bookOrder(stack.client, stack.taskQueue, directOrder(world, `PO-${suffix}`));
  const second = await bookOrder(stack.client, stack.taskQueue, directOrder(world, `PO-${suffix}`));
  expect(second).toEqual({ ...first, alreadyBooked: true });
  await stack.client.workflow.getHandle(first.workflowId).result();
  // Once completed, the reference still cannot be booked again.
  const third = await bookOrder(stack.client, stack.taskQueue, directOrder(world, `PO-${suffix}`));
  expect(third.alreadyBooked).toBe(true);

  const runs = [];
  for await (const execution of stack.client.workflow.list({ query: `WorkflowId = '${first.workflowId}'` })) runs.push(execution);
  expect(runs).toHaveLength(1);
  expect(await stack.db('orders').where({ external_reference: `PO-${suffix}` }).count({ n: '*' })).toEqual([{ n: '1' }]);
  expect(await stack.db('entitlements as e').join('order_lines as l', 'l.id', 'e.order_line_id').where('l.order_id', first.orderId).count({ n: '*' })).toEqual([{ n: '2' }]);
});

test('repeating the deposit and the email activities deposits and mails nothing twice', async () => {
  const suffix = uniqueSuffix();
  const world = await createTestWorld(stack.db, suffix);
  const booked = await bookOrder(stack.client, stack.taskQueue, directOrder(world, `PO-${suffix}`));
  await stack.client.workflow.getHandle(booked.workflowId).result();
  await waitForMail((m) => m.headers['x-order-id'] === booked.orderId, 2);

  // What a retried activity would do: the same call with the same idempotency keys.
  const activities = createActivities({ db: stack.db, mailer: stack.mailer, mailFrom: stack.config.mailFrom });
  const again = await activities.depositLines({
    orderId: booked.orderId,
    target: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
    idempotencyKey: `${booked.workflowId}:deposit:${world.smartAccountId}`,
  });
  expect(again.lines.map((l) => l.state)).toEqual(['deposited', 'deposited']);
  await activities.sendOrderEmail({
    orderId: booked.orderId,
    template: 'deposit-confirmation',
    audiences: ['partner', 'customer'],
    idempotencyKey: `${booked.workflowId}:deposit-confirmation`,
  });
  await new Promise((resolve) => setTimeout(resolve, 500));

  expect(await waitForMail((m) => m.headers['x-order-id'] === booked.orderId, 3, 1_000)).toHaveLength(2);
  expect(await stack.db('entitlements as e').join('order_lines as l', 'l.id', 'e.order_line_id').where('l.order_id', booked.orderId).count({ n: '*' })).toEqual([{ n: '2' }]);
  expect(await stack.db('order_events').where({ order_id: booked.orderId }).count({ n: '*' })).toEqual([{ n: '2' }]);
});

test('an account that is not active is refused with the reason and nothing is deposited', async () => {
  const suffix = uniqueSuffix();
  const world = await createTestWorld(stack.db, suffix);
  const booked = await bookOrder(stack.client, stack.taskQueue, directOrder(world, `PO-${suffix}`, world.pendingSmartAccountId));
  const failure = await stack.client.workflow.getHandle(booked.workflowId).result().catch((err) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect(failure.cause).toMatchObject({ type: 'AccountNotActive' });
  expect(failure.cause.message).toBe(`account "${world.pendingSmartAccountId}" is pending activation, not active`);
  expect(await stack.db('entitlements as e').join('order_lines as l', 'l.id', 'e.order_line_id').where('l.order_id', booked.orderId).count({ n: '*' })).toEqual([{ n: '0' }]);
  expect(await stack.db('order_lines').where({ order_id: booked.orderId }).pluck('state')).toEqual(['booked', 'booked']);
});
