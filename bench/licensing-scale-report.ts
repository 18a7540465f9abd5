/**
 * The license-use scale parts' figures and how they read (bench/licensing-view.ts,
 * licensing-clock.ts, licensing-true-up.ts): rows of the summary table and sections of
 * BENCHMARKS.md. Pure; imports only types.
 */
import type { ActionCounts } from './history-cost';

/** One route under autocannon (the API part's ApiLoadResult, the fields read here). */
export interface ViewLoad {
  name: string;
  connections: number;
  durationS: number;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  /** CPU the API process spent per answer (user + system, the driver's process.cpuUsage). */
  apiCpuMsPerRequest?: number;
  /** CPU the bench database's Postgres backends spent per answer (/proc; a lower bound, bench/cpu.ts). */
  postgresCpuMsPerRequest?: number;
  /** Statements the API sent per answer (knex's query event). */
  statementsPerRequest?: number;
}

/** 8: one VA with many instances and SKUs, read through the view routes. */
export interface LicenseViewResult {
  instances: number;
  skus: number;
  /** The caller: a user's own API key and the role it holds. */
  caller: string;
  routes: ViewLoad[];
}

/** One licenseClock run, measured from the client's start to its result. */
export interface ClockSweepFigures {
  wallMs: number;
  historyEvents: number;
  activities: number;
  /** Billable actions of the run's history (the counting rule), without the Schedule's trigger. */
  actions: ActionCounts;
  /** Statements the worker sent to Postgres during the run (knex's query event). */
  statements: number;
  /** pg_database_size after - before: pages the run added to the benchmark database. */
  dbBytesDelta: number;
  /** WAL written meanwhile (pg_current_wal_lsn): the whole cluster's, so the machine must be quiet. */
  walBytes: number;
  acted: { failedToConnect: number; expired: number; removed: number; alertsEmailed: number };
}

/** 9: the license clock over a large fleet: a sweep that acts on a backlog, then the steady tick. */
export interface LicenseClockScaleResult {
  instances: number;
  /** Seeded due for each step (1 in 100 each). */
  due: { failedToConnect: number; expired: number; removed: number };
  intervalMs: number;
  /** The runs that acted on the seeded due instances, summed (one at the default sizes). */
  backlog: ClockSweepFigures;
  backlogRuns: number;
  /** The next run: nothing new is due; what every tick costs. */
  idle: ClockSweepFigures;
  workerRssPeakMB: number;
  /** At LICENSE_CLOCK_INTERVAL: the idle run's cost + 1 action for the Schedule's trigger, per instance per 30 days. */
  perInstancePerMonth: { actions: number; statements: number; walBytes: number };
  /** (backlog - idle) / instances acted on: what one transition (alert, expiry or removal) costs. */
  perTransition: { ms: number; statements: number; walBytes: number; dbBytes: number };
}

/** 10: one true-up per Smart Account, all due at once, started by the clock. */
export interface TrueUpScaleResult {
  accounts: number;
  /** booked: every period's true_ups row is `booked` and its order row exists (awaiting approval). */
  measuredTo: 'booked, awaiting approval';
  /** Clock start -> the last account booked. */
  totalS: number;
  accountsPerSecond: number;
  clockRuns: number;
  /** Mean over sampled accounts, up to the booked state (open histories). */
  actionsPerAccount: { clockShare: number; trueUp: number; order: number; total: number };
  sampledAccounts: number;
}

export const LICENSE_SCALE_TARGETS = { viewP99Ms: 50 };
/** docs/LICENSE-USE.md, "What takes time": the rejected design, one entity workflow per instance (an estimate, not measured). */
export const ENTITY_DESIGN_ACTIONS_PER_INSTANCE_MONTH = 2.1;
const MONTH_MS = 30 * 86_400_000;

export function runsPerMonth(intervalMs: number): number {
  return MONTH_MS / intervalMs;
}

const n = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const kB = (bytes: number) => n(bytes / 1024, 1);

export function viewRows(v: LicenseViewResult): string[][] {
  return v.routes.map((r) => [
    `license view: ${r.name}, req/s; p50 / p99 ms (1 VA, ${v.instances} instances, ${v.skus} SKUs)`,
    `${n(r.requestsPerSecond, 1)}; ${n(r.latencyMs.p50, 1)} / ${n(r.latencyMs.p99, 1)}`,
    `p99 <= ${LICENSE_SCALE_TARGETS.viewP99Ms} ms`,
    `${r.latencyMs.p99 <= LICENSE_SCALE_TARGETS.viewP99Ms && r.non2xx === 0 && r.errors === 0 ? 'met' : 'NOT met'}` +
      (r.apiCpuMsPerRequest === undefined ? '' : `; API CPU ${n(r.apiCpuMsPerRequest, 1)} ms per answer`) +
      (r.postgresCpuMsPerRequest === undefined ? '' : `, Postgres ${n(r.postgresCpuMsPerRequest, 1)} ms`),
  ]);
}

export function clockRows(c: LicenseClockScaleResult): string[][] {
  const p = c.perInstancePerMonth;
  return [
    [
      `license clock: idle sweep ms; actions; statements (${c.instances} instances)`,
      `${n(c.idle.wallMs)}; ${c.idle.actions.total}+1; ${c.idle.statements}`,
      '',
      'fixed per tick, whatever the fleet',
    ],
    [
      `license clock: backlog sweep ms, ${c.backlogRuns} run(s) (${c.backlog.acted.failedToConnect + c.backlog.acted.expired + c.backlog.acted.removed} transitions); ms / statements / WAL kB per transition`,
      `${n(c.backlog.wallMs)}; ${n(c.perTransition.ms, 2)} / ${n(c.perTransition.statements, 1)} / ${kB(c.perTransition.walBytes)}`,
      '',
      `worker RSS peak ${n(c.workerRssPeakMB)} MB`,
    ],
    [
      `license clock: per instance per month at ${n(c.intervalMs / 1000)} s ticks: actions; statements; WAL bytes`,
      `${n(p.actions, 3)}; ${n(p.statements, 3)}; ${n(p.walBytes, 1)}`,
      '',
      `one workflow per instance (estimate): ~${ENTITY_DESIGN_ACTIONS_PER_INSTANCE_MONTH} actions`,
    ],
  ];
}

export function trueUpRows(t: TrueUpScaleResult): string[][] {
  return [
    [
      `true-up: ${t.accounts} Smart Accounts, clock start -> all booked (awaiting approval), s; accounts/s`,
      `${n(t.totalS, 1)}; ${n(t.accountsPerSecond, 1)}`,
      '',
      `${t.clockRuns} clock run(s)`,
    ],
    [
      'true-up: Temporal actions per account (clock share + trueUp + order), to booked',
      `${n(t.actionsPerAccount.total, 1)} (${n(t.actionsPerAccount.clockShare, 2)} + ${n(t.actionsPerAccount.trueUp, 1)} + ${n(t.actionsPerAccount.order, 1)})`,
      '',
      `mean of ${t.sampledAccounts} accounts`,
    ],
  ];
}

function table(rows: string[][]): string[] {
  return rows.map((cells, i) => `| ${cells.join(' | ')} |${i === 0 ? `\n|${cells.map(() => '---').join('|')}|` : ''}`);
}

export function viewMarkdown(v: LicenseViewResult): string[] {
  return [
    '## 8. License views at scale',
    '',
    `One virtual account with ${v.instances} product instances using ${v.skus} SKUs (one pool per SKU), read by ${v.caller}.`,
    '',
    ...table([
      [
        'route',
        'connections',
        's',
        'requests',
        'req/s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'non-2xx',
        'API CPU ms/answer',
        'Postgres CPU ms/answer',
        'statements/answer',
      ],
      ...v.routes.map((r) => [
        r.name,
        String(r.connections),
        n(r.durationS, 1),
        String(r.requests),
        n(r.requestsPerSecond, 1),
        n(r.latencyMs.p50, 1),
        n(r.latencyMs.p90, 1),
        n(r.latencyMs.p99, 1),
        n(r.latencyMs.max, 1),
        String(r.non2xx + r.errors),
        r.apiCpuMsPerRequest === undefined ? '-' : n(r.apiCpuMsPerRequest, 1),
        r.postgresCpuMsPerRequest === undefined ? '-' : n(r.postgresCpuMsPerRequest, 1),
        r.statementsPerRequest === undefined ? '-' : n(r.statementsPerRequest, 2),
      ]),
    ]),
  ];
}

export function clockMarkdown(c: LicenseClockScaleResult): string[] {
  const row = (name: string, s: ClockSweepFigures) => [
    name,
    n(s.wallMs),
    `${s.acted.failedToConnect} / ${s.acted.expired} / ${s.acted.removed} / ${s.acted.alertsEmailed}`,
    String(s.historyEvents),
    String(s.activities),
    String(s.actions.total),
    String(s.statements),
    kB(s.walBytes),
    kB(s.dbBytesDelta),
  ];
  const runs = runsPerMonth(c.intervalMs);
  return [
    '## 9. License clock at scale (liveness timers)',
    '',
    `${c.instances} product instances; seeded due: ${c.due.failedToConnect} failed to connect (30 days), ${c.due.expired} authorization expired (90 days), ` +
      `${c.due.removed} removed (1 year). Each run started as the Schedule starts it (same workflow type, the product's worker); ` +
      `worker RSS peak ${n(c.workerRssPeakMB)} MB.`,
    '',
    ...table([
      ['run', 'ms', 'alerted / expired / removed / emailed', 'events', 'activities', 'actions', 'statements', 'WAL kB', 'DB +kB'],
      row(`the backlog (${c.backlogRuns} run(s), summed)`, c.backlog),
      row('next (nothing new due)', c.idle),
    ]),
    '',
    `Per month at LICENSE_CLOCK_INTERVAL ${n(c.intervalMs / 1000)} s (${n(runs)} runs): ${n(runs * (c.idle.actions.total + 1))} actions ` +
      `(${c.idle.actions.total} per run + 1 for the Schedule's trigger), ${n(runs * c.idle.statements)} statements, fixed; ` +
      `per instance ${n(c.perInstancePerMonth.actions, 3)} actions and ${n(c.perInstancePerMonth.walBytes, 1)} WAL bytes. ` +
      `The rejected design, one entity workflow per instance, was estimated at ~${ENTITY_DESIGN_ACTIONS_PER_INSTANCE_MONTH} actions per instance per month ` +
      '(docs/LICENSE-USE.md, "What takes time"; not measured). A silent instance costs once per transition: ' +
      `${n(c.perTransition.ms, 2)} ms, ${n(c.perTransition.statements, 1)} statements, ${kB(c.perTransition.walBytes)} kB of WAL.`,
  ];
}

export function trueUpMarkdown(t: TrueUpScaleResult): string[] {
  return [
    '## 10. True-ups at scale',
    '',
    `${t.accounts} Smart Accounts, each with an overage agreement and a peak in the period that just ended. The license clock starts ` +
      `every trueUp (${t.clockRuns} run(s)); measured up to ${t.measuredTo} (every true_ups row booked, every true-up order's row written). ` +
      `${n(t.totalS, 1)} s in all, ${n(t.accountsPerSecond, 1)} accounts/s.`,
    '',
    ...table([
      ['actions per account', 'clock share', 'trueUp', 'orderFulfillment (to awaiting shipment)', 'total'],
      [
        `mean of ${t.sampledAccounts}`,
        n(t.actionsPerAccount.clockShare, 2),
        n(t.actionsPerAccount.trueUp, 1),
        n(t.actionsPerAccount.order, 1),
        n(t.actionsPerAccount.total, 1),
      ],
    ]),
  ];
}

/** What the three parts put in the results. */
export interface LicenseScaleResults {
  licenseView?: LicenseViewResult;
  licenseClock?: LicenseClockScaleResult;
  trueUp?: TrueUpScaleResult;
}

export function licenseScaleRows(r: LicenseScaleResults): string[][] {
  return [
    ...(r.licenseView ? viewRows(r.licenseView) : []),
    ...(r.licenseClock ? clockRows(r.licenseClock) : []),
    ...(r.trueUp ? trueUpRows(r.trueUp) : []),
  ];
}

export function licenseScaleMarkdown(r: LicenseScaleResults): string[] {
  const sections = [
    r.licenseView && viewMarkdown(r.licenseView),
    r.licenseClock && clockMarkdown(r.licenseClock),
    r.trueUp && trueUpMarkdown(r.trueUp),
  ].filter((s): s is string[] => Boolean(s));
  return sections.flatMap((s) => ['', ...s]);
}
