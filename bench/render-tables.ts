/** The run's tables: the headline rows, costs and latencies, as text for the terminal. */
import { type LatencySummary } from './stats';
import { type HistoryCost } from './history-cost';
import { TARGETS, type BenchResults } from './results';
import { licensingRows } from './licensing-report';
import { licenseScaleRows } from './licensing-scale-report';
import { overloadRows } from './overload-report';

export const f = (value: number | undefined | null, digits = 0): string =>
  value === undefined || value === null || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
export const mb = (bytes: number): number => bytes / (1024 * 1024);

/** A plain-text table: the first row is the header; columns padded to their widest cell. */
export function formatTable(rows: ReadonlyArray<readonly string[]>): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r, rowIndex) => {
      const line = r
        .map((cell, i) => (cell ?? '').padEnd(widths[i]))
        .join('  ')
        .trimEnd();
      return rowIndex === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

/** A Markdown table: the first row is the header. */
export function markdownTable(rows: ReadonlyArray<readonly string[]>): string {
  const [header, ...body] = rows;
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The headline rows: what was measured, the figure, the target and whether it is met. */
export function summaryRows(results: BenchResults): string[][] {
  const rows: string[][] = [['measure', 'figure', 'target', 'status']];
  rows.push(...throughputRows(results));
  if (results.cost) {
    for (const [kind, cost] of Object.entries(results.cost.perKind)) {
      rows.push([`cost per ${kind} order: events / actions`, `${f(cost.historyEvents, 1)} / ${f(cost.actions.total, 1)}`, '', '']);
    }
  }
  if (results.parked) rows.push(...parkedRows(results.parked));
  rows.push(...apiAndPoolRows(results));
  return rows;
}

/** Orders per second and latency of the mix, and how they compare with the engine limit. */
function throughputRows(results: BenchResults): string[][] {
  const rows: string[][] = [];
  const t = results.throughput;
  const e = results.engineLimit;
  if (t) {
    rows.push(['orders fulfilled per second (mix)', f(t.ordersPerSecond, 1), '', '']);
    rows.push([
      'booking -> provisioned p50 / p95 / p99 (ms)',
      `${f(t.provisionedLatencyMs.p50)} / ${f(t.provisionedLatencyMs.p95)} / ${f(t.provisionedLatencyMs.p99)}`,
      '',
      '',
    ]);
    rows.push(...scaleRows(t));
  }
  if (e) {
    rows.push(['engine-limit workflow, orders per second', f(e.ordersPerSecond, 1), '', '']);
    rows.push([
      'ours / engine limit',
      f(e.ratio, 2),
      `>= ${TARGETS.engineLimitRatio}`,
      e.ratio >= TARGETS.engineLimitRatio ? 'met' : `gap ${f(TARGETS.engineLimitRatio - e.ratio, 2)}`,
    ]);
  }
  return rows;
}

/** With several worker processes or the production shape's server: how many, and where an order's CPU went. */
function scaleRows(t: NonNullable<BenchResults['throughput']>): string[][] {
  const c = t.cpuMsPerOrder;
  const several = (t.orderWorkers ?? 1) > 1;
  if (!c || (!several && c.temporalPostgres === undefined)) return [];
  return [
    ...(several ? [['worker processes per side', String(t.orderWorkers), '', '']] : []),
    [
      "CPU ms per order: workers / Temporal / Temporal's Postgres / Postgres / driver",
      [c.worker, c.temporalServer, c.temporalPostgres, c.postgres, c.driver].map((x) => f(x, 1)).join(' / '),
      '',
      '',
    ],
    ...(c.workers ? [['CPU ms per order, each worker process', c.workers.map((x) => f(x, 1)).join(' / '), '', '']] : []),
    ...persistenceRows(t.temporalPersistencePerOrder),
  ];
}

/** Production shape: Temporal's Postgres per order, from the warm-up's orders (only ours ran then). */
function persistenceRows(p: NonNullable<BenchResults['throughput']>['temporalPersistencePerOrder']): string[][] {
  if (!p) return [];
  return [
    [
      `Temporal's Postgres per order (${p.orders} warm-up orders): commits / rows written / kB stored / WAL kB (whole cluster)`,
      [p.commits, p.rowsWritten, p.kB, p.walKB].map((x) => f(x, 1)).join(' / '),
      '',
      '',
    ],
  ];
}

/** Per parked level: memory, Postgres growth, reminder spread, bulk transfer; then the slopes. */
function parkedRows(p: NonNullable<BenchResults['parked']>): string[][] {
  const rows: string[][] = [];
  for (const level of p.levels) {
    const largest = level.orders === Math.max(...p.levels.map((l) => l.orders));
    const atTen = level.orders >= 10_000;
    rows.push([
      `${level.orders} parked: worker RSS peak (MB)`,
      f(level.workerRssPeakMB),
      atTen ? `<= ${TARGETS.workerRssMBAt10000}` : '',
      atTen
        ? level.workerRssPeakMB <= TARGETS.workerRssMBAt10000
          ? 'met'
          : `gap ${f(level.workerRssPeakMB - TARGETS.workerRssMBAt10000)} MB`
        : largest
          ? 'no 10,000 level run'
          : '',
    ]);
    rows.push([`${level.orders} parked: Postgres growth (MB)`, f(mb(level.dbBytesDelta), 1), '', '']);
    rows.push([
      `${level.orders} parked: reminders max/s (spread s)`,
      `${f(level.reminders.maxPerSecond)} (${f(level.reminders.spreadS, 1)})`,
      'spread, not a burst',
      level.reminders.maxPerSecond > 2 * Math.max(1, level.holds.maxPerSecond) ? 'burst' : 'as bookings',
    ]);
    rows.push([
      `${level.orders} parked: bulk transfer (s)`,
      f(level.transfer.s, 1),
      atTen ? `<= ${TARGETS.bulkTransferSAt10000}` : '',
      atTen
        ? level.transfer.s <= TARGETS.bulkTransferSAt10000
          ? 'met'
          : `gap ${f(level.transfer.s - TARGETS.bulkTransferSAt10000)} s`
        : '',
    ]);
  }
  rows.push([
    'parked slope: worker RSS (MB per 1,000)',
    `${f(p.slopes.rssMBPer1000.slope, 1)} (r2 ${f(p.slopes.rssMBPer1000.r2, 2)})`,
    'linear',
    '',
  ]);
  rows.push([
    'parked slope: Postgres (MB per 1,000)',
    `${f(p.slopes.dbMBPer1000.slope, 2)} (r2 ${f(p.slopes.dbMBPer1000.r2, 2)})`,
    'linear',
    '',
  ]);
  rows.push([
    'parked slope: transfer (s per 1,000)',
    `${f(p.slopes.transferSPer1000.slope, 1)} (r2 ${f(p.slopes.transferSPer1000.r2, 2)})`,
    'linear',
    '',
  ]);
  if (p.slopes.actionsPer1000)
    rows.push([
      'parked slope: actions (per 1,000)',
      `${f(p.slopes.actionsPer1000.slope)} (r2 ${f(p.slopes.actionsPer1000.r2, 2)})`,
      'linear',
      '',
    ]);
  return rows;
}

/** The API under load: booking (and its ratio to a bare workflow.start), the status read, against their targets. */
function apiRows(a: NonNullable<BenchResults['api']>): string[][] {
  const rows: string[][] = [];
  for (const load of [a.bareStart, a.booking, a.status]) {
    if (!load) continue;
    const isStatus = load === a.status;
    const statusMet = load.requestsPerSecond >= TARGETS.statusPerSecond && load.latencyMs.p99 <= TARGETS.statusP99Ms;
    const faults = load.non2xx + load.errors > 0 ? `${load.non2xx} non-2xx, ${load.errors} errors` : '';
    rows.push([
      `API ${load.name}: req/s, p50 / p99 ms`,
      `${f(load.requestsPerSecond, 1)}, ${f(load.latencyMs.p50)} / ${f(load.latencyMs.p99)}`,
      isStatus ? `>= ${TARGETS.statusPerSecond}, p99 <= ${TARGETS.statusP99Ms}` : '',
      faults || (isStatus ? (statusMet ? 'met' : 'NOT met') : ''),
    ]);
    if (load.cpuMsPerRequest) {
      rows.push([
        `API ${load.name}: CPU ms per request (API / load generator), statements`,
        `${f(load.cpuMsPerRequest.api, 2)} / ${f(load.cpuMsPerRequest.loadGenerator, 2)}, ${f(load.statementsPerRequest ?? 0, 2)}`,
        '',
        '',
      ]);
    }
  }
  if (a.bareStart && a.bareStart.requestsPerSecond > 0) {
    const ratio = a.booking.requestsPerSecond / a.bareStart.requestsPerSecond;
    rows.push([
      'API booking / bare workflow.start (req/s, same process)',
      f(ratio, 2),
      `>= ${TARGETS.bookingVsBareStartRatio}`,
      ratio >= TARGETS.bookingVsBareStartRatio ? 'met' : `gap ${f(TARGETS.bookingVsBareStartRatio - ratio, 2)}`,
    ]);
  }
  return rows;
}

/** The API under load, and the order mix at each DATABASE_POOL_MAX. */
function apiAndPoolRows(results: BenchResults): string[][] {
  const rows: string[][] = [];
  if (results.api) rows.push(...apiRows(results.api));
  if (results.licensing) rows.push(...licensingRows(results.licensing));
  rows.push(...licenseScaleRows(results));
  if (results.overload) rows.push(...overloadRows(results.overload));
  for (const level of results.pool?.levels ?? []) {
    rows.push([
      `DATABASE_POOL_MAX ${level.poolMax}: orders/s, p50 ms; connections used max, waiting max`,
      `${f(level.ordersPerSecond, 1)}, ${f(level.provisionedLatencyMs.p50)}; ${level.connectionsUsedMax}, ${level.waitingForConnectionMax}`,
      '',
      '',
    ]);
  }
  return rows;
}

export function costRows(costs: Record<string, HistoryCost>): string[][] {
  const rows: string[][] = [
    [
      'scenario',
      'history events',
      'workflow tasks',
      'actions',
      'started',
      'activities scheduled',
      'activity attempts',
      'local act.',
      'timers',
      'signals in',
      'signals out',
      'updates',
      'SA upserts',
      'children',
      'continue-as-new',
    ],
  ];
  for (const [kind, c] of Object.entries(costs)) {
    rows.push([
      kind,
      f(c.historyEvents, 1),
      f(c.workflowTasks, 1),
      f(c.actions.total, 1),
      f(c.actions.workflowStarted, 1),
      f(c.activitiesScheduled, 1),
      f(c.actions.activities, 1),
      f(c.actions.localActivities, 1),
      f(c.actions.timers, 1),
      f(c.actions.signalsReceived, 1),
      f(c.actions.signalsSent, 1),
      f(c.actions.updates, 1),
      f(c.actions.searchAttributeUpserts, 1),
      f(c.actions.childWorkflows, 1),
      f(c.continueAsNew, 1),
    ]);
  }
  return rows;
}

export function latencyRow(name: string, l: LatencySummary): string[] {
  return [name, String(l.count), f(l.p50), f(l.p95), f(l.p99), f(l.max)];
}

/** Every table of the run, as text for the terminal. */
export function renderText(results: BenchResults): string {
  const out: string[] = [];
  out.push(formatTable(summaryRows(results)));
  if (results.cost) {
    out.push(
      '',
      'Cost per order (mean of the sampled histories):',
      formatTable(
        costRows({
          ...results.cost.perKind,
          ...prefixed('engine limit ', results.cost.engineLimit),
          ...prefixed('parked ', results.cost.parked),
        }),
      ),
    );
  }
  if (results.failures.length) out.push('', `FAILURES (${results.failures.length}):`, ...results.failures.map((x) => `  - ${x}`));
  return out.join('\n');
}

export function prefixed<T>(prefix: string, record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [`${prefix}${k}`, v]));
}

/** docs/BENCHMARKS.md: the machine, the command, the figures, the targets and the counting rule. */
