import type { Assignment, LicenseType, LineState } from './order';

/**
 * The order's phase is derived from its lines (never stored twice in the workflow). The same
 * names are the OrderStatus search attribute values operators filter on in the Temporal UI.
 */
export type OrderPhase =
  | 'Booked'
  | 'AwaitingSmartAccount'
  | 'AwaitingActivation'
  | 'AwaitingShipment'
  | 'Fulfilled'
  | 'Cancelled';

export interface LineStatus {
  lineNumber: number;
  sku: string;
  quantity: number;
  licenseType: LicenseType;
  termMonths?: number;
  smartAccountMandatory: boolean;
  state: LineState;
  accountId?: string;
  virtualAccountPath?: string;
}

export interface OrderStatus {
  orderId: string;
  externalReference: string;
  partnerId: string;
  assignment: Assignment;
  phase: OrderPhase;
  lines: LineStatus[];
  /** Purposes of the emails sent so far, e.g. "deposit-confirmation". */
  emailsSent: string[];
}

export function deriveOrderPhase(lines: ReadonlyArray<Pick<LineStatus, 'state'>>): OrderPhase {
  const states = new Set(lines.map((l) => l.state));
  if (states.size === 1 && states.has('cancelled')) return 'Cancelled';
  const live = lines.filter((l) => l.state !== 'cancelled');
  if (live.length === 0) return 'Booked';
  if (live.every((l) => l.state === 'provisioned')) return 'Fulfilled';
  if (live.some((l) => l.state === 'booked')) return 'Booked';
  if (live.some((l) => l.state === 'held')) return 'AwaitingSmartAccount';
  return 'AwaitingShipment';
}
