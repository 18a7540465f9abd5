/**
 * Pool arithmetic (src/licensing/compliance.ts) under any sequence of deposits, expiries, reports
 * and releases, driven the way the report path and recomputePool drive it: the counters always
 * equal the uses by state, purchased - in use = balance, nothing is Authorized beyond the purchase
 * and nothing served beyond purchase x allowance; a deposit never makes any use's state worse.
 */
import fc from 'fast-check';
import {
  addUse,
  balance,
  inUse,
  judgeUse,
  rejudgePool,
  statePriority,
  useCeiling,
  type Allowance,
  type PoolCounts,
  type UseState,
} from '../../src/licensing/compliance';

interface Use {
  instance: number;
  count: number;
  state: UseState;
  at: number;
}

type Op =
  | { kind: 'deposit'; n: number }
  | { kind: 'expire'; n: number }
  | { kind: 'report'; instance: number; count: number }
  | { kind: 'release'; instance: number };

/** A pool as the hot path and recomputePool keep it: counters plus the live uses. */
class ModelPool {
  counts: PoolCounts = { purchased: 0, authorized: 0, overage: 0, unserved: 0 };
  uses = new Map<number, Use>();
  private clock = 0;

  constructor(private readonly allowance: Allowance) {}

  private field(state: UseState): 'authorized' | 'overage' | 'unserved' {
    return state === 'Authorized' ? 'authorized' : state === 'Overage' ? 'overage' : 'unserved';
  }

  /** recomputePool: the served first, then by report time. */
  rejudge(): void {
    const ordered = [...this.uses.values()].sort(
      (a, b) => statePriority(a.state) - statePriority(b.state) || a.at - b.at || a.instance - b.instance,
    );
    const { states, counts } = rejudgePool(this.counts.purchased, ordered, this.allowance);
    ordered.forEach((use, i) => (use.state = states[i]));
    this.counts = counts;
  }

  apply(op: Op): void {
    if (op.kind === 'deposit') {
      this.counts = { ...this.counts, purchased: this.counts.purchased + op.n };
      this.rejudge();
    } else if (op.kind === 'expire') {
      this.counts = { ...this.counts, purchased: Math.max(0, this.counts.purchased - op.n) };
      this.rejudge();
    } else if (op.kind === 'release') {
      const use = this.uses.get(op.instance);
      if (!use) return;
      const f = this.field(use.state);
      this.counts = { ...this.counts, [f]: this.counts[f] - use.count };
      this.uses.delete(op.instance);
    } else {
      const previous = this.uses.get(op.instance);
      let base = this.counts;
      if (previous) base = { ...base, [this.field(previous.state)]: base[this.field(previous.state)] - previous.count };
      const state = judgeUse(base, op.count, this.allowance);
      this.counts = addUse(base, op.count, state);
      this.uses.set(op.instance, { instance: op.instance, count: op.count, state, at: ++this.clock });
      if (previous && op.count < previous.count && this.counts.overage + this.counts.unserved > 0) this.rejudge();
    }
  }
}

const allowances = fc.oneof(
  fc.constant<Allowance>({ kind: 'none' }),
  fc.constantFrom(1.25, 1.5, 2).map((factor): Allowance => ({ kind: 'factor', factor })),
  fc.constant<Allowance>({ kind: 'unlimited' }),
);
const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('deposit' as const), n: fc.integer({ min: 1, max: 20 }) }),
    fc.record({ kind: fc.constant('expire' as const), n: fc.integer({ min: 1, max: 20 }) }),
    fc.record({ kind: fc.constant('report' as const), instance: fc.integer({ min: 0, max: 7 }), count: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ kind: fc.constant('release' as const), instance: fc.integer({ min: 0, max: 7 }) }),
  ),
  { maxLength: 60 },
);

function checkInvariants(pool: ModelPool, allowance: Allowance): void {
  const byState = { authorized: 0, overage: 0, unserved: 0 };
  for (const use of pool.uses.values()) {
    byState[use.state === 'Authorized' ? 'authorized' : use.state === 'Overage' ? 'overage' : 'unserved'] += use.count;
  }
  const { counts } = pool;
  expect({ authorized: counts.authorized, overage: counts.overage, unserved: counts.unserved }).toEqual(byState);
  expect(counts.authorized).toBeLessThanOrEqual(counts.purchased);
  expect(counts.authorized + counts.overage).toBeLessThanOrEqual(useCeiling(counts.purchased, allowance));
  const total = [...pool.uses.values()].reduce((n, u) => n + u.count, 0);
  expect(inUse(counts)).toBe(total);
  expect(balance(counts)).toBe(counts.purchased - total);
  if (allowance.kind === 'none') expect(counts.overage).toBe(0);
  if (allowance.kind === 'unlimited') expect(counts.unserved).toBe(0);
}

test('any sequence of deposits, expiries, reports and releases keeps the counters exact and within purchase x allowance', () => {
  fc.assert(
    fc.property(allowances, ops, (allowance, sequence) => {
      const pool = new ModelPool(allowance);
      for (const op of sequence) {
        pool.apply(op);
        checkInvariants(pool, allowance);
      }
    }),
    { numRuns: 500 },
  );
});

test('a deposit never makes any use worse, and with enough licenses everything is Authorized', () => {
  fc.assert(
    fc.property(allowances, ops, fc.integer({ min: 1, max: 30 }), (allowance, sequence, n) => {
      const pool = new ModelPool(allowance);
      for (const op of sequence) pool.apply(op);
      const before = new Map([...pool.uses].map(([id, u]) => [id, statePriority(u.state)]));
      pool.apply({ kind: 'deposit', n });
      for (const [id, use] of pool.uses) expect(statePriority(use.state)).toBeLessThanOrEqual(before.get(id)!);
      pool.apply({ kind: 'deposit', n: 8 * 12 });
      for (const use of pool.uses.values()) expect(use.state).toBe('Authorized');
    }),
    { numRuns: 300 },
  );
});

test('judgeUse: within the purchase Authorized, within the ceiling Overage, else OutOfCompliance; 0 always Authorized', () => {
  const pool = { purchased: 10, authorized: 8, overage: 0, unserved: 0 };
  expect(judgeUse(pool, 2, { kind: 'none' })).toBe('Authorized');
  expect(judgeUse(pool, 3, { kind: 'none' })).toBe('OutOfCompliance');
  expect(judgeUse(pool, 7, { kind: 'factor', factor: 1.5 })).toBe('Overage');
  expect(judgeUse(pool, 8, { kind: 'factor', factor: 1.5 })).toBe('OutOfCompliance');
  expect(judgeUse({ purchased: 0, authorized: 0, overage: 0, unserved: 5 }, 0, { kind: 'none' })).toBe('Authorized');
  expect(judgeUse({ purchased: 0, authorized: 0, overage: 0, unserved: 0 }, 1_000_000, { kind: 'unlimited' })).toBe('Overage');
  // U4's pool (13 of 10 used under 1.5x): a device that now uses nothing is not told Overage.
  const inOverage = { purchased: 10, authorized: 10, overage: 3, unserved: 0 };
  expect(judgeUse(inOverage, 0, { kind: 'factor', factor: 1.5 })).toBe('Authorized');
  expect(judgeUse(inOverage, 0, { kind: 'unlimited' })).toBe('Authorized');
});

test('beyond 2^31 (2,148 instances at the 1,000,000 maximum in one pool): the counters stay exact sums by state', () => {
  fc.assert(
    fc.property(
      allowances,
      fc.integer({ min: 0, max: 3_000_000_000 }),
      fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 2148, maxLength: 2300 }),
      (allowance, purchased, counts) => {
        const { states, counts: pool } = rejudgePool(
          purchased,
          counts.map((count) => ({ count })),
          allowance,
        );
        const sum = (state: UseState) => counts.reduce((n, c, i) => (states[i] === state ? n + c : n), 0);
        expect(pool).toEqual({ purchased, authorized: sum('Authorized'), overage: sum('Overage'), unserved: sum('OutOfCompliance') });
        expect(inUse(pool)).toBe(counts.reduce((n, c) => n + c, 0));
        expect(pool.authorized).toBeLessThanOrEqual(purchased);
      },
    ),
    { numRuns: 50 },
  );
  const atMax = rejudgePool(
    10,
    Array.from({ length: 2148 }, () => ({ count: 1_000_000 })),
    { kind: 'unlimited' },
  ).counts;
  expect(atMax).toEqual({ purchased: 10, authorized: 0, overage: 2_148_000_000, unserved: 0 });
  expect(inUse(atMax)).toBeGreaterThan(2 ** 31 - 1);
});
