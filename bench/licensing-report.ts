/**
 * The license-use part's figures (bench/licensing.ts) and how they read: a row per figure for the
 * summary table and a section of BENCHMARKS.md. Pure; imports nothing from the rest of the bench.
 */

export interface LoadFigures {
  requests: number;
  seconds: number;
  perSecond: number;
  latencyMs: { count: number; p50: number; p95: number; p99: number; max: number; mean: number };
  failures: Record<string, number>;
}

export interface LicensingResult {
  instances: number;
  virtualAccounts: number;
  concurrency: number;
  databasePoolMax: number;
  /** USAGE_REPORT_BATCH_SIZE of the API and of `direct` (1: one transaction per report). */
  reportBatchSize?: number;
  registration: LoadFigures;
  reports: LoadFigures & { states: Record<string, number> };
  /** The reports in-process, same fleet, same concurrency, as the API applies them (group commit at reportBatchSize). */
  direct: LoadFigures;
  /** reportUsage in-process, one transaction per report: the path without group commit. */
  directAlone?: LoadFigures;
}

export const LICENSING_TARGETS = { reportsPerSecond: 2000, reportP99Ms: 50, registrationsPerSecond: 500 };

const n = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

function met(ok: boolean): string {
  return ok ? 'met' : 'NOT met';
}

/** Rows of the summary table: figure, value, target, note. */
export function licensingRows(l: LicensingResult): string[][] {
  const fleet = `${l.instances} instances / ${l.virtualAccounts} VAs`;
  return [
    [
      `license use: reports via HTTP, per s; p50 / p99 ms (${fleet})`,
      `${n(l.reports.perSecond, 1)}; ${n(l.reports.latencyMs.p50, 1)} / ${n(l.reports.latencyMs.p99, 1)}`,
      `>= ${LICENSING_TARGETS.reportsPerSecond}/s, p99 <= ${LICENSING_TARGETS.reportP99Ms} ms`,
      `${met(l.reports.perSecond >= LICENSING_TARGETS.reportsPerSecond)}, ${met(l.reports.latencyMs.p99 <= LICENSING_TARGETS.reportP99Ms)}`,
    ],
    [
      'license use: the reports straight against Postgres as the API applies them, per s; p50 / p99 ms',
      `${n(l.direct.perSecond, 1)}; ${n(l.direct.latencyMs.p50, 1)} / ${n(l.direct.latencyMs.p99, 1)}`,
      '',
      "the path's own limit",
    ],
    ...(l.directAlone
      ? [
          [
            'license use: one transaction per report straight against Postgres (no group commit), per s; p50 / p99 ms',
            `${n(l.directAlone.perSecond, 1)}; ${n(l.directAlone.latencyMs.p50, 1)} / ${n(l.directAlone.latencyMs.p99, 1)}`,
            '',
            'what group commit adds',
          ],
        ]
      : []),
    [
      'license use: registrations via HTTP, per s; p50 / p99 ms',
      `${n(l.registration.perSecond, 1)}; ${n(l.registration.latencyMs.p50, 1)} / ${n(l.registration.latencyMs.p99, 1)}`,
      `>= ${LICENSING_TARGETS.registrationsPerSecond}/s`,
      met(l.registration.perSecond >= LICENSING_TARGETS.registrationsPerSecond),
    ],
  ];
}

/** The "7. License use" section of BENCHMARKS.md. */
export function licensingMarkdown(l: LicensingResult): string[] {
  const row = (name: string, f: LoadFigures) => [
    name,
    String(f.requests),
    n(f.seconds, 1),
    n(f.perSecond, 1),
    n(f.latencyMs.p50, 1),
    n(f.latencyMs.p95, 1),
    n(f.latencyMs.p99, 1),
    n(f.latencyMs.max, 1),
    String(Object.values(f.failures).reduce((a, b) => a + b, 0)),
  ];
  const table = [
    ['path', 'requests', 's', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'failed'],
    row('POST /v1/devices/registrations', l.registration),
    row('POST /v1/devices/:id/usage-reports', l.reports),
    row(`the same in-process, group commit of ${l.reportBatchSize ?? 1} (no HTTP, no signature checks)`, l.direct),
    ...(l.directAlone ? [row('reportUsage in-process, one transaction per report', l.directAlone)] : []),
  ];
  return [
    '## 7. License use (hot path)',
    '',
    `${l.instances} product instances over ${l.virtualAccounts} virtual accounts, ${l.concurrency} requests in flight, ` +
      `the API's DATABASE_POOL_MAX ${l.databasePoolMax}, USAGE_REPORT_BATCH_SIZE ${l.reportBatchSize ?? 1}. States told: ${JSON.stringify(l.reports.states)}.`,
    '',
    ...table.map((cells, i) => `| ${cells.join(' | ')} |${i === 0 ? `\n|${cells.map(() => '---').join('|')}|` : ''}`),
  ];
}
