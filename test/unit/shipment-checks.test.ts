/**
 * The API's checks of a reported shipment (src/orders/shipment-checks.ts), before its signal is
 * sent: a real date, not after tomorrow (UTC), a line of the order that is not cancelled, and no
 * other date for a line that already shipped (the first counts: its term is fixed from it).
 */
import { HttpError } from '../../src/api/errors';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { checkShipment } from '../../src/orders/shipment-checks';

const NOW = Date.parse('2026-12-08T23:30:00Z');

function statusWith(lines: Array<{ lineNumber: number; state: string; shippedOn?: string }>, phase = 'AwaitingShipment'): OrderStatus {
  return { phase, lines } as unknown as OrderStatus;
}

/** The refusal as the API sends it: status, error code, message and field errors. */
function refusalOf(run: () => void): { status: number; body: { error: string; message: string; errors?: unknown } } | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return {
      status: err.statusCode,
      body: { error: err.code, message: err.message, ...(err.fieldErrors ? { errors: err.fieldErrors } : {}) },
    };
  }
}

const open = statusWith([
  { lineNumber: 1, state: 'deposited' },
  { lineNumber: 2, state: 'shipped', shippedOn: '2026-11-20' },
  { lineNumber: 3, state: 'cancelled' },
]);

test('a date up to tomorrow (UTC) is accepted; the same date again for a shipped line too', () => {
  expect(refusalOf(() => checkShipment(open, 'o1', 1, '2026-12-09', NOW))).toBeUndefined();
  expect(refusalOf(() => checkShipment(open, 'o1', 1, '2020-01-31', NOW))).toBeUndefined();
  expect(refusalOf(() => checkShipment(open, 'o1', 2, '2026-11-20', NOW))).toBeUndefined();
});

test('a date after tomorrow is a 400 naming shippedOn and the latest date allowed', () => {
  expect(refusalOf(() => checkShipment(open, 'o1', 1, '2026-12-10', NOW))).toMatchObject({
    status: 400,
    body: { errors: [{ field: 'shippedOn', reason: 'must not be after 2026-12-09: report a shipment once it happened' }] },
  });
});

test('an impossible date, an unknown line, a cancelled line', () => {
  expect(refusalOf(() => checkShipment(open, 'o1', 1, '2026-02-30', NOW))).toMatchObject({
    status: 400,
    body: { errors: [{ field: 'shippedOn' }] },
  });
  expect(refusalOf(() => checkShipment(open, 'o1', 9, '2026-12-01', NOW))).toMatchObject({
    status: 400,
    body: { errors: [{ field: 'lineNumber', reason: 'order o1 has no line 9' }] },
  });
  expect(refusalOf(() => checkShipment(open, 'o1', 3, '2026-12-01', NOW))).toMatchObject({ status: 409, body: { error: 'InvalidState' } });
});

test('another date for a line that already shipped is a 409 AlreadyShipped naming the recorded date', () => {
  expect(refusalOf(() => checkShipment(open, 'o1', 2, '2026-11-01', NOW))).toMatchObject({
    status: 409,
    body: { error: 'AlreadyShipped', message: 'line 2 already shipped on 2026-11-20; its date does not change' },
  });
});

test('a fulfilled order is left to its own answer (the order is fulfilled), not AlreadyShipped', () => {
  const fulfilled = statusWith([{ lineNumber: 1, state: 'provisioned', shippedOn: '2026-11-20' }], 'Fulfilled');
  expect(refusalOf(() => checkShipment(fulfilled, 'o1', 1, '2026-11-01', NOW))).toBeUndefined();
});
