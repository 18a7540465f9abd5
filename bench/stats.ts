/** Percentiles, latency summaries, spreads and least-squares slopes: the benchmark's arithmetic. */

/**
 * The p-th percentile (0 < p <= 100) by the nearest-rank method: the smallest value such that at
 * least p % of the values are at or below it. Always one of the measured values, never an
 * interpolation, so a p99 of 100 samples is the 99th smallest, not a blend of two.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  return {
    count: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    // Not Math.max(...values): past about 120,000 values (the floor's 20 s on a fast host) the spread overflows the stack.
    max: values.reduce((most, v) => (v > most ? v : most), -Infinity),
    mean: values.reduce((sum, v) => sum + v, 0) / values.length,
  };
}

export interface SpreadSummary {
  count: number;
  /** Seconds from the first to the last timestamp. */
  spreadS: number;
  /** Most timestamps in one whole second (buckets aligned on the first timestamp). */
  maxPerSecond: number;
  /** count / spread (count when everything fell in one instant). */
  meanPerSecond: number;
}

export function spreadOf(timestampsMs: readonly number[]): SpreadSummary {
  if (timestampsMs.length === 0) return { count: 0, spreadS: 0, maxPerSecond: 0, meanPerSecond: 0 };
  const sorted = [...timestampsMs].sort((a, b) => a - b);
  const first = sorted[0];
  const spreadS = (sorted[sorted.length - 1] - first) / 1000;
  const buckets = new Map<number, number>();
  for (const t of sorted) {
    const bucket = Math.floor((t - first) / 1000);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
  }
  return {
    count: sorted.length,
    spreadS,
    maxPerSecond: Math.max(...buckets.values()),
    meanPerSecond: spreadS > 0 ? sorted.length / spreadS : sorted.length,
  };
}

export interface LinearFit {
  /** y per unit of x. */
  slope: number;
  intercept: number;
  /** Coefficient of determination; 1 for a perfect line (and for two points). */
  r2: number;
}

/** Least-squares line through (x, y) points. */
export function linearFit(points: ReadonlyArray<readonly [number, number]>): LinearFit {
  const n = points.length;
  if (n === 0) return { slope: Number.NaN, intercept: Number.NaN, r2: Number.NaN };
  const meanX = points.reduce((s, [x]) => s + x, 0) / n;
  const meanY = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const [x, y] of points) {
    sxx += (x - meanX) ** 2;
    sxy += (x - meanX) * (y - meanY);
    syy += (y - meanY) ** 2;
  }
  if (sxx === 0) return { slope: Number.NaN, intercept: meanY, r2: Number.NaN };
  const slope = sxy / sxx;
  const intercept = meanY - slope * meanX;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept, r2 };
}
