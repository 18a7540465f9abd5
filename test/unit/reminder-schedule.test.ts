import fc from 'fast-check';
import { MAX_JITTER_SHARE_OF_INTERVAL, reminderDueAtMs, reminderOffsetMs } from '../../src/orders/reminder-schedule';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('reminder schedule (R5, spread by order)', () => {
  test('an order keeps its offset: the same ID gives the same offset, reminder after reminder', () => {
    const offset = reminderOffsetMs('ORD-2026-000123', 3 * DAY, 6 * HOUR);
    expect(reminderOffsetMs('ORD-2026-000123', 3 * DAY, 6 * HOUR)).toBe(offset);
    const since = Date.UTC(2026, 10, 1);
    expect([1, 2, 3].map((n) => reminderDueAtMs(since, n, 3 * DAY, offset) - since)).toEqual([
      3 * DAY + offset,
      6 * DAY + offset,
      9 * DAY + offset,
    ]);
  });

  test('the offset stays inside the jitter window and never beyond a tenth of the interval', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 30 * DAY }),
        fc.integer({ min: 0, max: 30 * DAY }),
        (id, interval, jitter) => {
          const offset = reminderOffsetMs(id, interval, jitter);
          expect(Number.isInteger(offset)).toBe(true);
          expect(offset).toBeGreaterThanOrEqual(0);
          const window = Math.min(jitter, Math.floor(interval * MAX_JITTER_SHARE_OF_INTERVAL));
          // Below the window (or exactly 0 when there is none).
          expect(offset).toBeLessThan(Math.max(window, 1));
        },
      ),
    );
  });

  test('jitter 0 keeps the plain cadence', () => {
    expect(reminderOffsetMs('ORD-1', 3 * DAY, 0)).toBe(0);
  });

  test('10,000 orders booked in the same second are spread over the window: no second holds more than a few', () => {
    const window = 6 * HOUR;
    const perSecond = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      const second = Math.floor(reminderOffsetMs(`ORD-BULK-${String(i).padStart(6, '0')}`, 3 * DAY, window) / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    // 21,600 seconds for 10,000 reminders: a uniform spread puts at most a handful in any second.
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(6);
    expect(perSecond.size).toBeGreaterThan(7_000);
  });
});
