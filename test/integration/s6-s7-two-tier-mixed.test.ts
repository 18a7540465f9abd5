/**
 * S6 Two-tier: a distributor books for its reseller and holds the order in the reseller's
 * Partner Holding Account; the reseller is told a transfer is needed, transfers to the
 * customer's Smart Account, and after shipment the holding account's members are told the
 * order is fulfilled (R9, R10). A distributor cannot hold an order in the holding account of a
 * partner that is not its reseller.
 *
 * S7 Mixed order: smart perpetual, smart 12-month term and classic lines on one order into the
 * customer's Smart Account → smart entitlements active, the classic line gets an LRP record.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { assignSmartAccount } from '../../src/orders/order-actions';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { createTestWorld } from '../helpers/fixtures';
import {
  CLASSIC_LINE,
  PERPETUAL_LINE,
  TERM_LINE,
  book,
  directBooking,
  entitlementsOf,
  eventTypes,
  shipLines,
  waitForPhase,
  waitForStatus,
} from '../helpers/orders';
import { mailFor, mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';
// For the regression test at the end of the file.
import type { BookOrderInput } from '../../src/orders/order';
import { listExecutions, pollUntil } from '../helpers/orders';

const stack = useTestStack(__filename);

/** A partner that is not the distributor's reseller, with a holding account of its own. */
async function createStrangerPartner(suffix: string) {
  const stranger = {
    partnerId: `stranger-${suffix}`,
    partnerEmail: `orders@stranger-${suffix}.test`,
    holdingAccountId: `pha-stranger-${suffix}`,
  };
  await stack
    .db('partners')
    .insert({ id: stranger.partnerId, name: `Stranger ${suffix}`, kind: 'partner', notification_email: stranger.partnerEmail });
  await stack.db('accounts').insert({
    id: stranger.holdingAccountId,
    kind: 'holding_account',
    name: `Stranger Holding ${suffix}`,
    status: 'active',
    owner_partner_id: stranger.partnerId,
  });
  return stranger;
}

describe('S6 two-tier', () => {
  test("S6: the distributor holds the order in its reseller's PHA; the reseller transfers it; the PHA members are told it is fulfilled", async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const booked = await book(stack.client, stack.taskQueue, {
      externalReference: `PO-2T-${world.suffix}`,
      bookedByPartnerId: world.distributorId,
      partnerId: world.partnerId,
      assignment: { kind: 'holding_account', accountId: world.holdingAccountId },
      lines: [PERPETUAL_LINE, TERM_LINE],
    });
    expect(booked.alreadyBooked).toBe(false);

    // Held in the reseller's holding account, waiting for the reseller's transfer (R4, R5, R10).
    const held = await waitForStatus(
      stack.client,
      booked.workflowId,
      (s) => s.waitingFor === 'PartnerTransfer' && s.emailsSent.includes('transfer-needed'),
    );
    expect(held).toMatchObject({ phase: 'AwaitingSmartAccount', partnerId: world.partnerId, holdingAccountId: world.holdingAccountId });
    expect(held.customerAccountId).toBeUndefined();
    expect(held.lines.map((l) => [l.lineNumber, l.state, l.accountId])).toEqual([
      [1, 'held', world.holdingAccountId],
      [2, 'held', world.holdingAccountId],
    ]);
    expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
      { line_number: 1, account_id: world.holdingAccountId, path: null, status: 'held', quantity: 2 },
      { line_number: 2, account_id: world.holdingAccountId, path: null, status: 'held', quantity: 10 },
    ]);
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
      booked_by_partner_id: world.distributorId,
      partner_id: world.partnerId,
      holding_account_id: world.holdingAccountId,
      account_id: null,
      status: 'AwaitingSmartAccount',
      waiting_for: 'PartnerTransfer',
    });
    const heldEvent = await stack.db('order_events').where({ order_id: booked.orderId, type: 'held_in_holding_account' }).first('details');
    expect(heldEvent.details).toMatchObject({
      accountId: world.holdingAccountId,
      actor: { kind: 'partner', partnerId: world.distributorId },
    });

    // The reseller (the order's partner), not the distributor, is told that a transfer is needed.
    const transferNeeded = await waitForMail(mailOf(booked.orderId, 'transfer-needed'));
    expect(transferNeeded.map((m) => m.to)).toEqual([[world.partnerEmail]]);
    expect(transferNeeded[0].subject).toBe(
      `Action needed: order PO-2T-${world.suffix} is in your holding account and must be moved to the customer's Smart Account`,
    );
    expect(transferNeeded[0].text).toContain(`Holding ${world.suffix}`);

    // The reseller, which holds the Smart Account user role, transfers to the customer's Smart Account (R6, R11).
    const assigned: OrderStatus = await assignSmartAccount(stack.client, booked.orderId, {
      accountId: world.smartAccountId,
      virtualAccountPath: 'Finance',
      actingPartnerId: world.partnerId,
    });
    expect(assigned).toMatchObject({ phase: 'AwaitingShipment', waitingFor: 'Shipment', customerAccountId: world.smartAccountId });
    expect(assigned.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
      [1, 'deposited', world.smartAccountId, 'Finance'],
      [2, 'deposited', world.smartAccountId, 'Finance'],
    ]);
    expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
      { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 2 },
      { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 10 },
    ]);
    const moved = await stack
      .db('order_events')
      .where({ order_id: booked.orderId, type: 'transferred_to_customer_account' })
      .select('details');
    expect(moved).toHaveLength(1);
    expect(moved[0].details).toMatchObject({
      accountId: world.smartAccountId,
      virtualAccountPath: 'Finance',
      lines: [1, 2],
      actor: { kind: 'partner', partnerId: world.partnerId },
    });

    await shipLines(stack.client, booked.orderId, '2026-04-30');
    const result: OrderStatus = await stack.client.workflow.getHandle(booked.workflowId).result();
    expect(result.phase).toBe('Fulfilled');
    expect(result.lines.map((l) => [l.lineNumber, l.state, l.accountId])).toEqual([
      [1, 'provisioned', world.smartAccountId],
      [2, 'provisioned', world.smartAccountId],
    ]);
    expect(result.lines[1].subscription).toEqual({ startsOn: '2026-04-30', endsOn: '2029-04-30' });
    expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
      { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 2 },
      { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 10 },
    ]);
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
      status: 'Fulfilled',
      account_id: world.smartAccountId,
      holding_account_id: world.holdingAccountId,
    });
    expect(await eventTypes(stack.db, booked.orderId)).toEqual(
      expect.arrayContaining(['booked', 'held_in_holding_account', 'transferred_to_customer_account', 'lines_provisioned']),
    );

    // R9: the reseller's holding-account member is told, with the reseller and the customer.
    const fulfilled = await waitForMail(mailOf(booked.orderId, 'order-fulfilled'), 3);
    expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.holdingMemberEmail, world.partnerEmail].sort());
    const memberMail = fulfilled.find((m) => m.to.includes(world.holdingMemberEmail))!;
    expect(memberMail.subject).toBe(`Order PO-2T-${world.suffix} is fulfilled`);
    expect(memberMail.text).toContain('Hello Morgan Member,');
    expect(memberMail.text).toContain(
      `in the customer's Smart Account ${world.smartAccountName} (${world.domain}), virtual account Finance`,
    );
    // Exactly once per recipient (R12).
    expect(mailFor(world.holdingMemberEmail).filter(mailOf(booked.orderId))).toHaveLength(1);
  });

  /**
   * The distributor books an order into the holding account of a partner that is not its
   * reseller: for its reseller (reference PO-2T-X-…), or for that partner itself (PO-2T-S-…).
   */
  async function bookIntoStrangersHoldingAccountFor(orderPartner: 'reseller' | 'stranger') {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const stranger = await createStrangerPartner(world.suffix);
    const booked = await book(stack.client, stack.taskQueue, {
      externalReference: `PO-2T-${orderPartner === 'reseller' ? 'X' : 'S'}-${world.suffix}`,
      bookedByPartnerId: world.distributorId,
      partnerId: orderPartner === 'reseller' ? world.partnerId : stranger.partnerId,
      assignment: { kind: 'holding_account', accountId: stranger.holdingAccountId },
      lines: [PERPETUAL_LINE],
    });
    return { world, stranger, booked };
  }

  /** The distributor books for its reseller but names the holding account of a partner that is not its reseller. */
  async function bookIntoStrangersHoldingAccount() {
    const { world, stranger, booked } = await bookIntoStrangersHoldingAccountFor('reseller');
    const waiting = await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('assignment-refused'));
    return { world, stranger, booked, waiting };
  }

  test("S6: a distributor cannot hold its reseller's order in the PHA of a partner that is not its reseller", async () => {
    const { world, stranger, booked, waiting } = await bookIntoStrangersHoldingAccount();
    expect(waiting).toMatchObject({ phase: 'AwaitingSmartAccount', waitingFor: 'Assignment' });
    expect(waiting.holdingAccountId).toBeUndefined();
    expect(waiting.pendingAction).toContain(
      `holding account "${stranger.holdingAccountId}" belongs to neither the order's partner nor the distributor`,
    );
    expect(waiting.lines.map((l) => l.state)).toEqual(['booked']);

    // Nothing was held anywhere.
    expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([]);
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({ holding_account_id: null, account_id: null });
    expect(await eventTypes(stack.db, booked.orderId)).not.toContain('held_in_holding_account');
    expect(await stack.db('order_lines').where({ order_id: booked.orderId }).pluck('state')).toEqual(['booked']);

    // The order's partner is told why, with the reason; the stranger hears nothing.
    const refused = await waitForMail(mailOf(booked.orderId, 'assignment-refused'));
    expect(refused.map((m) => m.to)).toEqual([[world.partnerEmail]]);
    expect(refused[0].subject).toBe(`Action needed: order PO-2T-X-${world.suffix} could not be assigned`);
    expect(refused[0].text).toContain(`holding account "${stranger.holdingAccountId}" belongs to neither`);
    expect(mailFor(stranger.partnerEmail)).toEqual([]);

    // The order is kept: the reseller can still assign the customer's Smart Account.
    const assigned = await assignSmartAccount(stack.client, booked.orderId, {
      accountId: world.smartAccountId,
      actingPartnerId: world.partnerId,
    });
    expect(assigned).toMatchObject({ phase: 'AwaitingShipment', customerAccountId: world.smartAccountId });
  });

  test('S6: the orders row mirrors an order that waits for an assignment after a refused holding account', async () => {
    const { booked, waiting } = await bookIntoStrangersHoldingAccount();
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
      status: waiting.phase,
      waiting_for: 'Assignment',
    });
  });

  test('S6: a distributor cannot book for a partner that is not its reseller: the booking is refused with the reason, nothing is written', async () => {
    const { stranger, booked } = await bookIntoStrangersHoldingAccountFor('stranger');

    const failure = await stack.client.workflow
      .getHandle(booked.workflowId)
      .result()
      .catch((err) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(failure.cause).toMatchObject({ type: 'NotAuthorized' });
    expect(failure.cause.message).toContain(`partner "${stranger.partnerId}" is not a reseller of`);
    expect(await stack.db('orders').where({ id: booked.orderId })).toEqual([]);
    expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([]);
    expect(await waitForMail(mailOf(booked.orderId), 1, 1_000)).toEqual([]);
  });
});

describe('S7 mixed order', () => {
  test('S7: smart perpetual, smart 12-month term and classic lines → smart entitlements active, an LRP record for the classic line', async () => {
    const world = await createTestWorld(stack.db, uniqueSuffix());
    const termLine = { ...TERM_LINE, sku: 'C9300-DNA-E-1Y', termMonths: 12 };
    const booked = await book(
      stack.client,
      stack.taskQueue,
      directBooking(world, { externalReference: `PO-MIX-${world.suffix}`, lines: [PERPETUAL_LINE, termLine, CLASSIC_LINE] }),
    );

    const deposited = await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
    expect(deposited.lines.map((l) => [l.lineNumber, l.licenseType, l.state, l.accountId])).toEqual([
      [1, 'smart', 'deposited', world.smartAccountId],
      [2, 'smart', 'deposited', world.smartAccountId],
      [3, 'classic', 'deposited', world.smartAccountId],
    ]);
    expect(await stack.db('lrp_records').where({ account_id: world.smartAccountId })).toEqual([]);

    await shipLines(stack.client, booked.orderId, '2026-02-15', [1, 2, 3]);
    const result: OrderStatus = await stack.client.workflow.getHandle(booked.workflowId).result();
    expect(result.phase).toBe('Fulfilled');
    expect(result.lines.map((l) => [l.lineNumber, l.state, l.accountId])).toEqual([
      [1, 'provisioned', world.smartAccountId],
      [2, 'provisioned', world.smartAccountId],
      [3, 'provisioned', world.smartAccountId],
    ]);
    expect(result.lines[1].subscription).toEqual({ startsOn: '2026-02-15', endsOn: '2027-02-15' });
    expect(result.lines[0].subscription).toBeUndefined();
    expect(result.lines[2].subscription).toBeUndefined();

    // Smart lines: entitlements active in the Smart Account.
    const entitlements = await entitlementsOf(stack.db, booked.orderId);
    // The classic license sits deposited in the Smart Account; it is used through LRP, never activated.
    expect(entitlements.find((e) => e.line_number === 3)).toMatchObject({ account_id: world.smartAccountId, status: 'deposited' });
    expect(entitlements.filter((e) => e.line_number !== 3)).toEqual([
      { line_number: 1, account_id: world.smartAccountId, path: null, status: 'active', quantity: 2 },
      { line_number: 2, account_id: world.smartAccountId, path: null, status: 'active', quantity: 10 },
    ]);

    // The classic line: one LRP record in the customer's Smart Account, with a readable key; none for smart lines.
    const lrp = await stack
      .db('lrp_records as r')
      .join('order_lines as l', 'l.id', 'r.order_line_id')
      .where('l.order_id', booked.orderId)
      .select('l.line_number', 'r.account_id', 'r.license_key');
    expect(lrp).toEqual([
      { line_number: 3, account_id: world.smartAccountId, license_key: expect.stringMatching(/^LRP-[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$/) },
    ]);
    const provisionedEvent = await stack
      .db('order_events')
      .where({ order_id: booked.orderId, type: 'lines_provisioned' })
      .select('details');
    expect(provisionedEvent.map((e) => e.details.lrpKeys)).toContainEqual({ 3: lrp[0].license_key });

    expect(
      await stack
        .db('order_lines')
        .where({ order_id: booked.orderId })
        .orderBy('line_number')
        .select('line_number', 'license_type', 'state'),
    ).toEqual([
      { line_number: 1, license_type: 'smart', state: 'provisioned' },
      { line_number: 2, license_type: 'smart', state: 'provisioned' },
      { line_number: 3, license_type: 'classic', state: 'provisioned' },
    ]);
    expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
      status: 'Fulfilled',
      account_id: world.smartAccountId,
    });

    // The fulfilment email, to partner and customer, lists all three lines.
    const fulfilled = await waitForMail(mailOf(booked.orderId, 'order-fulfilled'), 2);
    expect(fulfilled.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());
    for (const mail of fulfilled) {
      expect(mail.text).toContain('1. ISR4K-SEC-PERP x 2 (smart, perpetual), provisioned, shipped 2026-02-15');
      expect(mail.text).toContain('2. C9300-DNA-E-1Y x 10 (smart, 12-month term), provisioned, subscription 2026-02-15 to 2027-02-15');
      expect(mail.text).toContain('3. ASA5506-SEC-BUN x 1 (classic, perpetual), provisioned, shipped 2026-02-15');
      expect(mail.html).toContain('<td>ISR4K-SEC-PERP</td>');
      expect(mail.html).toContain('<td>C9300-DNA-E-1Y</td>');
      expect(mail.html).toContain('<td>ASA5506-SEC-BUN</td>');
    }
  });
});

// Regression from the code review: the order's workflow ID is derived from the booking partner
// and the reference, and a refused booking once kept that ID forever (REJECT_DUPLICATE), so the
// corrected booking could never be sent again.
test('S6 regression: a booking refused for "not a reseller" is booked again with the same reference once the distributor-reseller link exists', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const stranger = await createStrangerPartner(world.suffix);
  const booking: BookOrderInput = {
    externalReference: `PO-2T-AGAIN-${world.suffix}`,
    bookedByPartnerId: world.distributorId,
    partnerId: stranger.partnerId,
    assignment: { kind: 'holding_account', accountId: stranger.holdingAccountId },
    lines: [PERPETUAL_LINE, TERM_LINE],
  };
  const first = await book(stack.client, stack.taskQueue, booking);
  expect(first.alreadyBooked).toBe(false);
  const handle = stack.client.workflow.getHandle(first.workflowId);
  const failure = await handle.result().catch((err) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect(failure.cause).toMatchObject({ type: 'NotAuthorized' });
  expect(failure.cause.message).toContain(`partner "${stranger.partnerId}" is not a reseller of "${world.distributorId}"`);
  const refusedRun = await handle.describe();
  expect(refusedRun.status.name).toBe('FAILED');
  expect(await stack.db('orders').where({ id: first.orderId })).toEqual([]);

  // The distributor signs the partner up as its reseller, and the ordering system sends the booking again.
  await stack.db('distributor_resellers').insert({ distributor_id: world.distributorId, reseller_id: stranger.partnerId });
  const again = await book(stack.client, stack.taskQueue, booking);
  expect(again).toEqual({ orderId: first.orderId, workflowId: first.workflowId, alreadyBooked: false });

  try {
    // A new run of the same order proceeds: held in the (now) reseller's PHA, the reseller told a transfer is needed.
    const held = await waitForStatus(
      stack.client,
      first.workflowId,
      (s) => s.waitingFor === 'PartnerTransfer' && s.emailsSent.includes('transfer-needed'),
    );
    expect(held).toMatchObject({
      phase: 'AwaitingSmartAccount',
      partnerId: stranger.partnerId,
      holdingAccountId: stranger.holdingAccountId,
    });
    expect(held.lines.map((l) => [l.lineNumber, l.state, l.accountId])).toEqual([
      [1, 'held', stranger.holdingAccountId],
      [2, 'held', stranger.holdingAccountId],
    ]);
    const newRun = await handle.describe();
    expect(newRun.runId).not.toBe(refusedRun.runId);
    expect(newRun.status.name).toBe('RUNNING');

    expect(await entitlementsOf(stack.db, first.orderId)).toEqual([
      { line_number: 1, account_id: stranger.holdingAccountId, path: null, status: 'held', quantity: 2 },
      { line_number: 2, account_id: stranger.holdingAccountId, path: null, status: 'held', quantity: 10 },
    ]);
    expect(await stack.db('orders').where({ id: first.orderId }).first()).toMatchObject({
      external_reference: booking.externalReference,
      booked_by_partner_id: world.distributorId,
      partner_id: stranger.partnerId,
      holding_account_id: stranger.holdingAccountId,
      status: 'AwaitingSmartAccount',
      waiting_for: 'PartnerTransfer',
    });
    expect(await eventTypes(stack.db, first.orderId)).toEqual(['booked', 'held_in_holding_account']);
    const transferNeeded = await waitForMail(mailOf(first.orderId, 'transfer-needed'));
    expect(transferNeeded.map((m) => m.to)).toEqual([[stranger.partnerEmail]]);
    expect(transferNeeded[0].subject).toBe(
      `Action needed: order ${booking.externalReference} is in your holding account and must be moved to the customer's Smart Account`,
    );

    // The running order keeps its reference: sending it a third time books nothing.
    expect(await book(stack.client, stack.taskQueue, booking)).toEqual({
      orderId: first.orderId,
      workflowId: first.workflowId,
      alreadyBooked: true,
    });
    const runs = await pollUntil(
      async () =>
        (await listExecutions(stack.client, `WorkflowId = '${first.workflowId}'`)).map((e) => `${e.runId}:${e.status.name}`).sort(),
      (listed) => listed.length === 2 && listed.includes(`${newRun.runId}:RUNNING`),
      'both runs listed',
    );
    expect(runs).toEqual([`${newRun.runId}:RUNNING`, `${refusedRun.runId}:FAILED`].sort());
    expect(await stack.db('orders').where({ external_reference: booking.externalReference }).pluck('id')).toEqual([first.orderId]);
  } finally {
    await handle.terminate('test done').catch(() => undefined);
  }
});
