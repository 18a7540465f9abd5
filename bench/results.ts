/** What a benchmark run measured, part by part, and the targets it is judged against. */
import type { PersistencePerOrder } from './temporal-persistence';
import type { OverloadResult } from './overload-report';
import { type LatencySummary, type SpreadSummary, type LinearFit } from './stats';
import { type HistoryCost, type WorkflowShape } from './history-cost';
import type { LicensingResult } from './licensing-report';
import type { LicenseScaleResults } from './licensing-scale-report';

export type ScenarioKind = 'direct' | 'held' | 'delegated' | 'classic';

/** CPU ms an order cost each process (user + system, from /proc). */
export interface CpuPerOrder {
  worker: number;
  temporalServer: number;
  /** Backends of the benchmark database; ones that closed mid-round are missed (a lower bound). */
  postgres: number;
  /** The driver: booking client, SMTP server, customer page's link check, result waits. */
  driver: number;
  /** Backends of Temporal's own two databases: only on the production shape (`--temporal-store postgres`). */
  temporalPostgres?: number;
  /** Each worker process's share of `worker`, when several ran (`--order-workers`). */
  workers?: number[];
  total: number;
}

/** One worker process of a part with several (`--order-workers`): how the work spread over them. */
export interface WorkerShare {
  /** CPU ms it spent per order of the whole part (the shares add up to the part's worker figure). */
  cpuMsPerOrder: number;
  rssMB: number;
  peakRssMB: number;
  /** Workflow tasks and activities it ran in the measured rounds (from its SDK metrics). */
  workflowTasks?: number;
  activities?: number;
  localActivities?: number;
  /** Postgres statements it sent in the measured rounds (the order worker only). */
  statements?: number;
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
  /** Worker processes on the task queue (`--order-workers`; runs before it had one). */
  orderWorkers?: number;
  /** Each worker process: its CPU share, memory and the tasks it ran. */
  workers?: WorkerShare[];
  /** Production shape: what an order of the warm-up cost Temporal's Postgres. */
  temporalPersistencePerOrder?: PersistencePerOrder;
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
  /** Its worker processes (as many as ours). */
  workers?: WorkerShare[];
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
  /** CPU per request of the API (the driver process) and of the load generator (its own process), ms. */
  cpuMsPerRequest?: { api: number; loadGenerator: number };
  /** Postgres statements the API sent per request. */
  statementsPerRequest?: number;
}

export interface ApiResult {
  booking: ApiLoadResult;
  status: ApiLoadResult;
  /** The same orders started by a bare client.workflow.start through the same API process. */
  bareStart?: ApiLoadResult;
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
  /** The dev server's CLI; absent when the production shape's server ran (`temporalServer`). */
  temporalCli?: string;
  temporalServer?: string;
  postgres: string;
}

export interface BenchResults extends LicenseScaleResults {
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
  overload?: OverloadResult;
  /** Whatever went wrong: a non-empty list makes the run fail (exit 1). */
  failures: string[];
}

export const TARGETS = {
  engineLimitRatio: 0.8,
  /** Booking through the API / a bare workflow.start through the same process (issue 16). */
  bookingVsBareStartRatio: 0.8,
  /** GET /v1/orders/:id from the Postgres projection (issue 16). */
  statusPerSecond: 1000,
  statusP99Ms: 50,
  workerRssMBAt10000: 300,
  bulkTransferSAt10000: 120,
};
