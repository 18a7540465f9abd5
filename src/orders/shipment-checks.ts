import { badRequest, HttpError } from '../api/errors';
import type { OrderStatus } from './order-lifecycle';

/** A day: a business date may be ahead of UTC by up to one. */
const DAY_MS = 86_400_000;

/**
 * The API's checks of a reported shipment against the order's stored status, before its signal
 * is sent: the workflow would drop a refused one with only a log line, and the caller would think
 * it counted. Throws the 400 or 409 the caller gets.
 */
export function checkShipment(status: OrderStatus, orderId: string, lineNumber: number, shippedOn: string, now = Date.now()): void {
  if (Number.isNaN(Date.parse(`${shippedOn}T00:00:00Z`)) || new Date(`${shippedOn}T00:00:00Z`).toISOString().slice(0, 10) !== shippedOn) {
    throw badRequest([{ field: 'shippedOn', reason: 'must be a real calendar date YYYY-MM-DD' }]);
  }
  // A term starts on its ship date (R7): a date still to come would start it early.
  const latest = new Date(now + DAY_MS).toISOString().slice(0, 10);
  if (shippedOn > latest)
    throw badRequest([{ field: 'shippedOn', reason: `must not be after ${latest}: report a shipment once it happened` }]);
  const line = status.lines.find((l) => l.lineNumber === lineNumber);
  if (!line) throw badRequest([{ field: 'lineNumber', reason: `order ${orderId} has no line ${lineNumber}` }]);
  if (status.phase === 'Cancelled' || line.state === 'cancelled')
    throw new HttpError(409, 'InvalidState', `line ${lineNumber} is cancelled`);
  // The first ship date counts (its term is fixed from it): another one is refused, not dropped
  // unseen. A fulfilled order gets its own answer (409 InvalidState, "fulfilled") from the signal.
  if (status.phase !== 'Fulfilled' && line.shippedOn && line.shippedOn !== shippedOn) {
    throw new HttpError(409, 'AlreadyShipped', `line ${lineNumber} already shipped on ${line.shippedOn}; its date does not change`);
  }
}
