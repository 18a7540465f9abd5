/**
 * When an order's reminders fall due (R5). Deterministic and free of I/O: the workflow calls it.
 *
 * Orders booked together (a bulk import, a morning's batch) would otherwise be reminded together,
 * every REMINDER_INTERVAL, in the same second: a burst of timers, workflow tasks and emails. Each
 * order's reminders are therefore moved past the cadence by its own fixed offset, derived from the
 * order ID, so they spread over the jitter window and stay as regular as before for each order.
 */

/** The jitter window never exceeds this share of the interval, so the cadence stays recognisable. */
export const MAX_JITTER_SHARE_OF_INTERVAL = 0.1;

/** The order's offset past the cadence, in [0, min(jitterMs, interval / 10)). */
export function reminderOffsetMs(orderId: string, intervalMs: number, jitterMs: number): number {
  const window = Math.min(Math.max(jitterMs, 0), Math.floor(intervalMs * MAX_JITTER_SHARE_OF_INTERVAL));
  return Math.floor(unitFraction(orderId) * window);
}

/** When reminder number `reminderNumber` (1, 2, ...) of an order waiting since `sinceMs` is due. */
export function reminderDueAtMs(sinceMs: number, reminderNumber: number, intervalMs: number, offsetMs: number): number {
  return sinceMs + reminderNumber * intervalMs + offsetMs;
}

/** FNV-1a (32 bit) of the text as a fraction in [0, 1): stable across runs, processes and versions. */
function unitFraction(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 0x1_0000_0000;
}
