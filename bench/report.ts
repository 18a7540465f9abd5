/**
 * The pure pieces of the benchmark: percentiles, the Temporal cost of a workflow history
 * (history events and billable actions), linear slopes, per-second rates, and the table and
 * Markdown the run prints and writes. No I/O here, so test/unit/bench-report.test.ts covers it.
 */
import { temporal } from '@temporalio/proto';
import { licensingMarkdown, licensingRows, type LicensingResult } from './licensing-report';

// ---------------------------------------------------------------------------------------------
// Percentiles and summaries
// ---------------------------------------------------------------------------------------------

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
    max: Math.max(...values),
    mean: values.reduce((sum, v) => sum + v, 0) / values.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Temporal cost of a history
// ---------------------------------------------------------------------------------------------

/** One history event, reduced to what the counting rule reads. */
export interface CostEvent {
  /** Event type without the EVENT_TYPE_ prefix, in PascalCase: `ActivityTaskScheduled`. */
  type: string;
  /** ActivityTaskStarted: the attempt that closed the activity (1 = no retry). */
  attempt?: number;
  /** MarkerRecorded: `core_local_activity` for a local activity. */
  markerName?: string;
  /** MarkerRecorded: the workflow task that recorded it (local activities of one task are one action). */
  workflowTaskCompletedEventId?: number;
}

/** Billable actions by category, as Temporal Cloud counts them (see COUNTING_RULE). */
export interface ActionCounts {
  workflowStarted: number;
  activities: number;
  localActivities: number;
  timers: number;
  signalsReceived: number;
  signalsSent: number;
  updates: number;
  searchAttributeUpserts: number;
  childWorkflows: number;
  total: number;
}

export interface HistoryCost {
  /** Every event of every run (a continued-as-new order has several runs). */
  historyEvents: number;
  /** Not billed, but each is a round trip worker <-> server: the load the engine carries. */
  workflowTasks: number;
  activitiesScheduled: number;
  continueAsNew: number;
  actions: ActionCounts;
}

/** The counting rule, word for word as docs/BENCHMARKS.md states it. */
export const COUNTING_RULE = [
  'History events: every event of every run of the workflow (continue-as-new runs included). The tables also show activities scheduled (ActivityTaskScheduled) and continue-as-new (WorkflowExecutionContinuedAsNew), which are not actions by themselves.',
  'Billable actions (Temporal Cloud), counted from the events:',
  '- workflow started: 1 per run (WorkflowExecutionStarted: the client start, a signal-with-start, or the run a continue-as-new begins, so a continue-as-new costs 1); search attributes given at start are free;',
  '- activity: 1 per attempt (the attempt field of ActivityTaskStarted, so retries count); a scheduled activity that never started counts 0 (without retries, attempts = activities scheduled);',
  '- local activities: 1 per workflow task that recorded any (MarkerRecorded core_local_activity, grouped by workflowTaskCompletedEventId);',
  '- timer: 1 per TimerStarted (including the implicit timer of condition(fn, timeout), even when it is cancelled);',
  '- signal: 1 per WorkflowExecutionSignaled (received), plus 1 per SignalExternalWorkflowExecutionInitiated (sent by this workflow to another; not counted again on the receiver);',
  '- update: 1 per WorkflowExecutionUpdateAccepted (an Update rejected by its validator is also billed but leaves no event: not counted here);',
  '- search-attribute upsert: 1 per UpsertWorkflowSearchAttributes command, however many attributes it sets;',
  '- child workflow: 1 per StartChildWorkflowExecutionInitiated;',
  '- queries are billed (1 each) but leave no event: the API part counts them from its requests instead.',
].join('\n');

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` (or its enum number) -> `ActivityTaskScheduled`. */
export function eventTypeName(eventType: number | string | null | undefined): string {
  const raw = typeof eventType === 'number' ? temporal.api.enums.v1.EventType[eventType] : eventType;
  if (!raw) return 'Unspecified';
  return String(raw)
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** A history event as the SDK returns it (fetchHistory), reduced to a CostEvent. */
export function toCostEvent(event: temporal.api.history.v1.IHistoryEvent): CostEvent {
  const type = eventTypeName(event.eventType as number | null | undefined);
  const cost: CostEvent = { type };
  if (event.activityTaskStartedEventAttributes) cost.attempt = event.activityTaskStartedEventAttributes.attempt ?? 1;
  if (event.markerRecordedEventAttributes) {
    cost.markerName = event.markerRecordedEventAttributes.markerName ?? undefined;
    const completedBy = event.markerRecordedEventAttributes.workflowTaskCompletedEventId;
    if (completedBy !== undefined && completedBy !== null) cost.workflowTaskCompletedEventId = Number(completedBy);
  }
  return cost;
}

export const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/** History events and billable actions of one workflow, from the events of all its runs. */
export function countHistoryCost(events: readonly CostEvent[]): HistoryCost {
  const actions: ActionCounts = {
    workflowStarted: 0,
    activities: 0,
    localActivities: 0,
    timers: 0,
    signalsReceived: 0,
    signalsSent: 0,
    updates: 0,
    searchAttributeUpserts: 0,
    childWorkflows: 0,
    total: 0,
  };
  let workflowTasks = 0;
  let activitiesScheduled = 0;
  let continueAsNew = 0;
  // Local-activity markers of one workflow task are one action. A run restarts event IDs at 1,
  // so the grouping key is the run (counted by WorkflowExecutionStarted) plus the task's ID.
  const localActivityTasks = new Set<string>();
  for (const event of events) {
    switch (event.type) {
      case 'WorkflowExecutionStarted':
        actions.workflowStarted++;
        break;
      case 'WorkflowExecutionContinuedAsNew':
        continueAsNew++;
        break;
      case 'WorkflowTaskCompleted':
        workflowTasks++;
        break;
      case 'ActivityTaskScheduled':
        activitiesScheduled++;
        break;
      case 'ActivityTaskStarted':
        actions.activities += Math.max(1, event.attempt ?? 1);
        break;
      case 'MarkerRecorded':
        if (event.markerName === LOCAL_ACTIVITY_MARKER) {
          localActivityTasks.add(`${actions.workflowStarted}:${event.workflowTaskCompletedEventId ?? `marker-${localActivityTasks.size}`}`);
        }
        break;
      case 'TimerStarted':
        actions.timers++;
        break;
      case 'WorkflowExecutionSignaled':
        actions.signalsReceived++;
        break;
      case 'SignalExternalWorkflowExecutionInitiated':
        actions.signalsSent++;
        break;
      case 'WorkflowExecutionUpdateAccepted':
        actions.updates++;
        break;
      case 'UpsertWorkflowSearchAttributes':
        actions.searchAttributeUpserts++;
        break;
      case 'StartChildWorkflowExecutionInitiated':
        actions.childWorkflows++;
        break;
      default:
        break;
    }
  }
  actions.localActivities = localActivityTasks.size;
  actions.total =
    actions.workflowStarted +
    actions.activities +
    actions.localActivities +
    actions.timers +
    actions.signalsReceived +
    actions.signalsSent +
    actions.updates +
    actions.searchAttributeUpserts +
    actions.childWorkflows;
  return { historyEvents: events.length, workflowTasks, activitiesScheduled, continueAsNew, actions };
}

/** The mean of several histories' costs (same scenario), every field averaged. */
export function meanCost(costs: readonly HistoryCost[]): HistoryCost {
  const n = costs.length;
  const avg = (pick: (c: HistoryCost) => number) => (n === 0 ? Number.NaN : costs.reduce((sum, c) => sum + pick(c), 0) / n);
  const actionKeys = Object.keys(costs[0]?.actions ?? countHistoryCost([]).actions) as Array<keyof ActionCounts>;
  const actions = Object.fromEntries(actionKeys.map((key) => [key, avg((c) => c.actions[key])])) as unknown as ActionCounts;
  return {
    historyEvents: avg((c) => c.historyEvents),
    workflowTasks: avg((c) => c.workflowTasks),
    activitiesScheduled: avg((c) => c.activitiesScheduled),
    continueAsNew: avg((c) => c.continueAsNew),
    actions,
  };
}

/**
 * Where the activities of an order's history ran, for the engine-limit workflow to copy: before
 * any message arrived, inside an Update handler (between its UpdateAccepted and UpdateCompleted),
 * or in the main line afterwards.
 */
export interface WorkflowShape {
  localActivities: number;
  startActivities: number;
  updateActivities: number;
  endActivities: number;
  timers: number;
  signals: number;
  updates: number;
}

export function shapeOfHistory(events: readonly CostEvent[]): WorkflowShape {
  const shape: WorkflowShape = {
    localActivities: 0,
    startActivities: 0,
    updateActivities: 0,
    endActivities: 0,
    timers: 0,
    signals: 0,
    updates: 0,
  };
  let messageSeen = false;
  let openUpdates = 0;
  const localActivityTasks = new Set<string>();
  for (const event of events) {
    switch (event.type) {
      case 'WorkflowExecutionSignaled':
        shape.signals++;
        messageSeen = true;
        break;
      case 'WorkflowExecutionUpdateAccepted':
        shape.updates++;
        openUpdates++;
        messageSeen = true;
        break;
      case 'WorkflowExecutionUpdateCompleted':
        openUpdates = Math.max(0, openUpdates - 1);
        break;
      case 'TimerStarted':
        shape.timers++;
        break;
      case 'MarkerRecorded':
        if (event.markerName === LOCAL_ACTIVITY_MARKER)
          localActivityTasks.add(String(event.workflowTaskCompletedEventId ?? localActivityTasks.size));
        break;
      case 'ActivityTaskScheduled':
        if (openUpdates > 0) shape.updateActivities++;
        else if (!messageSeen) shape.startActivities++;
        else shape.endActivities++;
        break;
      default:
        break;
    }
  }
  shape.localActivities = localActivityTasks.size;
  return shape;
}

/**
 * The shape most histories of a scenario have: each field rounded from the mean, except that the
 * activities after the messages make up the difference, so the total number of activities is
 * the rounded mean total (rounding three parts separately could add or lose one).
 */
export function typicalShape(shapes: readonly WorkflowShape[]): WorkflowShape {
  const mean = (pick: (s: WorkflowShape) => number) =>
    shapes.length === 0 ? 0 : Math.round(shapes.reduce((sum, s) => sum + pick(s), 0) / shapes.length);
  const totalActivities = mean((s) => s.startActivities + s.updateActivities + s.endActivities);
  const startActivities = mean((s) => s.startActivities);
  const updateActivities = mean((s) => s.updateActivities);
  return {
    localActivities: mean((s) => s.localActivities),
    startActivities,
    updateActivities,
    endActivities: Math.max(0, totalActivities - startActivities - updateActivities),
    timers: mean((s) => s.timers),
    signals: mean((s) => s.signals),
    updates: mean((s) => s.updates),
  };
}

// ---------------------------------------------------------------------------------------------
// Rates, spreads and slopes
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// The results and their presentation
// ---------------------------------------------------------------------------------------------

export type ScenarioKind = 'direct' | 'held' | 'delegated' | 'classic';

/** CPU ms an order cost each process (user + system, from /proc). */
export interface CpuPerOrder {
  worker: number;
  temporalServer: number;
  /** Backends of the benchmark database; ones that closed mid-round are missed (a lower bound). */
  postgres: number;
  /** The driver: booking client, SMTP server, customer page's link check, result waits. */
  driver: number;
  total: number;
}

export interface ThroughputResult {
  orders: number;
  concurrency: number;
  /** Alternating rounds with the engine-limit workflow; durationS sums this side's rounds. */
  rounds?: number;
  mix: Record<ScenarioKind, number>;
  durationS: number;
  ordersPerSecond: number;
  /** Booking request sent -> orders.fulfilled_at (the provisioning transaction), ms. */
  provisionedLatencyMs: LatencySummary;
  /** Booking request sent -> workflow completed (seen by the client), ms. */
  completedLatencyMs: LatencySummary;
  perKind: Record<string, { count: number; provisionedLatencyMs: LatencySummary }>;
  cpuMsPerOrder?: CpuPerOrder;
  failures: string[];
}

export interface EngineLimitResult {
  orders: number;
  concurrency: number;
  durationS: number;
  ordersPerSecond: number;
  completedLatencyMs: LatencySummary;
  shapes: Record<string, WorkflowShape>;
  /** ours / engine limit; target >= 0.8. */
  ratio: number;
  cpuMsPerOrder?: CpuPerOrder;
  failures: string[];
}

export interface CostResult {
  rule: string;
  sampledPerKind: number;
  perKind: Record<string, HistoryCost>;
  engineLimit: Record<string, HistoryCost>;
  parked: Record<string, HistoryCost>;
}

export interface ParkedLevelResult {
  orders: number;
  reminderIntervalS: number;
  parkS: number;
  parkPerSecond: number;
  workerRssIdleMB: number;
  workerRssParkedMB: number;
  workerRssAfterRemindersMB: number;
  workerRssPeakMB: number;
  /** Highest RSS sampled (every second) while parking, waiting for the first reminders and transferring. */
  workerRssPeakByPhaseMB?: { park: number; reminders: number; transfer: number };
  /** The main thread's V8 heap only: cached workflows live in the workflow thread, not here. */
  workerHeapUsedParkedMB: number;
  cachedWorkflowsParked: number;
  /** (RSS parked - RSS idle) / cached workflows: what one cached order costs the worker. */
  rssPerCachedWorkflowKB: number;
  maxCachedWorkflows: number | null;
  dbBytesBefore: number;
  dbBytesParked: number;
  dbBytesDelta: number;
  holds: SpreadSummary;
  reminders: SpreadSummary & { expected: number; missing: number; waitedS: number };
  transfer: { s: number; perSecond: number; concurrency: number; failures: number; firstError?: string };
  costPerOrder: HistoryCost | null;
  cpuMsPerOrder?: { park: CpuPerOrder; transfer: CpuPerOrder };
}

export interface ParkedResult {
  levels: ParkedLevelResult[];
  /** Least-squares slopes over the levels, per 1,000 parked orders. */
  slopes: {
    rssMBPer1000: LinearFit;
    dbMBPer1000: LinearFit;
    transferSPer1000: LinearFit;
    actionsPer1000: LinearFit | null;
  };
  idleRss?: { prebuiltBundleMB: number; bundlingAtStartMB: number };
  /** RSS per cached workflow when the workflow is the engine-limit one (no product code). */
  engineLimitCache?: { workflows: number; rssPerCachedWorkflowKB: number };
}

export interface ApiLoadResult {
  name: string;
  connections: number;
  durationS: number;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
}

export interface ApiResult {
  booking: ApiLoadResult;
  status: ApiLoadResult;
}

export interface PoolLevelResult {
  /** DATABASE_POOL_MAX of the order worker. */
  poolMax: number;
  orders: number;
  concurrency: number;
  ordersPerSecond: number;
  provisionedLatencyMs: LatencySummary;
  cpuMsPerOrder?: CpuPerOrder;
  /** Most connections lent out at once (sampled every 100 ms, warm-up included). */
  connectionsUsedMax: number;
  /** Most callers waiting for a connection at once, and the mean over the samples. */
  waitingForConnectionMax: number;
  waitingForConnectionMean: number;
  workerRssPeakMB: number;
  /** Postgres statements the worker sent per order (warm-up included; the mix's mean). */
  statementsPerOrder?: number;
}

export interface PoolResult {
  levels: PoolLevelResult[];
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  ramGiB: number;
  node: string;
  os: string;
  temporalCli: string;
  postgres: string;
}

export interface BenchResults {
  meta: {
    date: string;
    command: string;
    smoke: boolean;
    durationS: number;
    machine: MachineInfo;
    options: Record<string, unknown>;
    notes: string[];
  };
  throughput?: ThroughputResult;
  engineLimit?: EngineLimitResult;
  cost?: CostResult;
  parked?: ParkedResult;
  api?: ApiResult;
  pool?: PoolResult;
  licensing?: LicensingResult;
  /** Whatever went wrong: a non-empty list makes the run fail (exit 1). */
  failures: string[];
}

export const TARGETS = {
  engineLimitRatio: 0.8,
  workerRssMBAt10000: 300,
  bulkTransferSAt10000: 120,
};

const f = (value: number | undefined | null, digits = 0): string =>
  value === undefined || value === null || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
const mb = (bytes: number): number => bytes / (1024 * 1024);

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
  if (results.cost) {
    for (const [kind, cost] of Object.entries(results.cost.perKind)) {
      rows.push([`cost per ${kind} order: events / actions`, `${f(cost.historyEvents, 1)} / ${f(cost.actions.total, 1)}`, '', '']);
    }
  }
  const p = results.parked;
  if (p) {
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
  }
  const a = results.api;
  if (a) {
    for (const load of [a.booking, a.status]) {
      rows.push([
        `API ${load.name}: req/s, p50 / p99 ms`,
        `${f(load.requestsPerSecond, 1)}, ${f(load.latencyMs.p50)} / ${f(load.latencyMs.p99)}`,
        '',
        load.non2xx + load.errors > 0 ? `${load.non2xx} non-2xx, ${load.errors} errors` : '',
      ]);
    }
  }
  if (results.licensing) rows.push(...licensingRows(results.licensing));
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

function costRows(costs: Record<string, HistoryCost>): string[][] {
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

function latencyRow(name: string, l: LatencySummary): string[] {
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

function prefixed<T>(prefix: string, record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [`${prefix}${k}`, v]));
}

/** docs/BENCHMARKS.md: the machine, the command, the figures, the targets and the counting rule. */
export function renderMarkdown(results: BenchResults, extra: { findings?: string; method?: string } = {}): string {
  const m = results.meta;
  const lines: string[] = [];
  lines.push('# Benchmarks');
  lines.push('');
  lines.push('Written by `npm run bench` (`bench/run.ts`); the same figures are in `docs/benchmarks/latest.json`.');
  lines.push('Everything runs on one machine: the Temporal dev server (SQLite file), Postgres, the SMTP server,');
  lines.push('the benchmark driver and the worker processes share its cores, so the figures are what this machine');
  lines.push('does, not what a cluster does. How each part is measured is described at the end.');
  lines.push('');
  lines.push('## This run');
  lines.push('');
  lines.push(
    markdownTable([
      ['', ''],
      ['date', m.date],
      ['command', `\`${m.command}\``],
      ['duration', `${f(m.durationS)} s`],
      ['machine', `${m.machine.cpus} × ${m.machine.cpuModel}, ${f(m.machine.ramGiB, 1)} GiB RAM, ${m.machine.os}`],
      ['software', `Node.js ${m.machine.node}, Temporal CLI ${m.machine.temporalCli} (dev server), ${m.machine.postgres}`],
      ['options', `\`${JSON.stringify(m.options)}\``],
    ]),
  );
  if (m.notes.length) {
    lines.push('');
    for (const note of m.notes) lines.push(`- ${note}`);
  }
  lines.push('');
  lines.push('## Summary and targets');
  lines.push('');
  lines.push(markdownTable(summaryRows(results)));
  if (extra.findings) {
    lines.push('');
    lines.push(extra.findings.trim());
  }
  const t = results.throughput;
  if (t) {
    lines.push('');
    lines.push('## 1. Throughput and latency');
    lines.push('');
    lines.push(
      `${t.orders} orders, at most ${t.concurrency} in flight (closed loop: a slot books its next order when its last one is fulfilled), ` +
        `mix ${Object.entries(t.mix)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}` +
        (t.rounds && t.rounds > 1 ? `, in ${t.rounds} rounds alternating with the engine-limit workflow` : '') +
        `: ${f(t.durationS, 1)} s, **${f(t.ordersPerSecond, 1)} orders fulfilled per second**.`,
    );
    lines.push('');
    lines.push(
      markdownTable([
        ['latency (ms)', 'orders', 'p50', 'p95', 'p99', 'max'],
        latencyRow('booking -> provisioned, all', t.provisionedLatencyMs),
        ...Object.entries(t.perKind).map(([kind, k]) => latencyRow(`booking -> provisioned, ${kind}`, k.provisionedLatencyMs)),
        latencyRow('booking -> workflow completed, all', t.completedLatencyMs),
      ]),
    );
  }
  const e = results.engineLimit;
  if (e) {
    lines.push('');
    lines.push('## 2. Engine limit');
    lines.push('');
    lines.push(
      `The same mix and driver against \`bench/baseline/workflows.ts\`: per scenario, the same number of activities (doing nothing), ` +
        `local activities, signals, Updates and timer waits as the real orders' histories (shapes below). ` +
        `${e.orders} orders, ${e.concurrency} in flight, in the rounds between ours: ${f(e.durationS, 1)} s, **${f(e.ordersPerSecond, 1)} orders per second**; ` +
        `ours is **${f(e.ratio, 2)}** of it (target >= ${TARGETS.engineLimitRatio}).`,
    );
    const ourCpu = results.throughput?.cpuMsPerOrder;
    if (ourCpu && e.cpuMsPerOrder) {
      const cpuRow = (name: string, c: CpuPerOrder) => [
        name,
        f(c.worker, 1),
        f(c.temporalServer, 1),
        f(c.postgres, 1),
        f(c.driver, 1),
        f(c.total, 1),
      ];
      lines.push('');
      lines.push("Where an order's CPU goes (ms per order, user + system, from /proc; the machine's cores are shared by all of these):");
      lines.push('');
      lines.push(
        markdownTable([
          ['', 'worker process', 'Temporal server', 'Postgres (bench database)', 'driver', 'total'],
          cpuRow('ours', ourCpu),
          cpuRow('engine limit', e.cpuMsPerOrder),
          [
            'ours - engine limit',
            f(ourCpu.worker - e.cpuMsPerOrder.worker, 1),
            f(ourCpu.temporalServer - e.cpuMsPerOrder.temporalServer, 1),
            f(ourCpu.postgres - e.cpuMsPerOrder.postgres, 1),
            f(ourCpu.driver - e.cpuMsPerOrder.driver, 1),
            f(ourCpu.total - e.cpuMsPerOrder.total, 1),
          ],
        ]),
      );
    }
    lines.push('');
    lines.push('Shapes copied from the real histories:');
    lines.push('');
    lines.push(
      markdownTable([
        ['scenario', 'local activities', 'activities at start', 'in the Update', 'after the messages', 'timers', 'signals', 'Updates'],
        ...Object.entries(e.shapes).map(([kind, s]) => [
          kind,
          String(s.localActivities),
          String(s.startActivities),
          String(s.updateActivities),
          String(s.endActivities),
          String(s.timers),
          String(s.signals),
          String(s.updates),
        ]),
      ]),
    );
  }
  if (results.cost) {
    lines.push('');
    lines.push('## 3. Cost per order');
    lines.push('');
    lines.push(`Mean over ${results.cost.sampledPerKind} sampled histories per scenario, fetched from the server after the run.`);
    lines.push('');
    lines.push(markdownTable(costRows(results.cost.perKind)));
    if (Object.keys(results.cost.engineLimit).length) {
      lines.push('');
      lines.push('The engine-limit workflow, for comparison:');
      lines.push('');
      lines.push(markdownTable(costRows(results.cost.engineLimit)));
    }
    if (Object.keys(results.cost.parked).length) {
      lines.push('');
      lines.push('Parked orders (held, reminded, then transferred; not yet shipped), per level:');
      lines.push('');
      lines.push(markdownTable(costRows(prefixed('parked ', results.cost.parked))));
    }
    lines.push('');
    lines.push('Counting rule:');
    lines.push('');
    lines.push(results.cost.rule);
  }
  const p = results.parked;
  if (p) {
    lines.push('');
    lines.push('## 4. Parked scale');
    lines.push('');
    lines.push(
      markdownTable([
        [
          'parked',
          'reminder interval (s)',
          'park (s)',
          'parked/s',
          'worker RSS idle / parked / after reminders / peak (MB)',
          'RSS peak while parking / reminding / transferring (MB)',
          'cached workflows (max)',
          'RSS per cached workflow (KB)',
          'Postgres growth (MB)',
          'holds max/s',
          'first reminders: sent / expected, spread s, max/s',
          'bulk transfer s (per s)',
        ],
        ...p.levels.map((l) => [
          String(l.orders),
          f(l.reminderIntervalS),
          f(l.parkS, 1),
          f(l.parkPerSecond, 1),
          `${f(l.workerRssIdleMB)} / ${f(l.workerRssParkedMB)} / ${f(l.workerRssAfterRemindersMB)} / ${f(l.workerRssPeakMB)}`,
          l.workerRssPeakByPhaseMB
            ? `${f(l.workerRssPeakByPhaseMB.park)} / ${f(l.workerRssPeakByPhaseMB.reminders)} / ${f(l.workerRssPeakByPhaseMB.transfer)}`
            : '',
          `${l.cachedWorkflowsParked} (${l.maxCachedWorkflows ?? 'n/a'})`,
          f(l.rssPerCachedWorkflowKB),
          f(mb(l.dbBytesDelta), 1),
          String(l.holds.maxPerSecond),
          `${l.reminders.count} / ${l.reminders.expected}, ${f(l.reminders.spreadS, 1)}, ${l.reminders.maxPerSecond}`,
          `${f(l.transfer.s, 1)} (${f(l.transfer.perSecond, 1)})${l.transfer.failures ? `, ${l.transfer.failures} failed` : ''}`,
        ]),
      ]),
    );
    if (p.levels.some((l) => l.cpuMsPerOrder)) {
      lines.push('');
      lines.push('CPU per order (ms, user + system) while parking and while transferring:');
      lines.push('');
      lines.push(
        markdownTable([
          ['parked', 'phase', 'worker process', 'Temporal server', 'Postgres', 'driver', 'total'],
          ...p.levels.flatMap((l) =>
            l.cpuMsPerOrder
              ? (['park', 'transfer'] as const).map((phase) => {
                  const c = l.cpuMsPerOrder![phase];
                  return [String(l.orders), phase, f(c.worker, 1), f(c.temporalServer, 1), f(c.postgres, 1), f(c.driver, 1), f(c.total, 1)];
                })
              : [],
          ),
        ]),
      );
    }
    lines.push('');
    lines.push(
      `Slopes (least squares over the levels): worker RSS ${f(p.slopes.rssMBPer1000.slope, 1)} MB per 1,000 parked orders (r2 ${f(p.slopes.rssMBPer1000.r2, 3)}), ` +
        `Postgres ${f(p.slopes.dbMBPer1000.slope, 2)} MB per 1,000 (r2 ${f(p.slopes.dbMBPer1000.r2, 3)}), ` +
        `bulk transfer ${f(p.slopes.transferSPer1000.slope, 1)} s per 1,000 (r2 ${f(p.slopes.transferSPer1000.r2, 3)})` +
        (p.slopes.actionsPer1000
          ? `, billable actions ${f(p.slopes.actionsPer1000.slope)} per 1,000 parked orders (r2 ${f(p.slopes.actionsPer1000.r2, 3)})`
          : '') +
        '.',
    );
    if (p.engineLimitCache) {
      lines.push('');
      lines.push(
        `For comparison, ${p.engineLimitCache.workflows} cached engine-limit workflows (no product code) cost ` +
          `${f(p.engineLimitCache.rssPerCachedWorkflowKB)} KB of worker RSS each: that much of a parked order's share is the SDK's own.`,
      );
    }
    if (p.idleRss) {
      lines.push('');
      lines.push(
        `Idle worker RSS: ${f(p.idleRss.prebuiltBundleMB)} MB with a pre-built workflow bundle (what the bench runs), ` +
          `${f(p.idleRss.bundlingAtStartMB)} MB when the worker bundles the workflows at start (what \`workers/main.ts\` does today).`,
      );
    }
  }
  const a = results.api;
  if (a) {
    lines.push('');
    lines.push('## 5. API');
    lines.push('');
    lines.push(
      markdownTable([
        ['route', 'connections', 'duration (s)', 'requests', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors'],
        ...[a.booking, a.status].map((l) => [
          l.name,
          String(l.connections),
          f(l.durationS),
          String(l.requests),
          f(l.requestsPerSecond, 1),
          f(l.latencyMs.p50),
          f(l.latencyMs.p90),
          f(l.latencyMs.p99),
          f(l.latencyMs.max),
          String(l.non2xx),
          String(l.errors),
        ]),
      ]),
    );
  }
  const pool = results.pool;
  if (pool?.levels.length) {
    lines.push('');
    lines.push('## 6. Postgres pool');
    lines.push('');
    lines.push(
      `The throughput mix (ours only, one round) on a fresh order worker per \`DATABASE_POOL_MAX\`; the worker's pool counters sampled every 100 ms.`,
    );
    lines.push('');
    lines.push(
      markdownTable([
        [
          'DATABASE_POOL_MAX',
          'orders',
          'in flight',
          'orders/s',
          'provisioned p50 / p95 / p99 ms',
          'connections used, max',
          'waiting for a connection, max / mean',
          'Postgres statements per order',
          'worker CPU ms/order',
          'Postgres CPU ms/order',
          'worker RSS peak MB',
        ],
        ...pool.levels.map((l) => [
          String(l.poolMax),
          String(l.orders),
          String(l.concurrency),
          f(l.ordersPerSecond, 1),
          `${f(l.provisionedLatencyMs.p50)} / ${f(l.provisionedLatencyMs.p95)} / ${f(l.provisionedLatencyMs.p99)}`,
          String(l.connectionsUsedMax),
          `${l.waitingForConnectionMax} / ${f(l.waitingForConnectionMean, 1)}`,
          l.statementsPerOrder !== undefined ? f(l.statementsPerOrder, 1) : '',
          l.cpuMsPerOrder ? f(l.cpuMsPerOrder.worker, 1) : '',
          l.cpuMsPerOrder ? f(l.cpuMsPerOrder.postgres, 1) : '',
          f(l.workerRssPeakMB),
        ]),
      ]),
    );
  }
  if (results.licensing) lines.push('', ...licensingMarkdown(results.licensing));
  if (extra.method) {
    lines.push('');
    lines.push(extra.method.trim());
  }
  if (results.failures.length) {
    lines.push('');
    lines.push('## Failures in this run');
    lines.push('');
    for (const failure of results.failures) lines.push(`- ${failure}`);
  }
  lines.push('');
  return lines.join('\n');
}
