/**
 * S8 Bad assignment: an order held in the Partner Holding Account is assigned an unknown Smart
 * Account, a pending one, a holding account, by a partner without a role, with malformed input,
 * or to an unknown virtual account → a clear error and nothing changes (R6, R11). Validator
 * rejections leave no trace in workflow history. A virtual-account role covers nested virtual
 * accounts only.
 *
 * S9 Cancellation before provisioning (R13); duplicate booking with the same external reference
 * → one order, one workflow (R12).
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { LinkError, openDelegation, submitCustomerChoice } from '../../src/accounts/customer-links';
import { assignSmartAccount, cancelOrder, getOrderStatus, reportShipment } from '../../src/orders/order-actions';
import type { BookOrderInput } from '../../src/orders/order';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { orderStatusQuery, type AssignSmartAccountRequest } from '../../src/orders/workflow-api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { delegationLink } from '../helpers/links';
import {
  PERPETUAL_LINE,
  TERM_LINE,
  book,
  directBooking,
  entitlementsOf,
  eventTypes,
  listExecutions,
  rejectionOf,
  waitForPhase,
  waitForStatus,
} from '../helpers/orders';
import { mailFor, mailOf, startOrderWorkerOn, uniqueSuffix, useTestStack, waitForMail, type TestStack } from '../helpers/stack';
// For the regression tests at the end of the file.
import { temporal } from '@temporalio/proto';
import { requestedAccountId } from '../../activities/accounts/accounts';
import { activationStatusQuery, activationWorkflowId } from '../../src/orders/workflow-api';
import { registerContact } from '../helpers/fixtures';
import { isReminder, linkToken } from '../helpers/links';
import { pollUntil } from '../helpers/orders';
import { receivedNow } from '../helpers/stack';

// S9 runs with the suite's short reminder cadence (REMINDER_INTERVAL=2s, ESCALATION_AFTER=6s).
const stack = useTestStack(__filename);
// S8 compares whole statuses before and after each refusal: reminders must not interleave.
const quiet = useTestStack(__filename, { reminderIntervalMs: 600_000, escalationAfterMs: 1_200_000 });

/** A refusal from the update handler: an ApplicationFailure of the given type. */
function expectRefusal(err: Error, type: string, message: string | RegExp): void {
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).type).toBe(type);
  expect(cause!.message).toMatch(message);
}

async function historyLength(handle: WorkflowHandle): Promise<number> {
  return (await handle.fetchHistory()).events?.length ?? 0;
}

async function bookHeld(s: TestStack, world: TestWorld, reference: string, extra: Partial<BookOrderInput> = {}) {
  const booked = await book(s.client, s.taskQueue, {
    externalReference: reference,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: world.holdingAccountId },
    lines: [PERPETUAL_LINE, TERM_LINE],
    ...extra,
  });
  const held = await waitForStatus(
    s.client,
    booked.workflowId,
    (st) => st.waitingFor === 'PartnerTransfer' && st.emailsSent.includes('transfer-needed'),
  );
  return { booked, held };
}

describe('S8 bad assignment', () => {
  test('S8: unknown, pending, holding, unauthorised, malformed and unknown-VA assignments are refused and change nothing', async () => {
    const world = await createTestWorld(quiet.db, uniqueSuffix());
    const { booked, held } = await bookHeld(quiet, world, `PO-BAD-${world.suffix}`);
    const handle = quiet.client.workflow.getHandle(booked.workflowId);
    expect(held.emailsSent).toEqual(['transfer-needed']);
    await waitForMail(mailOf(booked.orderId, 'transfer-needed'));

    const heldEntitlements = [
      { line_number: 1, account_id: world.holdingAccountId, path: null, status: 'held', quantity: 2 },
      { line_number: 2, account_id: world.holdingAccountId, path: null, status: 'held', quantity: 10 },
    ];
    expect(await entitlementsOf(quiet.db, booked.orderId)).toEqual(heldEntitlements);
    const outboxBefore = await quiet.db('email_outbox').where({ order_id: booked.orderId }).orderBy('id').pluck('idempotency_key');
    const orderRowBefore = await quiet.db('orders').where({ id: booked.orderId }).first();

    // A Smart Account of the customer's domain on which the order's partner holds no role.
    const roleless = `sa-roleless-${world.suffix}`;
    await quiet
      .db('accounts')
      .insert({ id: roleless, kind: 'smart_account', name: `Roleless ${world.suffix}`, domain: world.domain, status: 'active' });

    const assign = (request: AssignSmartAccountRequest) => assignSmartAccount(quiet.client, booked.orderId, request);
    const nothingChanged = async (what: string) => {
      expect({ what, status: await getOrderStatus(quiet.client, booked.orderId) }).toEqual({ what, status: held });
      expect(await entitlementsOf(quiet.db, booked.orderId)).toEqual(heldEntitlements);
      expect(await eventTypes(quiet.db, booked.orderId)).not.toContain('transferred_to_customer_account');
      expect(await eventTypes(quiet.db, booked.orderId)).not.toContain('deposited');
      expect(await quiet.db('email_outbox').where({ order_id: booked.orderId }).orderBy('id').pluck('idempotency_key')).toEqual(
        outboxBefore,
      );
      expect(await quiet.db('orders').where({ id: booked.orderId }).first()).toEqual(orderRowBefore);
    };

    // Refused by the handler (the database knows why): each with its type and a clear reason.
    const unknownId = `sa-nobody-${world.suffix}`;
    const eventsBeforeHandlerRefusal = await historyLength(handle);
    expectRefusal(
      await rejectionOf(assign({ accountId: unknownId, actingPartnerId: world.partnerId })),
      'UnknownAccount',
      new RegExp(`"${unknownId}" does not exist`),
    );
    await nothingChanged('unknown account');
    // An accepted-then-refused update is recorded (with its activity): the history count does see changes.
    expect(await historyLength(handle)).toBeGreaterThan(eventsBeforeHandlerRefusal);

    expectRefusal(
      await rejectionOf(assign({ accountId: world.pendingSmartAccountId, actingPartnerId: world.partnerId })),
      'AccountNotActive',
      new RegExp(`"${world.pendingSmartAccountId}" is pending activation, not active`),
    );
    await nothingChanged('pending account');

    expectRefusal(
      await rejectionOf(assign({ accountId: world.holdingAccountId, actingPartnerId: world.partnerId })),
      'NotAConsumptionTarget',
      /is a Partner Holding Account: licenses there can be neither consumed nor activated/,
    );
    await nothingChanged('holding account as target');

    expectRefusal(
      await rejectionOf(assign({ accountId: world.smartAccountId, actingPartnerId: world.otherPartnerId })),
      'NotAuthorized',
      new RegExp(`partner "${world.otherPartnerId}" may not act on order PO-BAD-${world.suffix}`),
    );
    await nothingChanged('unrelated partner');

    // A role on the customer's account is not enough for a partner that has nothing to do with the order.
    await quiet.db('role_grants').insert({ account_id: world.smartAccountId, partner_id: world.otherPartnerId, role: 'sa_admin' });
    expectRefusal(
      await rejectionOf(assign({ accountId: world.smartAccountId, actingPartnerId: world.otherPartnerId })),
      'NotAuthorized',
      /may not act on order/,
    );
    await nothingChanged('unrelated partner with a role');

    expectRefusal(
      await rejectionOf(assign({ accountId: roleless, actingPartnerId: world.partnerId })),
      'NotAuthorized',
      new RegExp(`partner "${world.partnerId}" has no role on Smart Account "${roleless}"`),
    );
    await nothingChanged('partner of the order without a role');

    expectRefusal(
      await rejectionOf(assign({ accountId: world.smartAccountId, virtualAccountPath: 'Marketing', actingPartnerId: world.partnerId })),
      'UnknownVirtualAccount',
      /has no virtual account "Marketing"/,
    );
    await nothingChanged('unknown virtual account');

    // Refused by the validator (malformed): not a single event is added to the workflow's history.
    for (const [what, request, reason] of [
      ['empty account ID', { accountId: '', actingPartnerId: world.partnerId }, /^accountId: must be 1-128 letters/],
      [
        'empty VA name',
        { accountId: world.smartAccountId, virtualAccountPath: 'a//b', actingPartnerId: world.partnerId },
        /^virtualAccountPath: must be names of 1-80 characters/,
      ],
      [
        'missing acting partner',
        { accountId: world.smartAccountId } as AssignSmartAccountRequest,
        /^actingPartnerId: must be 1-128 letters/,
      ],
    ] as Array<[string, AssignSmartAccountRequest, RegExp]>) {
      const before = await historyLength(handle);
      const err = await rejectionOf(assign(request));
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      expect({ what, reason: (err as WorkflowUpdateFailedError).cause?.message }).toEqual({ what, reason: expect.stringMatching(reason) });
      expect({ what, events: await historyLength(handle) }).toEqual({ what, events: before });
      await nothingChanged(what);
    }

    // The order was only refused, never broken: a valid assignment now transfers it.
    const assigned = await assign({ accountId: world.smartAccountId, virtualAccountPath: 'Finance', actingPartnerId: world.partnerId });
    expect(assigned).toMatchObject({ phase: 'AwaitingShipment', customerAccountId: world.smartAccountId });
    expect((await entitlementsOf(quiet.db, booked.orderId)).map((e) => [e.account_id, e.path, e.status])).toEqual([
      [world.smartAccountId, 'Finance', 'deposited'],
      [world.smartAccountId, 'Finance', 'deposited'],
    ]);
    expect((await eventTypes(quiet.db, booked.orderId)).filter((t) => t === 'transferred_to_customer_account')).toHaveLength(1);

    // Once assigned, another assignment is refused by the validator, also without history events.
    const before = await historyLength(handle);
    const again = await rejectionOf(assign({ accountId: roleless, actingPartnerId: world.partnerId }));
    expect((again as WorkflowUpdateFailedError).cause?.message).toBe(
      `the order is already assigned to Smart Account "${world.smartAccountId}"`,
    );
    expect(await historyLength(handle)).toBe(before);
  });

  test('S8: a partner with only a va_user role on Region-US can assign Region-US/Finance/Sacramento but not Finance', async () => {
    const world = await createTestWorld(quiet.db, uniqueSuffix());
    // The distributor is related to the reseller's orders (R10); the customer grants it a role on Region-US only.
    const regionUs = await quiet.db('virtual_accounts').where({ account_id: world.smartAccountId, path: 'Region-US' }).first('id');
    await quiet
      .db('role_grants')
      .insert({ account_id: world.smartAccountId, virtual_account_id: regionUs.id, partner_id: world.distributorId, role: 'va_user' });
    const { booked, held } = await bookHeld(quiet, world, `PO-VA-${world.suffix}`, { lines: [PERPETUAL_LINE] });
    const assign = (virtualAccountPath?: string) =>
      assignSmartAccount(quiet.client, booked.orderId, {
        accountId: world.smartAccountId,
        actingPartnerId: world.distributorId,
        ...(virtualAccountPath ? { virtualAccountPath } : {}),
      });

    expectRefusal(await rejectionOf(assign('Finance')), 'NotAuthorized', /its roles cover virtual accounts Region-US only/);
    expectRefusal(
      await rejectionOf(assign()),
      'NotAuthorized',
      new RegExp(`partner "${world.distributorId}" has no role on Smart Account "${world.smartAccountId}"`),
    );
    expect(await getOrderStatus(quiet.client, booked.orderId)).toEqual(held);
    expect((await entitlementsOf(quiet.db, booked.orderId)).map((e) => [e.account_id, e.status])).toEqual([
      [world.holdingAccountId, 'held'],
    ]);

    const assigned = await assign('Region-US/Finance/Sacramento');
    expect(assigned).toMatchObject({ phase: 'AwaitingShipment', customerAccountId: world.smartAccountId });
    expect(assigned.lines[0]).toMatchObject({
      state: 'deposited',
      accountId: world.smartAccountId,
      virtualAccountPath: 'Region-US/Finance/Sacramento',
    });
    expect(await entitlementsOf(quiet.db, booked.orderId)).toEqual([
      { line_number: 1, account_id: world.smartAccountId, path: 'Region-US/Finance/Sacramento', status: 'deposited', quantity: 2 },
    ]);
    const moved = await quiet
      .db('order_events')
      .where({ order_id: booked.orderId, type: 'transferred_to_customer_account' })
      .select('details');
    expect(moved.map((e) => e.details.actor)).toEqual([{ kind: 'partner', partnerId: world.distributorId }]);
  });
});

describe('S9 cancellation and duplicate booking', () => {
  test('S9: a held order is cancelled: licenses withdrawn, lines cancelled, partner told, reminders stop, the workflow ends Cancelled', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const bookedAt = Date.now();
    const { booked } = await bookHeld(stack, world, `PO-CXL-${world.suffix}`);
    const handle = stack.client.workflow.getHandle(booked.workflowId);
    // Reminders run while it is held.
    await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('transfer-reminder:1'));
    expect(await waitForMail(mailOf(booked.orderId, 'transfer-reminder'))).toHaveLength(1);

    const cancelled = await cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId, reason: 'customer withdrew' });
    expect(cancelled).toMatchObject({ phase: 'Cancelled', waitingFor: 'Nothing' });
    expect(cancelled.pendingAction).toBeUndefined();
    expect(cancelled.lines.map((l) => [l.lineNumber, l.state])).toEqual([
      [1, 'cancelled'],
      [2, 'cancelled'],
    ]);
    expect(cancelled.emailsSent[cancelled.emailsSent.length - 1]).toBe('order-cancelled');

    // The workflow completes, with the same status.
    const result: OrderStatus = await handle.result();
    expect(result).toEqual(cancelled);
    expect((await handle.describe()).status.name).toBe('COMPLETED');

    // Postgres: withdrawn entitlements, cancelled lines, the order row and its event.
    expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => [e.line_number, e.account_id, e.status])).toEqual([
      [1, world.holdingAccountId, 'withdrawn'],
      [2, world.holdingAccountId, 'withdrawn'],
    ]);
    expect(await stack.db('order_lines').where({ order_id: booked.orderId }).orderBy('line_number').pluck('state')).toEqual([
      'cancelled',
      'cancelled',
    ]);
    const row = await stack.db('orders').where({ id: booked.orderId }).first();
    expect(row).toMatchObject({ status: 'Cancelled', waiting_for: 'Nothing', fulfilled_at: null });
    expect(row.cancelled_at).toBeInstanceOf(Date);
    const cancelEvents = await stack.db('order_events').where({ order_id: booked.orderId, type: 'cancelled' }).select('details');
    expect(cancelEvents.map((e) => e.details)).toEqual([{ reason: 'customer withdrew' }]);

    // The partner is told, once.
    const told = await waitForMail(mailOf(booked.orderId, 'order-cancelled'));
    expect(told.map((m) => m.to)).toEqual([[world.partnerEmail]]);
    expect(told[0].subject).toBe(`Order PO-CXL-${world.suffix} is cancelled`);
    expect(told[0].text).toContain('licenses that were held or deposited have been withdrawn');

    // Reminders stop: past two more reminder intervals and the escalation time, nothing more arrives.
    const sentAtCancel = mailFor(world.partnerEmail).filter(mailOf(booked.orderId)).length;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(2 * stack.config.reminderIntervalMs, bookedAt + stack.config.escalationAfterMs - Date.now()) + 1_000),
    );
    expect(mailFor(world.partnerEmail).filter(mailOf(booked.orderId))).toHaveLength(sentAtCancel);
    expect(await waitForMail(mailOf(booked.orderId, 'escalation'), 1, 0)).toEqual([]);
    expect(await handle.query(orderStatusQuery)).toEqual(cancelled);
  });

  test('S9: cancelling a cancelled order again answers the same status (idempotent)', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const { booked } = await bookHeld(stack, world, `PO-CXL2-${world.suffix}`);
    const first = await cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId });
    expect(first.phase).toBe('Cancelled');
    const again = await cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId });
    expect(again).toEqual(first);
    expect(await waitForMail(mailOf(booked.orderId, 'order-cancelled'), 2, 1_500)).toHaveLength(1);
  });

  test('S9: two cancellations in flight together both answer Cancelled, and withdraw and mail once', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const { booked } = await bookHeld(stack, world, `PO-CXL3-${world.suffix}`);
    const [a, b] = await Promise.all([
      cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId }),
      cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId }),
    ]);
    expect(a.phase).toBe('Cancelled');
    expect(b).toEqual(a);
    expect(await stack.client.workflow.getHandle(booked.workflowId).result()).toEqual(a);
    expect(await stack.db('order_events').where({ order_id: booked.orderId, type: 'cancelled' }).count({ n: '*' })).toEqual([{ n: '1' }]);
    expect(await waitForMail(mailOf(booked.orderId, 'order-cancelled'), 2, 1_500)).toHaveLength(1);
  });

  test('S9: an order with a provisioned line cannot be cancelled (validator: already provisioned), nor can a fulfilled one', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const booked = await book(stack.client, stack.taskQueue, directBooking(world, { externalReference: `PO-PROV-${world.suffix}` }));
    const handle = stack.client.workflow.getHandle(booked.workflowId);
    await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
    await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-06-01' });
    const partly = await waitForStatus(stack.client, booked.workflowId, (s) => s.lines[0].state === 'provisioned');
    expect(partly.phase).toBe('AwaitingShipment');

    const eventsBefore = await historyLength(handle);
    const err = await rejectionOf(cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId }));
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((err as WorkflowUpdateFailedError).cause?.message).toBe(
      'line 1 already provisioned; only orders before provisioning can be cancelled',
    );
    expect(await historyLength(handle)).toBe(eventsBefore);
    expect(await getOrderStatus(stack.client, booked.orderId)).toEqual(partly);
    expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => e.status)).toEqual(['active', 'deposited']);
    expect(await eventTypes(stack.db, booked.orderId)).not.toContain('cancelled');

    // Fulfilled: the cancellation is refused too and nothing is withdrawn.
    await reportShipment(stack.client, booked.orderId, { lineNumber: 2, shippedOn: '2026-06-01' });
    const fulfilled: OrderStatus = await handle.result();
    expect(fulfilled.phase).toBe('Fulfilled');
    // (The reason given here is covered by the failing test below.)
    await rejectionOf(cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId }));
    expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => e.status)).toEqual(['active', 'active']);
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({ status: 'Fulfilled', cancelled_at: null });
    expect(await eventTypes(stack.db, booked.orderId)).not.toContain('cancelled');
    expect(await waitForMail(mailOf(booked.orderId, 'order-cancelled'), 1, 500)).toEqual([]);
  });

  test('S9: cancelling a fulfilled order is refused with the reason (already provisioned)', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const booked = await book(
      stack.client,
      stack.taskQueue,
      directBooking(world, { externalReference: `PO-FUL-${world.suffix}`, lines: [PERPETUAL_LINE] }),
    );
    await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
    await reportShipment(stack.client, booked.orderId, { lineNumber: 1, shippedOn: '2026-06-02' });
    expect((await stack.client.workflow.getHandle(booked.workflowId).result()).phase).toBe('Fulfilled');
    const err = await rejectionOf(cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId }));
    expect(`${err.message} ${(err as WorkflowUpdateFailedError).cause?.message ?? ''}`).toMatch(/already provisioned/);
  });

  test('S9: cancelling a delegation order kills its link', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const booked = await book(stack.client, stack.taskQueue, {
      externalReference: `PO-DLG-${world.suffix}`,
      bookedByPartnerId: world.partnerId,
      assignment: { kind: 'delegate' },
      endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' },
      lines: [PERPETUAL_LINE],
    });
    const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);
    const opened = await openDelegation(stack.db, token);
    expect(opened.orderId).toBe(booked.orderId);
    expect(opened.smartAccounts.map((a) => a.accountId)).toContain(world.smartAccountId);

    const cancelled = await cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId });
    expect(cancelled.phase).toBe('Cancelled');
    expect((await stack.client.workflow.getHandle(booked.workflowId).result()).phase).toBe('Cancelled');

    const dead = await rejectionOf(openDelegation(stack.db, token));
    expect(dead).toBeInstanceOf(LinkError);
    expect((dead as LinkError).reason).toBe('used');
    expect(
      await rejectionOf(
        submitCustomerChoice({ db: stack.db, client: stack.client }, token, { kind: 'existing', accountId: world.smartAccountId }),
      ),
    ).toBeInstanceOf(LinkError);
    expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([]);
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({ status: 'Cancelled', account_id: null });
  });

  test('S9: re-sending a booking with the same external reference books one order and one workflow, also after it completed', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const booking = directBooking(world, { externalReference: `PO-DUP-${world.suffix}`, lines: [PERPETUAL_LINE] });
    const first = await book(stack.client, stack.taskQueue, booking);
    expect(first.alreadyBooked).toBe(false);
    const resent = await Promise.all([book(stack.client, stack.taskQueue, booking), book(stack.client, stack.taskQueue, booking)]);
    for (const again of resent) expect(again).toEqual({ orderId: first.orderId, workflowId: first.workflowId, alreadyBooked: true });

    await waitForPhase(stack.client, first.workflowId, 'AwaitingShipment');
    await reportShipment(stack.client, first.orderId, { lineNumber: 1, shippedOn: '2026-07-01' });
    const handle = stack.client.workflow.getHandle(first.workflowId);
    expect((await handle.result()).phase).toBe('Fulfilled');

    // Re-sent after the order completed: still the same order, nothing started.
    expect(await book(stack.client, stack.taskQueue, booking)).toEqual({
      orderId: first.orderId,
      workflowId: first.workflowId,
      alreadyBooked: true,
    });

    const executions = async () =>
      (await listExecutions(stack.client, `WorkflowId = '${first.workflowId}'`)).map((wf) => ({ runId: wf.runId, status: wf.status.name }));
    const deadline = Date.now() + 20_000;
    let listed = await executions();
    while (!(listed.length > 0 && listed.every((e) => e.status === 'COMPLETED')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      listed = await executions();
    }
    expect(listed).toEqual([{ runId: (await handle.describe()).runId, status: 'COMPLETED' }]);

    expect(await stack.db('orders').where({ external_reference: booking.externalReference }).pluck('id')).toEqual([first.orderId]);
    expect((await eventTypes(stack.db, first.orderId)).filter((t) => t === 'booked')).toHaveLength(1);
    expect(await entitlementsOf(stack.db, first.orderId)).toHaveLength(1);
    expect(await waitForMail(mailOf(first.orderId, 'order-fulfilled'), 3, 1_000)).toHaveLength(2);

    // The same reference from another partner is another order.
    const other = await book(stack.client, stack.taskQueue, { ...booking, bookedByPartnerId: world.otherPartnerId });
    expect(other.alreadyBooked).toBe(false);
    expect(other.orderId).not.toBe(first.orderId);
  });
});

// Regressions from the code review: a cancellation that arrives right after the booking, while
// the workflow is still recording it and placing the order, or even with the order's very first
// workflow task, must wait for that step and then cancel everything it did (links, the
// activation wait), not fail or leave anything live.
describe('S9 regression: cancel right after booking', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Returns as soon as a worker has started the order's first workflow task (it then runs the booking step). */
  async function pickedUp(s: TestStack, workflowId: string): Promise<void> {
    const handle = s.client.workflow.getHandle(workflowId);
    const started = temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED;
    const deadline = Date.now() + 10_000;
    while (!(await handle.fetchHistory()).events?.some((e) => e.eventType === started)) {
      if (Date.now() > deadline) throw new Error(`no worker picked up ${workflowId}`);
      await sleep(5);
    }
  }

  function delegateBooking(world: TestWorld, reference: string): BookOrderInput {
    return {
      externalReference: reference,
      bookedByPartnerId: world.partnerId,
      assignment: { kind: 'delegate' },
      endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' },
      lines: [PERPETUAL_LINE, TERM_LINE],
    };
  }

  /** What a cancelled delegate order must look like once its cancellation has answered. */
  async function expectDelegateOrderCancelled(s: TestStack, world: TestWorld, orderId: string, workflowId: string, cancelled: OrderStatus) {
    expect(cancelled).toMatchObject({ phase: 'Cancelled', waitingFor: 'Nothing' });
    expect(cancelled.lines.map((l) => l.state)).toEqual(['cancelled', 'cancelled']);
    const result: OrderStatus = await s.client.workflow.getHandle(workflowId).result();
    expect(result.phase).toBe('Cancelled');
    expect(result).toEqual(cancelled);

    // The booking step ran to its end before the cancellation: the contact got the link…
    const [invitation] = await waitForMail(mailOf(orderId, 'delegation-request'));
    const token = linkToken(s, invitation, 'delegations');
    // …and the cancellation killed every link of the order.
    const tokens = await s.db('access_tokens').where({ order_id: orderId });
    expect(tokens.length).toBeGreaterThanOrEqual(1);
    expect(tokens.map((t) => ({ id: t.id, usedAt: t.used_at instanceof Date }))).toEqual(tokens.map((t) => ({ id: t.id, usedAt: true })));
    const dead = await rejectionOf(openDelegation(s.db, token));
    expect(dead).toBeInstanceOf(LinkError);
    expect((dead as LinkError).reason).toBe('used');

    const row = await s.db('orders').where({ id: orderId }).first();
    expect(row).toMatchObject({ status: 'Cancelled', waiting_for: 'Nothing', account_id: null });
    expect(row.cancelled_at).toBeInstanceOf(Date);
    expect(await s.db('order_lines').where({ order_id: orderId }).orderBy('line_number').pluck('state')).toEqual([
      'cancelled',
      'cancelled',
    ]);
    expect(await entitlementsOf(s.db, orderId)).toEqual([]);
    expect(await eventTypes(s.db, orderId)).toEqual(['booked', 'delegated_to_customer', 'cancelled']);
    const told = await waitForMail(mailOf(orderId, 'order-cancelled'));
    expect(told.map((m) => m.to)).toEqual([[world.partnerEmail]]);

    // No reminder (and so no fresh link) after the cancellation.
    await sleep(s.config.reminderIntervalMs + 1_000);
    expect(receivedNow(mailOf(orderId, 'delegation-request'))).toHaveLength(1);
    expect(await s.db('access_tokens').where({ order_id: orderId }).whereNull('used_at')).toEqual([]);
    expect(await s.db('access_tokens').where({ order_id: orderId }).count({ n: '*' })).toEqual([{ n: String(tokens.length) }]);
  }

  test('S9: a delegate order cancelled immediately after booking (as soon as a worker has it) ends Cancelled and leaves no live link', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const booked = await book(stack.client, stack.taskQueue, delegateBooking(world, `PO-NOW-${world.suffix}`));
    // No other wait: the cancellation races the booking step (record, then the delegation email).
    await pickedUp(stack, booked.workflowId);
    const cancelled = await cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId, reason: 'booked by mistake' });
    await expectDelegateOrderCancelled(stack, world, booked.orderId, booked.workflowId, cancelled);
    const events = await stack.db('order_events').where({ order_id: booked.orderId, type: 'cancelled' }).select('details');
    expect(events.map((e) => e.details)).toEqual([{ reason: 'booked by mistake' }]);
  });

  // The same cancellation, delivered in the order's very first workflow task: the worker was
  // down (a deploy, a restart) while the order was booked and cancelled, and comes back.
  test('S9: a cancellation that reaches the worker together with the booking (worker down meanwhile) also cancels the order', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const taskQueue = `${stack.taskQueue}-late-${world.suffix}`;
    const booked = await book(stack.client, taskQueue, delegateBooking(world, `PO-LATE-${world.suffix}`));
    const cancelling = cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId }).then(
      (status) => ({ status }),
      (error: unknown) => ({ error }),
    );
    // Let the Update reach the server before any worker polls this queue.
    await sleep(1_000);
    const worker = await startOrderWorkerOn(stack, taskQueue);
    try {
      const outcome = await cancelling;
      if ('error' in outcome) {
        const err = outcome.error as WorkflowUpdateFailedError;
        throw new Error(
          `the cancellation was refused: ${err.message}; cause: ${err.cause?.message}; root: ${(err.cause?.cause as Error | undefined)?.message}`,
        );
      }
      await expectDelegateOrderCancelled(stack, world, booked.orderId, booked.workflowId, outcome.status);
    } finally {
      await stack.client.workflow
        .getHandle(booked.workflowId)
        .terminate('test done')
        .catch(() => undefined);
      await worker.stop();
    }
  });

  test('S9: a request for a new Smart Account cancelled immediately (as soon as a worker has it): the activation workflow completes soon and sends no reminder after', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const domain = `cxl-${world.suffix}.test`;
    const contactEmail = `it@${domain}`;
    const contactId = await registerContact(stack.db, { email: contactEmail, fullName: 'Ivy IT', registeredId: `ivy-${world.suffix}` });
    const booked = await book(stack.client, stack.taskQueue, {
      externalReference: `PO-REQ-NOW-${world.suffix}`,
      bookedByPartnerId: world.partnerId,
      assignment: { kind: 'request_smart_account', domain },
      endCustomerContact: { email: contactEmail, fullName: 'Ivy IT' },
      lines: [PERPETUAL_LINE],
    });
    await pickedUp(stack, booked.workflowId);
    const cancelled = await cancelOrder(stack.client, booked.orderId, { actingPartnerId: world.partnerId });
    expect(cancelled).toMatchObject({ phase: 'Cancelled', waitingFor: 'Nothing' });
    const result: OrderStatus = await stack.client.workflow.getHandle(booked.workflowId).result();
    expect(result.phase).toBe('Cancelled');
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({ status: 'Cancelled', waiting_for: 'Nothing' });

    // The request was made (the booking step ran first), so the account exists, pending activation.
    const accountId = requestedAccountId(domain, contactId);
    expect(await stack.db('accounts').where({ id: accountId }).first('status', 'primary_contact_id')).toEqual({
      status: 'pending_activation',
      primary_contact_id: String(contactId),
    });
    // Nobody waits for it any more: its activation workflow completes soon after.
    const activation = stack.client.workflow.getHandle(activationWorkflowId(accountId));
    await pollUntil(
      () => activation.describe().then((d) => d.status.name),
      (name) => name === 'COMPLETED',
      'the activation workflow completing',
      10_000,
    );
    const remindersAtCompletion = receivedNow(isReminder(contactEmail)).length;
    expect(await activation.query(activationStatusQuery)).toMatchObject({ accountId, activated: false, waitingOrders: [] });

    // Two reminder intervals later: no reminder was sent after it completed, and the workflow stayed completed.
    await sleep(2 * stack.config.reminderIntervalMs + 1_000);
    expect(receivedNow(isReminder(contactEmail))).toHaveLength(remindersAtCompletion);
    expect((await activation.describe()).status.name).toBe('COMPLETED');
    expect(await stack.db('orders').where({ id: booked.orderId }).first('status')).toEqual({ status: 'Cancelled' });
  });
});
