/**
 * The order's state machine (src/orders/order-lifecycle.ts): line states derived from facts,
 * the order phase and what it waits for, the transitions (pure: they never touch their
 * argument), what is ready to provision, the refusals of the Update validators and the status
 * query's shape.
 */
import type { LineState, OrderFulfillmentInput } from '../../src/orders/order';
import { addMonths, isIsoDate } from '../../src/common/dates';
import {
  assignmentRefusal,
  cancelOrder,
  cancellationRefusal,
  deriveOrderPhase,
  deriveWaitingFor,
  holdInHoldingAccount,
  initialOrderState,
  lineState,
  linesReadyToProvision,
  listStatusOf,
  liveLines,
  markProvisioned,
  orderStatusOf,
  placeInCustomerAccount,
  recordEmail,
  shipLine,
  shipmentRefusal,
  waitFor,
  type AccountWait,
  type LineRecord,
  type OrderPhase,
  type OrderState,
  type Placement,
  type WaitingFor,
} from '../../src/orders/order-lifecycle';

// ---- builders ----

const NOW = Date.UTC(2026, 2, 1, 9, 0);
const ACME = { accountId: 'sa-acme', domain: 'acme.com', virtualAccountPath: 'Finance' };

function input(overrides: Partial<OrderFulfillmentInput> = {}): OrderFulfillmentInput {
  return {
    orderId: 'ord-1',
    externalReference: 'PO-2026-0001',
    bookedByPartnerId: 'partner-1',
    partnerId: 'partner-1',
    assignment: { kind: 'holding_account', accountId: 'pha-partner-1' },
    lines: [
      { lineNumber: 1, sku: 'L-PERP', quantity: 5, licenseType: 'smart', smartAccountMandatory: true },
      { lineNumber: 2, sku: 'C9300-DNA-E-24-3Y', quantity: 10, licenseType: 'smart', termMonths: 36, smartAccountMandatory: true },
      { lineNumber: 3, sku: 'L-CLASSIC-1Y', quantity: 1, licenseType: 'classic', termMonths: 12, smartAccountMandatory: false },
    ],
    ...overrides,
  };
}

/** A freshly booked order: three lines, nothing placed, no wait. */
function booked(overrides: Partial<OrderFulfillmentInput> = {}): OrderState {
  return initialOrderState(input(overrides));
}

function record(overrides: Partial<LineRecord> = {}): LineRecord {
  return {
    lineNumber: 1,
    sku: 'SKU-1',
    quantity: 1,
    licenseType: 'smart',
    smartAccountMandatory: true,
    placement: 'none',
    provisioned: false,
    cancelled: false,
    ...overrides,
  };
}

/** A state with the given lines (and other fields), for phase tables. */
function stateWith(lines: Array<Partial<LineRecord>>, overrides: Partial<OrderState> = {}): OrderState {
  return {
    ...booked(),
    lines: lines.map((l, i) => record({ lineNumber: i + 1, ...l })),
    ...overrides,
  };
}

function held(): OrderState {
  return holdInHoldingAccount(booked(), 'pha-partner-1', 'Default', NOW);
}

function deposited(): OrderState {
  return placeInCustomerAccount(booked(), ACME);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Runs a transition on a deep-frozen copy and checks it did not change it (or throw trying). */
function pure<T>(state: OrderState, transition: (s: OrderState) => T): T {
  const before = structuredClone(state);
  const frozen = deepFreeze(structuredClone(state));
  const result = transition(frozen);
  expect(frozen).toEqual(before);
  return result;
}

const activationWait: AccountWait = { kind: 'activation', accountId: 'sa-new', domain: 'newco.com' };
const transferWait: AccountWait = {
  kind: 'partner-transfer',
  holdingAccountId: 'pha-partner-1',
  heldSinceMs: NOW,
  remindersSent: 0,
  escalated: false,
};

// ---- line states ----

describe('lineState', () => {
  const placements: Placement[] = ['none', 'holding', 'customer'];
  const combos: Array<[Placement, boolean, boolean, boolean]> = [];
  for (const placement of placements)
    for (const shipped of [false, true])
      for (const provisioned of [false, true])
        for (const cancelled of [false, true]) combos.push([placement, shipped, provisioned, cancelled]);

  /** Cancelled wins, then provisioned, then shipped, then where the licenses sit. */
  const expected = (placement: Placement, shipped: boolean, provisioned: boolean, cancelled: boolean): LineState =>
    cancelled
      ? 'cancelled'
      : provisioned
        ? 'provisioned'
        : shipped
          ? 'shipped'
          : ({ none: 'booked', holding: 'held', customer: 'deposited' } as const)[placement];

  test('covers all 24 combinations', () => expect(combos).toHaveLength(24));

  test.each(combos)('placement=%s shipped=%s provisioned=%s cancelled=%s', (placement, shipped, provisioned, cancelled) => {
    const line = record({ placement, provisioned, cancelled, ...(shipped ? { shippedOn: '2026-03-01' } : {}) });
    expect(lineState(line)).toBe(expected(placement, shipped, provisioned, cancelled));
  });

  test.each<[Partial<LineRecord>, LineState]>([
    [{}, 'booked'],
    [{ placement: 'holding' }, 'held'],
    [{ placement: 'customer' }, 'deposited'],
    [{ placement: 'holding', shippedOn: '2026-03-01' }, 'shipped'],
    [{ placement: 'customer', shippedOn: '2026-03-01' }, 'shipped'],
    [{ placement: 'customer', shippedOn: '2026-03-01', provisioned: true }, 'provisioned'],
    [{ placement: 'holding', cancelled: true }, 'cancelled'],
    [{ placement: 'customer', shippedOn: '2026-03-01', provisioned: true, cancelled: true }, 'cancelled'],
  ])('explicitly: %j is %s', (facts, state) => {
    expect(lineState(record(facts))).toBe(state);
  });
});

describe('initialOrderState', () => {
  const state = booked();

  test('copies the identity and the lines, nothing placed, no wait', () => {
    expect(state).toEqual({
      orderId: 'ord-1',
      externalReference: 'PO-2026-0001',
      partnerId: 'partner-1',
      bookedByPartnerId: 'partner-1',
      assignment: { kind: 'holding_account', accountId: 'pha-partner-1' },
      lines: [
        {
          lineNumber: 1,
          sku: 'L-PERP',
          quantity: 5,
          licenseType: 'smart',
          smartAccountMandatory: true,
          placement: 'none',
          provisioned: false,
          cancelled: false,
        },
        {
          lineNumber: 2,
          sku: 'C9300-DNA-E-24-3Y',
          quantity: 10,
          licenseType: 'smart',
          termMonths: 36,
          smartAccountMandatory: true,
          placement: 'none',
          provisioned: false,
          cancelled: false,
        },
        {
          lineNumber: 3,
          sku: 'L-CLASSIC-1Y',
          quantity: 1,
          licenseType: 'classic',
          termMonths: 12,
          smartAccountMandatory: false,
          placement: 'none',
          provisioned: false,
          cancelled: false,
        },
      ],
      cancelled: false,
      emailsSent: [],
    });
  });

  test('a perpetual line has no termMonths key at all', () => {
    expect(state.lines[0]).not.toHaveProperty('termMonths');
  });

  test('is Booked, waiting for Booking', () => {
    expect(deriveOrderPhase(state)).toBe('Booked');
    expect(deriveWaitingFor(state)).toBe('Booking');
    expect(state.lines.map(lineState)).toEqual(['booked', 'booked', 'booked']);
  });
});

// ---- phase and wait ----

describe('deriveOrderPhase and deriveWaitingFor', () => {
  const shipped = { shippedOn: '2026-03-01' };
  const cases: Array<[string, OrderState, OrderPhase, WaitingFor]> = [
    ['nothing placed, no wait', stateWith([{}, {}]), 'Booked', 'Booking'],
    ['nothing placed, shipped before any placement', stateWith([shipped, {}]), 'Booked', 'Booking'],
    ['a cancelled line and a booked one', stateWith([{ cancelled: true }, {}]), 'Booked', 'Booking'],
    // AwaitingSmartAccount, one per wait kind.
    [
      'nothing placed, waiting for an assignment',
      stateWith([{}], { waiting: { kind: 'assignment' } }),
      'AwaitingSmartAccount',
      'Assignment',
    ],
    [
      'nothing placed, assignment refused with a reason',
      stateWith([{}], { waiting: { kind: 'assignment', reason: 'Smart Account "sa-x" is not active' } }),
      'AwaitingSmartAccount',
      'Assignment',
    ],
    [
      'held, waiting for the partner to transfer',
      stateWith([{ placement: 'holding' }], { waiting: transferWait }),
      'AwaitingSmartAccount',
      'PartnerTransfer',
    ],
    [
      'held and shipped, waiting for the partner',
      stateWith([{ placement: 'holding', ...shipped }, { placement: 'holding' }], {
        waiting: { ...transferWait, remindersSent: 3, escalated: true },
      }),
      'AwaitingSmartAccount',
      'PartnerTransfer',
    ],
    [
      'nothing placed, link sent to the customer',
      stateWith([{}], { waiting: { kind: 'customer-choice', sinceMs: 0, remindersSent: 0 } }),
      'AwaitingSmartAccount',
      'CustomerChoice',
    ],
    ['held, no wait recorded', stateWith([{ placement: 'holding' }]), 'AwaitingSmartAccount', 'Assignment'],
    [
      'one line in the customer account, another held',
      stateWith([{ placement: 'customer' }, { placement: 'holding' }], { waiting: transferWait }),
      'AwaitingSmartAccount',
      'PartnerTransfer',
    ],
    // AwaitingActivation.
    ['waiting for a requested Smart Account', stateWith([{}], { waiting: activationWait }), 'AwaitingActivation', 'SmartAccountActivation'],
    [
      'waiting for activation, with a virtual account',
      stateWith([{ ...shipped }, {}], { waiting: { ...activationWait, virtualAccountPath: 'Finance' } }),
      'AwaitingActivation',
      'SmartAccountActivation',
    ],
    // AwaitingShipment.
    [
      'all deposited, none shipped',
      stateWith([{ placement: 'customer' }, { placement: 'customer' }], { customerAccount: ACME }),
      'AwaitingShipment',
      'Shipment',
    ],
    [
      'one shipped, one not',
      stateWith([{ placement: 'customer', ...shipped }, { placement: 'customer' }], { customerAccount: ACME }),
      'AwaitingShipment',
      'Shipment',
    ],
    [
      'one provisioned, one not shipped',
      stateWith([{ placement: 'customer', ...shipped, provisioned: true }, { placement: 'customer' }], { customerAccount: ACME }),
      'AwaitingShipment',
      'Shipment',
    ],
    [
      'a cancelled line does not hold the rest',
      stateWith([{ placement: 'none', cancelled: true }, { placement: 'customer' }], { customerAccount: ACME }),
      'AwaitingShipment',
      'Shipment',
    ],
    // Provisioning.
    [
      'all shipped in the customer account',
      stateWith([{ placement: 'customer', ...shipped }], { customerAccount: ACME }),
      'Provisioning',
      'Provisioning',
    ],
    [
      'one provisioned, the other shipped',
      stateWith(
        [
          { placement: 'customer', ...shipped, provisioned: true },
          { placement: 'customer', ...shipped },
        ],
        { customerAccount: ACME },
      ),
      'Provisioning',
      'Provisioning',
    ],
    // Fulfilled.
    [
      'every line provisioned',
      stateWith([{ placement: 'customer', ...shipped, provisioned: true }], { customerAccount: ACME }),
      'Fulfilled',
      'Nothing',
    ],
    [
      'every live line provisioned, one cancelled',
      stateWith([{ placement: 'customer', ...shipped, provisioned: true }, { cancelled: true }], { customerAccount: ACME }),
      'Fulfilled',
      'Nothing',
    ],
    // Cancelled.
    ['the order is cancelled', stateWith([{ cancelled: true }, { cancelled: true }], { cancelled: true }), 'Cancelled', 'Nothing'],
    ['the order flag alone', stateWith([{ placement: 'holding' }], { cancelled: true, waiting: transferWait }), 'Cancelled', 'Nothing'],
    [
      'every line cancelled, without the order flag',
      stateWith([{ cancelled: true }, { placement: 'holding', cancelled: true }], { waiting: transferWait }),
      'Cancelled',
      'Nothing',
    ],
  ];

  test.each(cases.map(([name, state, phase, waitingFor]) => ({ name, state, phase, waitingFor })))(
    '$name: $phase / $waitingFor',
    ({ state, phase, waitingFor }) => {
      expect(deriveOrderPhase(state)).toBe(phase);
      expect(deriveWaitingFor(state)).toBe(waitingFor);
      expect(listStatusOf(state)).toEqual({ phase, waitingFor });
      expect(orderStatusOf(state)).toMatchObject({ phase, waitingFor });
    },
  );

  test('every phase and every wait appears in the table', () => {
    const phases = new Set(cases.map((c) => c[2]));
    const waits = new Set(cases.map((c) => c[3]));
    expect([...phases].sort()).toEqual(
      ['AwaitingActivation', 'AwaitingShipment', 'AwaitingSmartAccount', 'Booked', 'Cancelled', 'Fulfilled', 'Provisioning'].sort(),
    );
    expect([...waits].sort()).toEqual(
      [
        'Assignment',
        'Booking',
        'CustomerChoice',
        'Nothing',
        'PartnerTransfer',
        'Provisioning',
        'Shipment',
        'SmartAccountActivation',
      ].sort(),
    );
  });

  test('the same phases arise from the transitions themselves', () => {
    let s = booked();
    expect(listStatusOf(s)).toEqual({ phase: 'Booked', waitingFor: 'Booking' });
    s = holdInHoldingAccount(s, 'pha-partner-1', undefined, NOW);
    expect(listStatusOf(s)).toEqual({ phase: 'AwaitingSmartAccount', waitingFor: 'PartnerTransfer' });
    s = shipLine(s, 2, '2026-03-05');
    expect(listStatusOf(s)).toEqual({ phase: 'AwaitingSmartAccount', waitingFor: 'PartnerTransfer' });
    s = placeInCustomerAccount(s, ACME);
    expect(listStatusOf(s)).toEqual({ phase: 'AwaitingShipment', waitingFor: 'Shipment' });
    s = shipLine(shipLine(s, 1, '2026-03-10'), 3, '2026-03-10');
    expect(listStatusOf(s)).toEqual({ phase: 'Provisioning', waitingFor: 'Provisioning' });
    s = markProvisioned(s, [1, 2]);
    expect(listStatusOf(s)).toEqual({ phase: 'Provisioning', waitingFor: 'Provisioning' });
    s = markProvisioned(s, [3]);
    expect(listStatusOf(s)).toEqual({ phase: 'Fulfilled', waitingFor: 'Nothing' });
  });

  test('waiting for an activation, then the account activates', () => {
    let s = waitFor(booked(), activationWait);
    expect(listStatusOf(s)).toEqual({ phase: 'AwaitingActivation', waitingFor: 'SmartAccountActivation' });
    s = placeInCustomerAccount(s, { accountId: 'sa-new', domain: 'newco.com' });
    expect(listStatusOf(s)).toEqual({ phase: 'AwaitingShipment', waitingFor: 'Shipment' });
  });

  test('cancelling from any phase gives Cancelled / Nothing', () => {
    for (const s of [
      booked(),
      held(),
      waitFor(booked(), activationWait),
      waitFor(booked(), { kind: 'customer-choice', sinceMs: 0, remindersSent: 0 }),
      deposited(),
      shipLine(deposited(), 1, '2026-03-01'),
    ]) {
      expect(listStatusOf(cancelOrder(s))).toEqual({ phase: 'Cancelled', waitingFor: 'Nothing' });
    }
  });
});

// ---- transitions ----

describe('holdInHoldingAccount', () => {
  test('puts every unplaced line in the holding account and waits for the partner', () => {
    const next = pure(booked(), (s) => holdInHoldingAccount(s, 'pha-partner-1', 'Default', NOW));
    expect(next.lines.map(lineState)).toEqual(['held', 'held', 'held']);
    for (const line of next.lines) {
      expect(line.placement).toBe('holding');
      expect(line.accountId).toBe('pha-partner-1');
      expect(line.virtualAccountPath).toBe('Default');
    }
    expect(next.holdingAccountId).toBe('pha-partner-1');
    expect(next.waiting).toEqual({
      kind: 'partner-transfer',
      holdingAccountId: 'pha-partner-1',
      heldSinceMs: NOW,
      remindersSent: 0,
      escalated: false,
    });
    expect(next.customerAccount).toBeUndefined();
  });

  test('without a virtual account the lines carry none', () => {
    const next = pure(booked(), (s) => holdInHoldingAccount(s, 'pha-partner-1', undefined, NOW));
    for (const line of next.lines) expect(line.virtualAccountPath).toBeUndefined();
    for (const line of orderStatusOf(next).lines) expect(line).not.toHaveProperty('virtualAccountPath');
  });

  test('a line shipped before placement keeps its ship date and subscription', () => {
    const shipped = shipLine(booked(), 2, '2026-02-20');
    const next = pure(shipped, (s) => holdInHoldingAccount(s, 'pha-partner-1', undefined, NOW));
    expect(next.lines[1]).toMatchObject({
      placement: 'holding',
      shippedOn: '2026-02-20',
      subscription: { startsOn: '2026-02-20', endsOn: '2029-02-20' },
    });
    expect(lineState(next.lines[1])).toBe('shipped');
  });

  test('leaves cancelled lines and lines already in the customer account alone', () => {
    const s = stateWith([{ cancelled: true }, { placement: 'customer', accountId: 'sa-acme' }, {}]);
    const next = pure(s, (x) => holdInHoldingAccount(x, 'pha-partner-1', undefined, NOW));
    expect(next.lines[0]).toEqual(s.lines[0]);
    expect(next.lines[1]).toEqual(s.lines[1]);
    expect(next.lines[2]).toMatchObject({ placement: 'holding', accountId: 'pha-partner-1' });
  });

  test('keeps the rest of the state', () => {
    const s = recordEmail(booked(), 'booking');
    const next = pure(s, (x) => holdInHoldingAccount(x, 'pha-partner-1', undefined, NOW));
    expect(next).toMatchObject({
      orderId: 'ord-1',
      externalReference: 'PO-2026-0001',
      partnerId: 'partner-1',
      emailsSent: ['booking'],
      cancelled: false,
    });
  });
});

describe('placeInCustomerAccount', () => {
  test('deposits every unplaced line and clears the wait', () => {
    const s = waitFor(booked(), { kind: 'assignment', reason: 'x' });
    const next = pure(s, (x) => placeInCustomerAccount(x, ACME));
    expect(next.lines.map(lineState)).toEqual(['deposited', 'deposited', 'deposited']);
    for (const line of next.lines)
      expect(line).toMatchObject({ placement: 'customer', accountId: 'sa-acme', virtualAccountPath: 'Finance' });
    expect(next.customerAccount).toEqual(ACME);
    expect(next.waiting).toBeUndefined();
  });

  test('transfers held lines out of the holding account (R6), remembering the holding account (R9)', () => {
    const next = pure(held(), (s) => placeInCustomerAccount(s, { accountId: 'sa-acme', domain: 'acme.com' }));
    expect(next.lines.map(lineState)).toEqual(['deposited', 'deposited', 'deposited']);
    for (const line of next.lines) {
      expect(line.placement).toBe('customer');
      expect(line.accountId).toBe('sa-acme');
      // The holding account's virtual account does not follow the licenses into the customer's.
      expect(line.virtualAccountPath).toBeUndefined();
    }
    expect(next.holdingAccountId).toBe('pha-partner-1');
    expect(next.waiting).toBeUndefined();
    expect(next.customerAccount).toEqual({ accountId: 'sa-acme', domain: 'acme.com' });
  });

  test('transfers shipped held lines without moving their subscription (R7, S3)', () => {
    const s = shipLine(held(), 2, '2026-03-02');
    const next = pure(s, (x) => placeInCustomerAccount(x, ACME));
    expect(next.lines[1]).toMatchObject({
      placement: 'customer',
      accountId: 'sa-acme',
      virtualAccountPath: 'Finance',
      shippedOn: '2026-03-02',
      subscription: { startsOn: '2026-03-02', endsOn: '2029-03-02' },
      provisioned: false,
    });
    expect(lineState(next.lines[1])).toBe('shipped');
    expect(linesReadyToProvision(next).map((l) => l.lineNumber)).toEqual([2]);
  });

  test('does not move provisioned or cancelled lines', () => {
    const s = stateWith(
      [
        { placement: 'customer', accountId: 'sa-old', shippedOn: '2026-03-01', provisioned: true },
        { placement: 'holding', accountId: 'pha-1', cancelled: true },
        { placement: 'holding', accountId: 'pha-1' },
      ],
      { waiting: transferWait, holdingAccountId: 'pha-1' },
    );
    const next = pure(s, (x) => placeInCustomerAccount(x, ACME));
    expect(next.lines[0]).toEqual(s.lines[0]);
    expect(next.lines[1]).toEqual(s.lines[1]);
    expect(next.lines[2]).toMatchObject({ placement: 'customer', accountId: 'sa-acme' });
  });

  test("copies the account rather than keeping the caller's object", () => {
    const account = { ...ACME };
    const next = placeInCustomerAccount(booked(), account);
    account.accountId = 'changed';
    expect(next.customerAccount?.accountId).toBe('sa-acme');
  });
});

describe('shipLine', () => {
  test('a term line: subscription starts on the ship date and ends term months later (R7)', () => {
    const next = pure(deposited(), (s) => shipLine(s, 2, '2026-03-15'));
    expect(next.lines[1].shippedOn).toBe('2026-03-15');
    expect(next.lines[1].subscription).toEqual({ startsOn: '2026-03-15', endsOn: '2029-03-15' });
    expect(next.lines[1].subscription!.endsOn).toBe(addMonths('2026-03-15', 36));
    expect(lineState(next.lines[1])).toBe('shipped');
  });

  test.each([
    ['2026-01-31', 1, '2026-02-28'],
    ['2028-01-31', 1, '2028-02-29'],
    ['2026-03-31', 1, '2026-04-30'],
    ['2026-11-30', 3, '2027-02-28'],
    ['2026-01-31', 12, '2027-01-31'],
    ['2028-02-29', 12, '2029-02-28'],
  ])('ship %s with a %i-month term ends on %s', (shippedOn, termMonths, endsOn) => {
    const s = stateWith([{ placement: 'customer', termMonths }], { customerAccount: ACME });
    expect(shipLine(s, 1, shippedOn).lines[0].subscription).toEqual({ startsOn: shippedOn, endsOn });
  });

  test('a perpetual line ships without a subscription', () => {
    const next = pure(deposited(), (s) => shipLine(s, 1, '2026-03-15'));
    expect(next.lines[0].shippedOn).toBe('2026-03-15');
    expect(next.lines[0]).not.toHaveProperty('subscription');
  });

  test('only the named line ships', () => {
    const next = shipLine(deposited(), 3, '2026-03-15');
    expect(next.lines.map(lineState)).toEqual(['deposited', 'deposited', 'shipped']);
    expect(next.lines[0]).toEqual(deposited().lines[0]);
    expect(next.lines[1]).toEqual(deposited().lines[1]);
  });

  test('a held line ships and stays held in place; its term runs (S3)', () => {
    const next = pure(held(), (s) => shipLine(s, 2, '2026-03-02'));
    expect(next.lines[1]).toMatchObject({
      placement: 'holding',
      shippedOn: '2026-03-02',
      subscription: { startsOn: '2026-03-02', endsOn: '2029-03-02' },
    });
  });

  test('a booked (unplaced) line can ship', () => {
    const next = shipLine(booked(), 3, '2026-03-02');
    expect(next.lines[2]).toMatchObject({
      placement: 'none',
      shippedOn: '2026-03-02',
      subscription: { startsOn: '2026-03-02', endsOn: '2027-03-02' },
    });
  });

  test('a second shipment of the same line is ignored, whatever its date', () => {
    const first = shipLine(deposited(), 2, '2026-03-15');
    const later = pure(first, (s) => shipLine(s, 2, '2026-09-01'));
    expect(later.lines[1].shippedOn).toBe('2026-03-15');
    expect(later.lines[1].subscription).toEqual({ startsOn: '2026-03-15', endsOn: '2029-03-15' });
    expect(later).toEqual(first);
    expect(shipLine(first, 2, '2026-03-15')).toEqual(first);
  });

  test('a later provisioning never moves the subscription (R7)', () => {
    const shipped = shipLine(held(), 2, '2026-03-02');
    const provisioned = markProvisioned(placeInCustomerAccount(shipped, ACME), [2]);
    expect(provisioned.lines[1].subscription).toEqual({ startsOn: '2026-03-02', endsOn: '2029-03-02' });
  });

  test('a cancelled line does not ship', () => {
    const s = stateWith([{ placement: 'customer', cancelled: true, termMonths: 12 }]);
    const next = pure(s, (x) => shipLine(x, 1, '2026-03-15'));
    expect(next.lines[0]).toEqual(s.lines[0]);
    expect(next.lines[0].shippedOn).toBeUndefined();
  });

  test('an unknown line changes nothing', () => {
    const s = deposited();
    expect(pure(s, (x) => shipLine(x, 99, '2026-03-15'))).toEqual(s);
  });
});

describe('markProvisioned', () => {
  test('marks exactly the named lines', () => {
    const s = shipLine(shipLine(deposited(), 1, '2026-03-01'), 2, '2026-03-01');
    const next = pure(s, (x) => markProvisioned(x, [2]));
    expect(next.lines.map(lineState)).toEqual(['shipped', 'provisioned', 'deposited']);
    expect(next.lines[1].subscription).toEqual(s.lines[1].subscription);
  });

  test('several lines at once, and marking again changes nothing', () => {
    const s = markProvisioned(deposited(), [1, 3]);
    expect(s.lines.map((l) => l.provisioned)).toEqual([true, false, true]);
    expect(pure(s, (x) => markProvisioned(x, [1]))).toEqual(s);
  });

  test('never revives a cancelled line', () => {
    const s = stateWith([{ cancelled: true, placement: 'customer' }, { placement: 'customer' }]);
    const next = pure(s, (x) => markProvisioned(x, [1, 2]));
    expect(next.lines[0].provisioned).toBe(false);
    expect(lineState(next.lines[0])).toBe('cancelled');
    expect(next.lines[1].provisioned).toBe(true);
  });

  test('an empty list or unknown lines change nothing', () => {
    const s = deposited();
    expect(markProvisioned(s, [])).toEqual(s);
    expect(markProvisioned(s, [42])).toEqual(s);
  });
});

describe('cancelOrder', () => {
  test.each<[string, () => OrderState]>([
    ['booked', booked],
    ['held', held],
    ['waiting for activation', () => waitFor(booked(), activationWait)],
    ["waiting for the customer's choice", () => waitFor(booked(), { kind: 'customer-choice', sinceMs: 0, remindersSent: 0 })],
    ['deposited', deposited],
    ['shipped', () => shipLine(held(), 2, '2026-03-02')],
  ])('from %s: every line cancelled, the order cancelled, no wait', (_name, make) => {
    const s = make();
    const next = pure(s, cancelOrder);
    expect(next.cancelled).toBe(true);
    expect(next.waiting).toBeUndefined();
    expect(next.lines.map(lineState)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(liveLines(next)).toEqual([]);
    // What the lines were is kept (for the record), only the flag changes.
    next.lines.forEach((line, i) => expect(line).toEqual({ ...s.lines[i], cancelled: true }));
  });

  test('cancelling twice is the same as once', () => {
    const once = cancelOrder(held());
    expect(pure(once, cancelOrder)).toEqual(once);
  });
});

describe('waitFor and recordEmail', () => {
  test('waitFor sets or clears the wait only', () => {
    const s = booked();
    const next = pure(s, (x) => waitFor(x, { kind: 'customer-choice', sinceMs: 0, remindersSent: 0 }));
    expect(next).toEqual({ ...s, waiting: { kind: 'customer-choice', sinceMs: 0, remindersSent: 0 } });
    expect(pure(next, (x) => waitFor(x, undefined)).waiting).toBeUndefined();
  });

  test('recordEmail appends, in order', () => {
    const s = recordEmail(booked(), 'transfer-needed');
    const next = pure(s, (x) => recordEmail(x, 'transfer-reminder:1'));
    expect(next.emailsSent).toEqual(['transfer-needed', 'transfer-reminder:1']);
    expect(s.emailsSent).toEqual(['transfer-needed']);
  });
});

describe('transitions never mutate their argument (deep-frozen input)', () => {
  const states: Array<[string, () => OrderState]> = [
    ['booked', booked],
    ['held', held],
    ['held and shipped', () => shipLine(held(), 2, '2026-03-02')],
    ['deposited', deposited],
    ['deposited and shipped', () => shipLine(shipLine(deposited(), 1, '2026-03-02'), 2, '2026-03-02')],
    ['partly cancelled', () => stateWith([{ cancelled: true }, { placement: 'holding' }], { waiting: transferWait })],
  ];
  const transitions: Array<[string, (s: OrderState) => unknown]> = [
    ['holdInHoldingAccount', (s) => holdInHoldingAccount(s, 'pha-2', 'VA/Sub', NOW)],
    ['holdInHoldingAccount without VA', (s) => holdInHoldingAccount(s, 'pha-2', undefined, NOW)],
    ['placeInCustomerAccount', (s) => placeInCustomerAccount(s, ACME)],
    ['shipLine (term)', (s) => shipLine(s, 2, '2026-04-30')],
    ['shipLine (perpetual)', (s) => shipLine(s, 1, '2026-04-30')],
    ['markProvisioned', (s) => markProvisioned(s, [1, 2, 3])],
    ['cancelOrder', cancelOrder],
    ['waitFor', (s) => waitFor(s, activationWait)],
    ['recordEmail', (s) => recordEmail(s, 'x')],
    ['orderStatusOf', orderStatusOf],
    ['linesReadyToProvision', linesReadyToProvision],
  ];
  const combos = states.flatMap(([sn, make]) => transitions.map(([tn, t]) => [sn, tn, make, t] as const));

  test.each(combos)('%s -> %s', (_sn, _tn, make, transition) => {
    const state = make();
    const result = pure(state, transition);
    if (result && typeof result === 'object' && 'lines' in result) expect(result).not.toBe(state);
  });

  test('the returned state shares no changed line object with the input', () => {
    const s = deepFreeze(deposited());
    const next = shipLine(s, 2, '2026-03-02');
    expect(next.lines[1]).not.toBe(s.lines[1]);
    expect(s.lines[1].shippedOn).toBeUndefined();
    // Mutating the result cannot reach the frozen input either.
    next.lines[1].quantity = 999;
    expect(s.lines[1].quantity).toBe(10);
  });
});

// ---- what is ready ----

describe('linesReadyToProvision', () => {
  test('only shipped lines in the customer account', () => {
    const s = shipLine(shipLine(deposited(), 1, '2026-03-01'), 3, '2026-03-01');
    expect(linesReadyToProvision(s).map((l) => l.lineNumber)).toEqual([1, 3]);
  });

  test('nothing while the lines are only deposited', () => {
    expect(linesReadyToProvision(deposited())).toEqual([]);
  });

  test('nothing while shipped lines sit in the holding account (R4)', () => {
    const s = shipLine(shipLine(held(), 1, '2026-03-01'), 2, '2026-03-01');
    expect(linesReadyToProvision(s)).toEqual([]);
  });

  test('nothing for shipped lines not placed anywhere', () => {
    expect(linesReadyToProvision(shipLine(booked(), 2, '2026-03-01'))).toEqual([]);
  });

  test('nothing while waiting for an activation', () => {
    expect(linesReadyToProvision(shipLine(waitFor(booked(), activationWait), 2, '2026-03-01'))).toEqual([]);
  });

  test('never a provisioned line', () => {
    const s = markProvisioned(shipLine(shipLine(deposited(), 1, '2026-03-01'), 2, '2026-03-01'), [1]);
    expect(linesReadyToProvision(s).map((l) => l.lineNumber)).toEqual([2]);
  });

  test('never a cancelled line', () => {
    const s = stateWith(
      [
        { placement: 'customer', shippedOn: '2026-03-01', cancelled: true },
        { placement: 'customer', shippedOn: '2026-03-01' },
      ],
      { customerAccount: ACME },
    );
    expect(linesReadyToProvision(s).map((l) => l.lineNumber)).toEqual([2]);
  });

  test('nothing once the order is cancelled', () => {
    const s = shipLine(deposited(), 1, '2026-03-01');
    expect(linesReadyToProvision({ ...s, cancelled: true })).toEqual([]);
    expect(linesReadyToProvision(cancelOrder(s))).toEqual([]);
  });

  test('nothing without a known customer account', () => {
    const s = stateWith([{ placement: 'customer', shippedOn: '2026-03-01' }]);
    expect(linesReadyToProvision(s)).toEqual([]);
  });

  test('a held shipped line becomes ready once transferred', () => {
    const s = shipLine(held(), 2, '2026-03-01');
    expect(linesReadyToProvision(s)).toEqual([]);
    expect(linesReadyToProvision(placeInCustomerAccount(s, ACME)).map((l) => l.lineNumber)).toEqual([2]);
  });
});

// ---- refusals (Update validators) ----

describe('assignmentRefusal', () => {
  test.each<[string, () => OrderState]>([
    ['held in a holding account', held],
    ['waiting for an assignment', () => waitFor(booked(), { kind: 'assignment', reason: 'x' })],
    ["waiting for the customer's choice", () => waitFor(booked(), { kind: 'customer-choice', sinceMs: 0, remindersSent: 0 })],
    ['waiting for an activation', () => waitFor(booked(), activationWait)],
    ['held with a shipped line', () => shipLine(held(), 2, '2026-03-01')],
  ])('accepted when %s', (_name, make) => {
    expect(assignmentRefusal(make())).toBeUndefined();
  });

  test('refused while still being booked', () => {
    expect(assignmentRefusal(booked())).toBe('the order is still being booked; try again in a moment');
  });

  test('refused once cancelled (flag or all lines)', () => {
    expect(assignmentRefusal(cancelOrder(held()))).toBe('the order is cancelled');
    expect(assignmentRefusal(stateWith([{ cancelled: true, placement: 'holding' }], { waiting: transferWait }))).toBe(
      'the order is cancelled',
    );
  });

  test('refused once fulfilled', () => {
    const s = markProvisioned(shipLine(shipLine(shipLine(deposited(), 1, '2026-03-01'), 2, '2026-03-01'), 3, '2026-03-01'), [1, 2, 3]);
    expect(assignmentRefusal(s)).toBe('the order is already fulfilled');
  });

  test('refused once assigned, naming the account', () => {
    expect(assignmentRefusal(deposited())).toBe('the order is already assigned to Smart Account "sa-acme"');
    expect(assignmentRefusal(shipLine(deposited(), 1, '2026-03-01'))).toBe('the order is already assigned to Smart Account "sa-acme"');
    expect(assignmentRefusal(placeInCustomerAccount(held(), ACME))).toBe('the order is already assigned to Smart Account "sa-acme"');
  });

  test('does not touch the state', () => {
    pure(held(), assignmentRefusal);
    pure(deposited(), assignmentRefusal);
  });
});

describe('cancellationRefusal', () => {
  test.each<[string, () => OrderState]>([
    ['booked', booked],
    ['held', held],
    ['waiting for activation', () => waitFor(booked(), activationWait)],
    ['deposited', deposited],
    ['shipped but not provisioned', () => shipLine(shipLine(deposited(), 1, '2026-03-01'), 2, '2026-03-01')],
    ['shipped while held', () => shipLine(held(), 2, '2026-03-01')],
  ])('accepted when %s (R13)', (_name, make) => {
    expect(cancellationRefusal(make())).toBeUndefined();
  });

  test('idempotent: an already cancelled order answers the same (R12)', () => {
    const once = cancelOrder(held());
    expect(cancellationRefusal(once)).toBeUndefined();
    expect(cancellationRefusal({ ...deposited(), cancelled: true })).toBeUndefined();
  });

  test('refused once one line is provisioned, naming it', () => {
    const s = markProvisioned(shipLine(deposited(), 2, '2026-03-01'), [2]);
    expect(cancellationRefusal(s)).toBe('line 2 already provisioned; only orders before provisioning can be cancelled');
  });

  test('refused once several lines are provisioned, naming them all', () => {
    const s = markProvisioned(shipLine(shipLine(deposited(), 1, '2026-03-01'), 3, '2026-03-01'), [1, 3]);
    expect(cancellationRefusal(s)).toBe('lines 1, 3 already provisioned; only orders before provisioning can be cancelled');
  });

  test('refused once fulfilled', () => {
    const s = markProvisioned(deposited(), [1, 2, 3]);
    expect(cancellationRefusal(s)).toMatch(/^lines 1, 2, 3 already provisioned/);
  });

  test('a cancelled line that was never provisioned does not count', () => {
    const s = stateWith([{ cancelled: true }, { placement: 'customer' }], { customerAccount: ACME });
    expect(cancellationRefusal(s)).toBeUndefined();
  });
});

describe('shipmentRefusal', () => {
  test('accepted for a known line with a calendar date', () => {
    expect(shipmentRefusal(deposited(), 1, '2026-03-01', isIsoDate)).toBeUndefined();
    expect(shipmentRefusal(held(), 2, '2028-02-29', isIsoDate)).toBeUndefined();
    expect(shipmentRefusal(booked(), 3, '2026-03-01', isIsoDate)).toBeUndefined();
  });

  test.each<[string, unknown]>([
    ['an unknown number', 4],
    ['zero', 0],
    ['a string', '1'],
    ['undefined', undefined],
    ['null', null],
  ])('an unknown line: %s', (_name, lineNumber) => {
    expect(shipmentRefusal(deposited(), lineNumber, '2026-03-01', isIsoDate)).toBe(`the order has no line ${String(lineNumber)}`);
  });

  test.each<[string, unknown]>([
    ['29 Feb of a common year', '2026-02-29'],
    ['31 Apr', '2026-04-31'],
    ['a timestamp', '2026-03-01T10:00:00Z'],
    ['day-month-year', '01-03-2026'],
    ['empty', ''],
    ['a number', 20260301],
    ['undefined', undefined],
  ])('a bad date: %s', (_name, shippedOn) => {
    expect(shipmentRefusal(deposited(), 1, shippedOn, isIsoDate)).toBe('shippedOn must be a calendar date YYYY-MM-DD');
  });

  test('uses the date check it is given', () => {
    expect(shipmentRefusal(deposited(), 1, '2026-03-01', () => false)).toBe('shippedOn must be a calendar date YYYY-MM-DD');
    expect(shipmentRefusal(deposited(), 1, 'whenever', () => true)).toBeUndefined();
  });

  test('a cancelled line', () => {
    expect(shipmentRefusal(cancelOrder(deposited()), 2, '2026-03-01', isIsoDate)).toBe('line 2 is cancelled');
    const s = stateWith([{ cancelled: true }, {}]);
    expect(shipmentRefusal(s, 1, '2026-03-01', isIsoDate)).toBe('line 1 is cancelled');
    expect(shipmentRefusal(s, 2, '2026-03-01', isIsoDate)).toBeUndefined();
  });

  test('re-shipping with another date is refused, naming the first', () => {
    const s = shipLine(deposited(), 2, '2026-03-01');
    expect(shipmentRefusal(s, 2, '2026-03-02', isIsoDate)).toBe('line 2 already shipped on 2026-03-01');
  });

  test('re-shipping with the same date is allowed (a retried message)', () => {
    const s = shipLine(deposited(), 2, '2026-03-01');
    expect(shipmentRefusal(s, 2, '2026-03-01', isIsoDate)).toBeUndefined();
    expect(shipmentRefusal(markProvisioned(s, [2]), 2, '2026-03-01', isIsoDate)).toBeUndefined();
  });

  test('an unknown line is reported before a bad date', () => {
    expect(shipmentRefusal(deposited(), 9, 'bad', isIsoDate)).toBe('the order has no line 9');
  });
});

// ---- the status query ----

describe('orderStatusOf', () => {
  test('a booked order: identity, lines, nothing pending, no accounts', () => {
    const status = orderStatusOf(booked());
    expect(status).toEqual({
      orderId: 'ord-1',
      externalReference: 'PO-2026-0001',
      partnerId: 'partner-1',
      bookedByPartnerId: 'partner-1',
      assignment: { kind: 'holding_account', accountId: 'pha-partner-1' },
      phase: 'Booked',
      waitingFor: 'Booking',
      lines: [
        { lineNumber: 1, sku: 'L-PERP', quantity: 5, licenseType: 'smart', smartAccountMandatory: true, state: 'booked' },
        {
          lineNumber: 2,
          sku: 'C9300-DNA-E-24-3Y',
          quantity: 10,
          licenseType: 'smart',
          termMonths: 36,
          smartAccountMandatory: true,
          state: 'booked',
        },
        {
          lineNumber: 3,
          sku: 'L-CLASSIC-1Y',
          quantity: 1,
          licenseType: 'classic',
          termMonths: 12,
          smartAccountMandatory: false,
          state: 'booked',
        },
      ],
      emailsSent: [],
    });
    for (const field of ['pendingAction', 'customerAccountId', 'holdingAccountId']) expect(status).not.toHaveProperty(field);
    for (const line of status.lines) {
      for (const field of ['accountId', 'virtualAccountPath', 'shippedOn', 'subscription']) expect(line).not.toHaveProperty(field);
    }
    expect(status.lines[0]).not.toHaveProperty('termMonths');
  });

  describe('pendingAction per wait', () => {
    test.each<[string, () => OrderState, string | undefined]>([
      ['Booking', booked, undefined],
      ['Assignment (no reason)', () => waitFor(booked(), { kind: 'assignment' }), "The partner must assign the customer's Smart Account."],
      [
        'Assignment (with the refusal reason)',
        () => waitFor(booked(), { kind: 'assignment', reason: 'Smart Account "sa-x" is pending activation' }),
        'The partner must assign the customer\'s Smart Account (Smart Account "sa-x" is pending activation).',
      ],
      [
        'Assignment (held, no wait recorded)',
        () => stateWith([{ placement: 'holding' }]),
        "The partner must assign the customer's Smart Account.",
      ],
      ['PartnerTransfer', held, "The partner must transfer the order from its holding account to the customer's active Smart Account."],
      [
        'CustomerChoice',
        () => waitFor(booked(), { kind: 'customer-choice', sinceMs: 0, remindersSent: 0 }),
        'The end-customer contact must pick or create their Smart Account through the emailed link.',
      ],
      [
        'SmartAccountActivation',
        () => waitFor(booked(), activationWait),
        'The end-customer contact must activate the new Smart Account newco.com.',
      ],
      [
        'SmartAccountActivation without a domain',
        () => waitFor(booked(), { kind: 'activation', accountId: 'sa-new', domain: '' }),
        'The end-customer contact must activate the new Smart Account.',
      ],
      ['Shipment', deposited, 'The ordering system must report the shipment of the remaining lines.'],
      ['Provisioning', () => shipLine(shipLine(shipLine(deposited(), 1, '2026-03-01'), 2, '2026-03-01'), 3, '2026-03-01'), undefined],
      ['Nothing (fulfilled)', () => markProvisioned(deposited(), [1, 2, 3]), undefined],
      ['Nothing (cancelled)', () => cancelOrder(held()), undefined],
    ])('%s', (_name, make, action) => {
      const status = orderStatusOf(make());
      if (action === undefined) expect(status).not.toHaveProperty('pendingAction');
      else expect(status.pendingAction).toBe(action);
    });
  });

  test("a held order names its holding account and each line's place", () => {
    const status = orderStatusOf(held());
    expect(status.holdingAccountId).toBe('pha-partner-1');
    expect(status).not.toHaveProperty('customerAccountId');
    for (const line of status.lines)
      expect(line).toMatchObject({ state: 'held', accountId: 'pha-partner-1', virtualAccountPath: 'Default' });
  });

  test('a transferred order names both accounts; shipped lines carry date and subscription', () => {
    const s = recordEmail(
      recordEmail(placeInCustomerAccount(shipLine(held(), 2, '2026-03-02'), ACME), 'transfer-needed'),
      'deposit-confirmation',
    );
    const status = orderStatusOf(s);
    expect(status.customerAccountId).toBe('sa-acme');
    expect(status.holdingAccountId).toBe('pha-partner-1');
    expect(status.lines[1]).toEqual({
      lineNumber: 2,
      sku: 'C9300-DNA-E-24-3Y',
      quantity: 10,
      licenseType: 'smart',
      termMonths: 36,
      smartAccountMandatory: true,
      state: 'shipped',
      accountId: 'sa-acme',
      virtualAccountPath: 'Finance',
      shippedOn: '2026-03-02',
      subscription: { startsOn: '2026-03-02', endsOn: '2029-03-02' },
    });
    expect(status.lines[0]).not.toHaveProperty('shippedOn');
    expect(status.lines[0]).not.toHaveProperty('subscription');
    expect(status.emailsSent).toEqual(['transfer-needed', 'deposit-confirmation']);
  });

  test('a shipped perpetual line has a ship date but no subscription', () => {
    const status = orderStatusOf(shipLine(deposited(), 1, '2026-03-02'));
    expect(status.lines[0].shippedOn).toBe('2026-03-02');
    expect(status.lines[0]).not.toHaveProperty('subscription');
  });

  test('a direct deposit has no holding account', () => {
    const status = orderStatusOf(deposited());
    expect(status.customerAccountId).toBe('sa-acme');
    expect(status).not.toHaveProperty('holdingAccountId');
  });

  test('the status is a copy: changing it does not change the state', () => {
    const s = recordEmail(shipLine(deposited(), 2, '2026-03-02'), 'x');
    const before = structuredClone(s);
    const status = orderStatusOf(s);
    status.emailsSent.push('y');
    status.lines[1].subscription!.endsOn = '2099-01-01';
    expect(s).toEqual(before);
  });

  test('line states in the status match lineState', () => {
    const s = stateWith(
      [
        {},
        { placement: 'holding' },
        { placement: 'customer' },
        { placement: 'customer', shippedOn: '2026-03-01' },
        { placement: 'customer', shippedOn: '2026-03-01', provisioned: true },
        { cancelled: true },
      ],
      { waiting: transferWait },
    );
    expect(orderStatusOf(s).lines.map((l) => l.state)).toEqual(['booked', 'held', 'deposited', 'shipped', 'provisioned', 'cancelled']);
  });
});
