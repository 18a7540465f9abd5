/**
 * The order's state machine, pure and deterministic: the workflow holds an OrderState, applies
 * these transitions, and derives everything else (line states, the order phase, what it waits
 * for, the status query) from it. Unit-tested on its own; imported by the workflow.
 *
 * A line's state is derived from facts about it, so it cannot contradict them:
 *   booked ──deposit(customer SA)──▶ deposited ──ship──▶ shipped ──provision──▶ provisioned
 *     └────deposit(holding)──▶ held ──transfer──▶ deposited
 *   held, booked or deposited lines can ship (the term starts then, R7); any line not yet
 *   provisioned can be cancelled (R13).
 */
import { addMonths } from '../common/dates';
import type { Assignment, LineState, OrderFulfillmentInput, OrderLineInput } from './order';

export type Placement = 'none' | 'holding' | 'customer';

export interface LineRecord extends OrderLineInput {
  placement: Placement;
  accountId?: string;
  virtualAccountPath?: string;
  /** The ship date from the shipment message (YYYY-MM-DD). */
  shippedOn?: string;
  /** Term lines: fixed when the line ships, never moved by a later provisioning (R7). */
  subscription?: { startsOn: string; endsOn: string };
  provisioned: boolean;
  cancelled: boolean;
}

/** What the order is waiting for before its licenses can reach the customer's account. */
export type AccountWait =
  | { kind: 'assignment'; reason?: string }
  | { kind: 'partner-transfer'; holdingAccountId: string; heldSinceMs: number; remindersSent: number; escalated: boolean }
  | { kind: 'customer-choice'; sinceMs: number; remindersSent: number; partnerTold?: boolean }
  | { kind: 'activation'; accountId: string; domain: string; virtualAccountPath?: string };

export interface OrderState {
  orderId: string;
  externalReference: string;
  partnerId: string;
  bookedByPartnerId: string;
  assignment: Assignment;
  lines: LineRecord[];
  /** The customer's Smart Account once known and active. */
  customerAccount?: { accountId: string; domain: string; virtualAccountPath?: string };
  /** The holding account the licenses sat in, if any (its members are told at fulfilment, R9). */
  holdingAccountId?: string;
  waiting?: AccountWait;
  cancelled: boolean;
  /** Purposes of the emails sent, in order (e.g. "transfer-needed", "transfer-reminder:2"). */
  emailsSent: string[];
}

export const ORDER_PHASES = [
  'Booked',
  'AwaitingSmartAccount',
  'AwaitingActivation',
  'AwaitingShipment',
  'Provisioning',
  'Fulfilled',
  'Cancelled',
] as const;
export type OrderPhase = (typeof ORDER_PHASES)[number];

export const WAITING_FOR = [
  'Booking',
  'Assignment',
  'PartnerTransfer',
  'CustomerChoice',
  'SmartAccountActivation',
  'Shipment',
  'Provisioning',
  'Nothing',
] as const;
export type WaitingFor = (typeof WAITING_FOR)[number];

export interface LineStatus extends OrderLineInput {
  state: LineState;
  accountId?: string;
  virtualAccountPath?: string;
  shippedOn?: string;
  subscription?: { startsOn: string; endsOn: string };
}

export interface OrderStatus {
  orderId: string;
  externalReference: string;
  partnerId: string;
  /** Who booked it: the partner itself, or in two-tier its distributor (R10). */
  bookedByPartnerId: string;
  assignment: Assignment;
  phase: OrderPhase;
  waitingFor: WaitingFor;
  /** What someone has to do next, in words, or undefined when nobody has to act. */
  pendingAction?: string;
  customerAccountId?: string;
  holdingAccountId?: string;
  lines: LineStatus[];
  emailsSent: string[];
}

/** What was ordered on a line, as booked (the part of a line that never changes). */
function productOf(line: OrderLineInput): OrderLineInput {
  return {
    lineNumber: line.lineNumber,
    sku: line.sku,
    quantity: line.quantity,
    licenseType: line.licenseType,
    ...(line.termMonths !== undefined ? { termMonths: line.termMonths } : {}),
    smartAccountMandatory: line.smartAccountMandatory,
  };
}

export function initialOrderState(input: OrderFulfillmentInput): OrderState {
  return {
    orderId: input.orderId,
    externalReference: input.externalReference,
    partnerId: input.partnerId,
    bookedByPartnerId: input.bookedByPartnerId,
    assignment: input.assignment,
    lines: input.lines.map((line) => ({
      ...productOf(line),
      placement: 'none',
      provisioned: false,
      cancelled: false,
    })),
    cancelled: false,
    emailsSent: [],
  };
}

export function lineState(line: LineRecord): LineState {
  if (line.cancelled) return 'cancelled';
  if (line.provisioned) return 'provisioned';
  if (line.shippedOn) return 'shipped';
  if (line.placement === 'holding') return 'held';
  if (line.placement === 'customer') return 'deposited';
  return 'booked';
}

export function liveLines(state: OrderState): LineRecord[] {
  return state.lines.filter((line) => !line.cancelled);
}

export function deriveOrderPhase(state: OrderState): OrderPhase {
  const live = liveLines(state);
  if (state.cancelled || (state.lines.length > 0 && live.length === 0)) return 'Cancelled';
  if (live.length > 0 && live.every((line) => line.provisioned)) return 'Fulfilled';
  if (live.some((line) => line.placement !== 'customer')) {
    if (state.waiting === undefined && live.every((line) => line.placement === 'none')) return 'Booked';
    return state.waiting?.kind === 'activation' ? 'AwaitingActivation' : 'AwaitingSmartAccount';
  }
  if (live.some((line) => !line.shippedOn)) return 'AwaitingShipment';
  return 'Provisioning';
}

export function deriveWaitingFor(state: OrderState): WaitingFor {
  switch (deriveOrderPhase(state)) {
    case 'Booked':
      return 'Booking';
    case 'AwaitingSmartAccount':
    case 'AwaitingActivation':
      switch (state.waiting?.kind) {
        case 'partner-transfer':
          return 'PartnerTransfer';
        case 'customer-choice':
          return 'CustomerChoice';
        case 'activation':
          return 'SmartAccountActivation';
        default:
          return 'Assignment';
      }
    case 'AwaitingShipment':
      return 'Shipment';
    case 'Provisioning':
      return 'Provisioning';
    default:
      return 'Nothing';
  }
}

function pendingAction(state: OrderState): string | undefined {
  switch (deriveWaitingFor(state)) {
    case 'Assignment':
      return `The partner must assign the customer's Smart Account${state.waiting?.kind === 'assignment' && state.waiting.reason ? ` (${state.waiting.reason})` : ''}.`;
    case 'PartnerTransfer':
      return "The partner must transfer the order from its holding account to the customer's active Smart Account.";
    case 'CustomerChoice':
      return 'The end-customer contact must pick or create their Smart Account through the emailed link.';
    case 'SmartAccountActivation':
      return `The end-customer contact must activate the new Smart Account ${state.waiting?.kind === 'activation' ? state.waiting.domain : ''}.`.replace(
        ' .',
        '.',
      );
    case 'Shipment':
      return 'The ordering system must report the shipment of the remaining lines.';
    default:
      return undefined;
  }
}

export function orderStatusOf(state: OrderState): OrderStatus {
  const action = pendingAction(state);
  return {
    orderId: state.orderId,
    externalReference: state.externalReference,
    partnerId: state.partnerId,
    bookedByPartnerId: state.bookedByPartnerId,
    assignment: state.assignment,
    phase: deriveOrderPhase(state),
    waitingFor: deriveWaitingFor(state),
    ...(action ? { pendingAction: action } : {}),
    ...(state.customerAccount ? { customerAccountId: state.customerAccount.accountId } : {}),
    ...(state.holdingAccountId ? { holdingAccountId: state.holdingAccountId } : {}),
    lines: state.lines.map((line) => ({
      ...productOf(line),
      state: lineState(line),
      ...(line.accountId ? { accountId: line.accountId } : {}),
      ...(line.virtualAccountPath ? { virtualAccountPath: line.virtualAccountPath } : {}),
      ...(line.shippedOn ? { shippedOn: line.shippedOn } : {}),
      ...(line.subscription ? { subscription: { ...line.subscription } } : {}),
    })),
    emailsSent: [...state.emailsSent],
  };
}

/** The phase and wait as Postgres mirrors them for read-your-writes lists. */
export function listStatusOf(state: OrderState): { phase: OrderPhase; waitingFor: WaitingFor } {
  return { phase: deriveOrderPhase(state), waitingFor: deriveWaitingFor(state) };
}

// ---- transitions: each returns a new state and leaves its argument untouched ----

function withLines(state: OrderState, change: (line: LineRecord) => LineRecord): OrderState {
  return { ...state, lines: state.lines.map((line) => (line.cancelled ? line : change({ ...line }))) };
}

/** Lines not yet in the customer's account go to the holding account (R4). */
export function holdInHoldingAccount(
  state: OrderState,
  holdingAccountId: string,
  virtualAccountPath: string | undefined,
  nowMs: number,
): OrderState {
  const next = withLines(state, (line) =>
    line.placement === 'none'
      ? {
          ...line,
          placement: 'holding',
          accountId: holdingAccountId,
          ...(virtualAccountPath ? { virtualAccountPath } : { virtualAccountPath: undefined }),
        }
      : line,
  );
  return {
    ...next,
    holdingAccountId,
    waiting: { kind: 'partner-transfer', holdingAccountId, heldSinceMs: nowMs, remindersSent: 0, escalated: false },
  };
}

/** Every live line not provisioned moves into the customer's active Smart Account (R6). */
export function placeInCustomerAccount(
  state: OrderState,
  account: { accountId: string; domain: string; virtualAccountPath?: string },
): OrderState {
  const next = withLines(state, (line) =>
    line.provisioned
      ? line
      : { ...line, placement: 'customer', accountId: account.accountId, virtualAccountPath: account.virtualAccountPath },
  );
  return { ...next, customerAccount: { ...account }, waiting: undefined };
}

/** R7: the term starts on the ship date and its end is fixed now. */
export function shipLine(state: OrderState, lineNumber: number, shippedOn: string): OrderState {
  return {
    ...state,
    lines: state.lines.map((line) =>
      line.lineNumber !== lineNumber || line.shippedOn || line.cancelled
        ? line
        : {
            ...line,
            shippedOn,
            ...(line.termMonths ? { subscription: { startsOn: shippedOn, endsOn: addMonths(shippedOn, line.termMonths) } } : {}),
          },
    ),
  };
}

/** R8: shipped lines in the customer's active account are ready to provision. */
export function linesReadyToProvision(state: OrderState): LineRecord[] {
  if (state.cancelled || !state.customerAccount) return [];
  return liveLines(state).filter((line) => !line.provisioned && line.shippedOn && line.placement === 'customer');
}

export function markProvisioned(state: OrderState, lineNumbers: number[]): OrderState {
  return withLines(state, (line) => (lineNumbers.includes(line.lineNumber) ? { ...line, provisioned: true } : line));
}

export function cancelOrder(state: OrderState): OrderState {
  return { ...withLines(state, (line) => ({ ...line, cancelled: true })), cancelled: true, waiting: undefined };
}

export function waitFor(state: OrderState, waiting: AccountWait | undefined): OrderState {
  return { ...state, waiting };
}

export function recordEmail(state: OrderState, purpose: string): OrderState {
  return { ...state, emailsSent: [...state.emailsSent, purpose] };
}

// ---- validation of messages against the state alone (Update validators) ----

/** Why an assignment cannot be taken now, or undefined when it can be tried. */
export function assignmentRefusal(state: OrderState): string | undefined {
  const phase = deriveOrderPhase(state);
  if (phase === 'Cancelled') return 'the order is cancelled';
  if (phase === 'Fulfilled') return 'the order is already fulfilled';
  if (phase === 'Booked') return 'the order is still being booked; try again in a moment';
  if (state.customerAccount) return `the order is already assigned to Smart Account "${state.customerAccount.accountId}"`;
  return undefined;
}

export function cancellationRefusal(state: OrderState): string | undefined {
  if (state.cancelled) return undefined; // cancelling twice answers the same (R12)
  return provisionedRefusal(
    liveLines(state)
      .filter((line) => line.provisioned)
      .map((line) => line.lineNumber),
  );
}

/** R13: why an order with these provisioned lines cannot be cancelled, if it cannot. */
export function provisionedRefusal(provisionedLineNumbers: number[]): string | undefined {
  const n = provisionedLineNumbers;
  if (n.length === 0) return undefined;
  return `line${n.length > 1 ? 's' : ''} ${n.join(', ')} already provisioned; only orders before provisioning can be cancelled`;
}

export function shipmentRefusal(
  state: OrderState,
  lineNumber: unknown,
  shippedOn: unknown,
  isDate: (v: unknown) => boolean,
): string | undefined {
  const line = state.lines.find((l) => l.lineNumber === lineNumber);
  if (!line) return `the order has no line ${String(lineNumber)}`;
  if (!isDate(shippedOn)) return 'shippedOn must be a calendar date YYYY-MM-DD';
  if (line.cancelled) return `line ${line.lineNumber} is cancelled`;
  if (line.shippedOn && line.shippedOn !== shippedOn) return `line ${line.lineNumber} already shipped on ${line.shippedOn}`;
  return undefined;
}
