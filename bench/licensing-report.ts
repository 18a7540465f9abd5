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
  /** CPU per request over HTTP, by process: the device fleet, the API (with the idle driver), Postgres's backends. */
  cpuMsPerRequest?: CpuSplit;
}

export interface CpuSplit {
  fleet: number;
  api: number;
  postgres: number;
}

/** What the CPU split allows: requests per second when the three use all of this machine's cores and nothing else. */
export function cpuBound(split: CpuSplit, cores: number): number {
  const total = split.fleet + split.api + split.postgres;
  return total > 0 ? (cores * 1000) / total : 0;
}

export interface LicensingResult {
  instances: number;
  virtualAccounts: number;
  concurrency: number;
  databasePoolMax: number;
  /** USAGE_REPORT_BATCH_SIZE of the API and of `direct` (1: one transaction per report). */
  reportBatchSize?: number;
  registration: LoadFigures;
  /** Each registered device opening its session before it reports (absent from runs before sessions). */
  sessions?: LoadFigures;
  reports: LoadFigures & { states: Record<string, number> };
  /**
   * Reports started at `offeredPerSecond` whatever the answers (open loop: devices do not wait for
   * each other), timed from when each was due: the target's own shape. Absent from older runs.
   */
  offered?: LoadFigures & { states: Record<string, number>; offeredPerSecond: number };
  /** The reports in-process, same fleet, same concurrency, as the API applies them (group commit at reportBatchSize). */
  direct: LoadFigures;
  /** reportUsage in-process, one transaction per report: the path without group commit. */
  directAlone?: LoadFigures;
  /**
   * The same fleet, transport and concurrency against a bare node:http server that only checks the
   * device's signature and signs the answer (bench/licensing-floor.ts); its CPU in the `api` column.
   */
  floor?: LoadFigures;
}

export const LICENSING_TARGETS = { reportsPerSecond: 2000, reportP99Ms: 50, registrationsPerSecond: 500 };

const n = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

const ratio = (a: number, b: number) => (b > 0 ? `${n(a / b, 2)}x` : '-');

function met(ok: boolean): string {
  return ok ? 'met' : 'NOT met';
}

const failed = (f: LoadFigures) => Object.values(f.failures).reduce((a, b) => a + b, 0);

/**
 * The report target's rows. With the open loop, the target is judged there (the rate offered,
 * every report answered, p99 from when each was due); the closed loop shows the most its callers
 * get. Older runs had only the closed loop, judged against the target.
 */
function reportTargetRows(l: LicensingResult): string[][] {
  const fleet = `${l.instances} instances / ${l.virtualAccounts} VAs`;
  const target = `>= ${LICENSING_TARGETS.reportsPerSecond}/s, p99 <= ${LICENSING_TARGETS.reportP99Ms} ms`;
  const latency = (f: LoadFigures) => `${n(f.latencyMs.p50, 1)} / ${n(f.latencyMs.p99, 1)}`;
  const p99Met = (f: LoadFigures) => met(f.latencyMs.p99 <= LICENSING_TARGETS.reportP99Ms);
  if (!l.offered) {
    return [
      [
        `license use: reports via HTTP, per s; p50 / p99 ms (${fleet})`,
        `${n(l.reports.perSecond, 1)}; ${latency(l.reports)}`,
        target,
        `${met(l.reports.perSecond >= LICENSING_TARGETS.reportsPerSecond)}, ${p99Met(l.reports)}`,
      ],
    ];
  }
  const o = l.offered;
  const kept = o.offeredPerSecond >= LICENSING_TARGETS.reportsPerSecond && failed(o) === 0;
  return [
    [
      `license use: reports via HTTP offered at ${o.offeredPerSecond}/s (open loop): answered of offered; p50 / p99 ms from when due (${fleet})`,
      `${o.requests} of ${o.requests + failed(o)}; ${latency(o)}`,
      target,
      `${met(kept)}, ${p99Met(o)}`,
    ],
    [
      `license use: reports via HTTP, ${l.concurrency} in flight (closed loop), per s; p50 / p99 ms`,
      `${n(l.reports.perSecond, 1)}; ${latency(l.reports)}`,
      '',
      `the most ${l.concurrency} callers waiting for their answers get`,
    ],
  ];
}

/** Rows of the summary table: figure, value, target, note. */
export function licensingRows(l: LicensingResult): string[][] {
  return [
    ...reportTargetRows(l),
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
    ...(l.floor
      ? [
          [
            'license use: reports with no framework and no database (bare node:http: check the request, sign the answer), per s; p50 / p99 ms',
            `${n(l.floor.perSecond, 1)}; ${n(l.floor.latencyMs.p50, 1)} / ${n(l.floor.latencyMs.p99, 1)}`,
            '',
            `the floor on this machine; via HTTP ${ratio(l.reports.perSecond, l.floor.perSecond)} of it, ` +
              `${ratio(l.reports.perSecond, l.direct.perSecond)} of straight against Postgres`,
          ],
        ]
      : []),
    ...cpuRows('reports', l.reports),
    ...(l.offered ? cpuRows('reports', l.offered, `offered at ${l.offered.offeredPerSecond}/s`) : []),
    ...(l.floor?.cpuMsPerRequest
      ? [
          [
            'license use: CPU per report with no framework and no database, ms: device fleet / server',
            `${n(l.floor.cpuMsPerRequest.fleet, 2)} / ${n(l.floor.cpuMsPerRequest.api, 2)}`,
            '',
            `2 cores fully used at this cost: at most ${n(cpuBound(l.floor.cpuMsPerRequest, 2))} reports/s`,
          ],
        ]
      : []),
    ...cpuRows('registrations', l.registration),
    [
      'license use: registrations via HTTP, per s; p50 / p99 ms',
      `${n(l.registration.perSecond, 1)}; ${n(l.registration.latencyMs.p50, 1)} / ${n(l.registration.latencyMs.p99, 1)}`,
      `>= ${LICENSING_TARGETS.registrationsPerSecond}/s`,
      met(l.registration.perSecond >= LICENSING_TARGETS.registrationsPerSecond),
    ],
  ];
}

/** Where a request's CPU went over HTTP, and the rate the machine's cores allow at that cost. */
function cpuRows(name: string, f: LoadFigures, phase = 'via HTTP'): string[][] {
  const c = f.cpuMsPerRequest;
  if (!c) return [];
  return [
    [
      `license use: CPU per ${name.slice(0, -1)} ${phase}, ms: device fleet / API / Postgres`,
      `${n(c.fleet, 2)} / ${n(c.api, 2)} / ${n(c.postgres, 2)}`,
      '',
      `2 cores fully used at this cost: at most ${n(cpuBound(c, 2))} ${name}/s`,
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
    String(failed(f)),
  ];
  const table = [
    ['path', 'requests', 's', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'failed'],
    row('POST /v1/devices/registrations', l.registration),
    ...(l.sessions ? [row('POST /v1/devices/:id/sessions (each device once, before it reports)', l.sessions)] : []),
    row(`POST /v1/devices/:id/usage-reports, ${l.concurrency} in flight (closed loop)`, l.reports),
    ...(l.offered ? [row(`the same offered at ${l.offered.offeredPerSecond}/s (open loop; latency from when due)`, l.offered)] : []),
    row(`the same in-process, group commit of ${l.reportBatchSize ?? 1} (no HTTP, no signature checks)`, l.direct),
    ...(l.directAlone ? [row('reportUsage in-process, one transaction per report', l.directAlone)] : []),
    ...(l.floor
      ? [row('the same reports with no framework and no database (bare node:http: check the request, sign the answer)', l.floor)]
      : []),
  ];
  const cpu = (name: string, f: LoadFigures | undefined) =>
    f?.cpuMsPerRequest
      ? [`${name}: ${n(f.cpuMsPerRequest.fleet, 2)} / ${n(f.cpuMsPerRequest.api, 2)} / ${n(f.cpuMsPerRequest.postgres, 2)}`]
      : [];
  const cpuLines = [
    ...cpu('sessions opened', l.sessions),
    ...cpu('via HTTP', l.reports),
    ...cpu(`offered at ${l.offered?.offeredPerSecond}/s`, l.offered),
    ...cpu('no framework, no database', l.floor),
  ];
  // The machine's load inflates both alike: the API's CPU over the floor server's, same run, divides it out.
  if (l.reports.cpuMsPerRequest && l.floor?.cpuMsPerRequest)
    cpuLines.push(`API over floor server ${ratio(l.reports.cpuMsPerRequest.api, l.floor.cpuMsPerRequest.api)}`);
  return [
    '## 7. License use (hot path)',
    '',
    `${l.instances} product instances over ${l.virtualAccounts} virtual accounts, ${l.concurrency} requests in flight, ` +
      `the API's DATABASE_POOL_MAX ${l.databasePoolMax}, USAGE_REPORT_BATCH_SIZE ${l.reportBatchSize ?? 1}. States told: ${JSON.stringify(l.reports.states)}.`,
    '',
    ...table.map((cells, i) => `| ${cells.join(' | ')} |${i === 0 ? `\n|${cells.map(() => '---').join('|')}|` : ''}`),
    ...(cpuLines.length ? ['', `CPU per report, ms (device fleet / API or server / Postgres): ${cpuLines.join('; ')}.`] : []),
  ];
}
