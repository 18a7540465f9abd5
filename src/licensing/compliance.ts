/**
 * Pool arithmetic (R17, R18, R20): pure functions, one place that says what a device is told.
 * Licensing is advisory: a state tells the device where it stands, it never switches it off.
 */

export const USE_STATES = ['Authorized', 'Overage', 'OutOfCompliance'] as const;
export type UseState = (typeof USE_STATES)[number];

/** How far an account's use may go beyond what it bought (its overage agreement). */
export type Allowance = { kind: 'none' } | { kind: 'factor'; factor: number } | { kind: 'unlimited' };

export const NO_ALLOWANCE: Allowance = { kind: 'none' };

/** The most an account may use of a pool before the rest is OutOfCompliance. */
export function useCeiling(purchased: number, allowance: Allowance): number {
  if (allowance.kind === 'unlimited') return Number.POSITIVE_INFINITY;
  if (allowance.kind === 'none') return purchased;
  return Math.floor(purchased * allowance.factor + 1e-9);
}

export interface PoolCounts {
  purchased: number;
  /** Use told Authorized: never more than purchased. */
  authorized: number;
  /** Use told Overage: beyond purchased, within the agreement. */
  overage: number;
  /** Use told OutOfCompliance: served by nothing. */
  unserved: number;
}

export function inUse(pool: PoolCounts): number {
  return pool.authorized + pool.overage + pool.unserved;
}

export function balance(pool: PoolCounts): number {
  return pool.purchased - inUse(pool);
}

/** A pool is "insufficient licenses" when some use is served by neither purchase nor agreement. */
export function isInsufficient(pool: PoolCounts): boolean {
  return pool.unserved > 0;
}

/**
 * The state of one instance's use of `count`, given the pool's counts without that use. The
 * whole count is judged together: use that fits what no served use takes of the purchase is
 * Authorized; else Overage if it fits the agreement, else OutOfCompliance. A count of 0 is
 * always Authorized.
 */
export function judgeUse(pool: PoolCounts, count: number, allowance: Allowance): UseState {
  // Use told Overage may cover purchased licenses too (a device of 12 of 10): only what neither
  // kind of served use takes is free, else served use could pass the ceiling.
  // No use is never beyond anything, even in a pool whose served use passed its purchase already.
  if (count === 0 || count <= pool.purchased - pool.authorized - pool.overage) return 'Authorized';
  if (pool.authorized + pool.overage + count <= useCeiling(pool.purchased, allowance)) return 'Overage';
  return 'OutOfCompliance';
}

/** Adds one judged use to the counts (returns new counts; the input is not changed). */
export function addUse(pool: PoolCounts, count: number, state: UseState): PoolCounts {
  if (state === 'Authorized') return { ...pool, authorized: pool.authorized + count };
  if (state === 'Overage') return { ...pool, overage: pool.overage + count };
  return { ...pool, unserved: pool.unserved + count };
}

/**
 * Re-judges every use of a pool after its purchase or agreement changed. Uses come in priority
 * order (who was served before stays served first); returns each use's new state and the counts.
 */
export function rejudgePool(
  purchased: number,
  uses: ReadonlyArray<{ count: number }>,
  allowance: Allowance,
): { states: UseState[]; counts: PoolCounts } {
  let counts: PoolCounts = { purchased, authorized: 0, overage: 0, unserved: 0 };
  const states: UseState[] = [];
  for (const use of uses) {
    const state = judgeUse(counts, use.count, allowance);
    states.push(state);
    counts = addUse(counts, use.count, state);
  }
  return { states, counts };
}

/** Priority of a state when a pool is re-judged: the served keep their place. */
export function statePriority(state: string): number {
  return state === 'Authorized' ? 0 : state === 'Overage' ? 1 : 2;
}

/**
 * The overage a pool shows now: served use beyond the purchase (what a true-up would buy). Not
 * the same as `overage`, the use told Overage: a device of 4 told Overage may cover 2 purchased.
 */
export function overageOf(pool: PoolCounts): number {
  return Math.max(0, pool.authorized + pool.overage - pool.purchased);
}
