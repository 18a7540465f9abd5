/**
 * The pure pieces of the license-use scale parts (bench/licensing-seed.ts,
 * bench/licensing-scale-report.ts): how many seeded instances each liveness step must act on, the
 * monthly runs, and the summary rows judged against the view target.
 */
import { livenessDue } from '../../bench/licensing-seed';
import { licenseScaleMarkdown, licenseScaleRows, runsPerMonth, type ViewLoad } from '../../bench/licensing-scale-report';

test('livenessDue counts the instance numbers the seed makes silent: residue 0, 1 and 2 of 100', () => {
  expect(livenessDue(100_000)).toEqual({ removed: 1000, expired: 1000, failedToConnect: 1000 });
  expect(livenessDue(2)).toEqual({ removed: 1, expired: 1, failedToConnect: 0 });
  expect(livenessDue(202)).toEqual({ removed: 3, expired: 3, failedToConnect: 2 });
  for (const count of [1, 99, 101, 2000, 12_345]) {
    const numbers = Array.from({ length: count }, (_, g) => g % 100);
    expect(livenessDue(count)).toEqual({
      removed: numbers.filter((r) => r === 0).length,
      expired: numbers.filter((r) => r === 1).length,
      failedToConnect: numbers.filter((r) => r === 2).length,
    });
  }
});

test('a 1-minute clock runs 43,200 times in 30 days', () => {
  expect(runsPerMonth(60_000)).toBe(43_200);
  expect(runsPerMonth(300_000)).toBe(8_640);
});

test('a view route meets the target only with p99 <= 50 ms and no failed answer', () => {
  const load = (p99: number, non2xx = 0): ViewLoad => ({
    name: 'GET instances',
    connections: 10,
    durationS: 10,
    requests: 1000,
    requestsPerSecond: 100,
    latencyMs: { p50: 10, p90: 20, p99, max: p99, mean: 12 },
    non2xx,
    errors: 0,
  });
  const rows = licenseScaleRows({
    licenseView: { instances: 10_000, skus: 100, caller: 'va_viewer', routes: [load(50), load(51), load(10, 1)] },
  });
  expect(rows.map((r) => r[3].split(';')[0])).toEqual(['met', 'NOT met', 'NOT met']);
  expect(rows[0][0]).toContain('10000 instances, 100 SKUs');
  expect(licenseScaleMarkdown({})).toEqual([]);
  expect(licenseScaleMarkdown({ licenseView: { instances: 1, skus: 1, caller: 'x', routes: [load(1)] } })[1]).toBe(
    '## 8. License views at scale',
  );
});
