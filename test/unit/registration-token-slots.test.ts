/**
 * A registration token's slots (src/licensing/tokens.ts, tokenSlotRows): their capacities add up to
 * exactly max_uses, each at least 1, so spending in any slot with a use left never registers more
 * than max_uses instances; uses already spent fill them in order.
 */
import { MAX_TOKEN_USES, TOKEN_SLOTS, tokenSlotRows } from '../../src/licensing/tokens';

describe('tokenSlotRows', () => {
  test.each([1, 2, 15, 16, 17, 50, 100, 999, MAX_TOKEN_USES])(
    'of %i uses: capacities add up to it, at most %s slots, each >= 1',
    (maxUses) => {
      const slots = tokenSlotRows('7', maxUses);
      expect(slots).toHaveLength(Math.min(maxUses, TOKEN_SLOTS));
      expect(slots.reduce((n, s) => n + s.capacity, 0)).toBe(maxUses);
      expect(Math.min(...slots.map((s) => s.capacity))).toBeGreaterThanOrEqual(1);
      expect(Math.max(...slots.map((s) => s.capacity)) - Math.min(...slots.map((s) => s.capacity))).toBeLessThanOrEqual(1);
      expect(slots.map((s) => s.slot)).toEqual(slots.map((_, i) => i));
      expect(slots.every((s) => s.token_id === '7' && s.uses === 0)).toBe(true);
    },
  );

  test('uses already spent fill the slots in order, never past a capacity', () => {
    const slots = tokenSlotRows('7', 50, 8);
    expect(slots.map((s) => s.capacity)).toEqual([4, 4, ...Array(14).fill(3)]);
    expect(slots.map((s) => s.uses)).toEqual([4, 4, ...Array(14).fill(0)]);
    expect(tokenSlotRows('7', 10, 10).every((s) => s.uses === s.capacity)).toBe(true);
  });
});
