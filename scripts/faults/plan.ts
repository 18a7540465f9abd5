/**
 * Which orders a fault run books, and when: pure, so the spread over the scenario kinds and the
 * timing of the fault are unit-tested.
 */

/** Every scenario kind of the product brief that ends in a state the runner can check. */
export const SCENARIO_KINDS = [
  /** S1: into the customer's active Smart Account (virtual account Finance), shipped, provisioned. */
  'direct',
  /** S2/S3: held in the partner's holding account, the term line ships while held, the partner assigns. */
  'held-assigned',
  /** S4: delegated; the contact picks the Smart Account through the link in the received mail. */
  'delegated-chosen',
  /** S5: a Smart Account requested for the contact; activated through the link in the received mail. */
  'requested-activated',
  /** S6: a distributor books into its reseller's holding account; the reseller assigns. */
  'two-tier',
  /** S7: smart and classic lines on one order; the classic line gets an LRP record. */
  'mixed-classic',
  /** S9: held, then cancelled before provisioning; licenses withdrawn. */
  'cancelled',
] as const;
export type ScenarioKind = (typeof SCENARIO_KINDS)[number];

export interface PlannedOrder {
  index: number;
  kind: ScenarioKind;
  /** Unique in the run: names the order's world (partner-<suffix>, acme-<suffix>.test, ...). */
  suffix: string;
  /** When the order is booked, in ms after the run starts. */
  startOffsetMs: number;
}

/**
 * `total` orders, round-robin over the kinds (so every kind is in flight at any time), booked
 * evenly over `rampMs`. `tag` keeps suffixes of different fault runs apart.
 */
export function planOrders(total: number, rampMs: number, tag: string): PlannedOrder[] {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(tag)) throw new Error(`tag must be 1-6 lowercase letters or digits (got "${tag}")`);
  const step = total > 1 ? rampMs / (total - 1) : 0;
  return Array.from({ length: total }, (_, index) => ({
    index,
    kind: SCENARIO_KINDS[index % SCENARIO_KINDS.length],
    suffix: `${tag}${String(index).padStart(4, '0')}`,
    startOffsetMs: Math.round(index * step),
  }));
}

/** How many orders of each kind a plan holds. */
export function kindCounts(plan: PlannedOrder[]): Record<ScenarioKind, number> {
  const counts = Object.fromEntries(SCENARIO_KINDS.map((k) => [k, 0])) as Record<ScenarioKind, number>;
  for (const order of plan) counts[order.kind]++;
  return counts;
}

/** The fault hits half-way through booking: the first half is mid-flight, the second half books into the outage. */
export function faultOffsetMs(rampMs: number): number {
  return Math.round(rampMs / 2);
}

/** A small deterministic PRNG (mulberry32), so a run's human delays can be repeated with --seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
