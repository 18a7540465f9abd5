/**
 * One worker process of the benchmark, started by bench/stack.ts as a child so its memory is
 * its own (RSS read from /proc by the parent). `BENCH_WORKER_KIND=orders` runs the product's
 * order worker (workers/order-worker.ts, wired as workers/main.ts wires it: the configuration
 * from the environment, DATABASE_POOL_MAX connections, SMTP, the payload codec, default worker
 * options);
 * `engine-limit` runs the engine-limit workflow with the same default worker options and no codec.
 *
 * Talks to the parent over IPC: sends `ready` once polling, answers `stats` (memory, cache),
 * and drains and exits on `stop`.
 */
import { appendFileSync } from 'node:fs';
import * as v8 from 'node:v8';
import workerThreads, { BroadcastChannel } from 'node:worker_threads';
import { asyncLocalStorage } from '@temporalio/activity';
import { bundleWorkflowCode, DefaultLogger, type NativeConnection, Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { createDb } from '../src/db/knex';
import { createSmtpMailer } from '../src/email/mailer';
import { connectTemporal } from '../src/temporal/connect';
import { connectWorkerTemporal } from '../src/temporal/worker-connection';
import { createOrderWorker, temporalPartsFrom } from '../workers/order-worker';
import * as engineLimitActivities from './baseline/activities';

export type WorkerKind = 'orders' | 'engine-limit';

export interface WorkerStats {
  type: 'stats';
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  cachedWorkflows: number;
  maxCachedWorkflows: number;
  /** The order worker's Postgres pool (DATABASE_POOL_MAX): connections lent out and callers waiting for one. */
  pool?: { max: number; used: number; pendingAcquires: number };
  /** Postgres statements the order worker has sent since it started (knex's query event). */
  statements?: number;
  /** With BENCH_METRICS_LISTEN: workflow tasks, activities and local activities it has run since it started (its SDK metrics). */
  tasks?: TaskCounts;
}

export interface TaskCounts {
  workflowTasks: number;
  activities: number;
  localActivities: number;
}

type ParentMessage = { type: 'stats' } | { type: 'stop' };

function send(message: unknown): void {
  process.send?.(message);
}

/** What the parent's `stats` question reads beyond memory and the workflow cache. */
interface WorkerProbes {
  poolStats?: () => WorkerStats['pool'];
  statementCount?: () => number;
  taskCounts?: () => Promise<TaskCounts>;
}

/** The SDK's counters (histogram counts) summed over their labels, from the worker's own /metrics. */
async function taskCountsFrom(url: string): Promise<TaskCounts> {
  const text = await (await fetch(url)).text();
  const total = (name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return {
    workflowTasks: total('temporal_workflow_task_execution_latency_count'),
    activities: total('temporal_activity_execution_latency_count'),
    localActivities: total('temporal_local_activity_execution_latency_count'),
  };
}

type Closer = () => Promise<void> | void;

async function main(): Promise<void> {
  const kind = (process.env.BENCH_WORKER_KIND ?? 'orders') as WorkerKind;
  const bundlePath = process.env.BENCH_WORKFLOW_BUNDLE;
  const config = loadConfig();
  // BENCH_METRICS_LISTEN: the SDK's Prometheus exporter, as workers/main.ts runs it, read back by `stats`.
  const metricsListen = process.env.BENCH_METRICS_LISTEN;
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    ...(metricsListen ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsListen } } } } : {}),
  });
  const workflowThreadHeap = probeWorkflowThreadHeap();
  const connection = await connectWorkerTemporal(config.temporal);
  const closers: Closer[] = [() => connection.close()];
  let worker: Worker;
  let probes: WorkerProbes = {};
  if (kind === 'orders') {
    ({ worker, probes } = await createBenchOrderWorker(config, connection, bundlePath, closers));
  } else {
    if (!bundlePath) throw new Error('BENCH_WORKFLOW_BUNDLE is required for the engine-limit worker');
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      workflowBundle: { codePath: bundlePath },
      activities: engineLimitActivities,
    });
  }
  if (metricsListen) probes.taskCounts = () => taskCountsFrom(`http://${metricsListen}/metrics`);
  answerParent(worker, probes);
  logMemory(worker, workflowThreadHeap);

  const running = worker.run();
  send({ type: 'ready', maxCachedWorkflows: worker.options.maxCachedWorkflows });
  try {
    await running;
  } finally {
    for (const close of closers) await close();
  }
  send({ type: 'stopped' });
  process.exit(0);
}

/** The product's order worker, wired as workers/main.ts wires it; its pool and statements probed. */
async function createBenchOrderWorker(
  config: ReturnType<typeof loadConfig>,
  connection: NativeConnection,
  bundlePath: string | undefined,
  closers: Closer[],
): Promise<{ worker: Worker; probes: WorkerProbes }> {
  const db = createDb(config.databaseUrl, config.databasePoolMax);
  // knex's pool is tarn's: numUsed / numPendingAcquires are its public counters.
  const pool = (db.client as { pool?: { numUsed(): number; numPendingAcquires(): number } }).pool;
  let statements = 0;
  db.on('query', () => statements++);
  logStatements(db);
  const probes: WorkerProbes = {
    statementCount: () => statements,
    poolStats: () => ({ max: config.databasePoolMax, used: pool?.numUsed() ?? 0, pendingAcquires: pool?.numPendingAcquires() ?? 0 }),
  };
  const mailer = createSmtpMailer(config.smtpUrl);
  const clientConnection = await connectTemporal(config.temporal);
  closers.push(
    () => clientConnection.close(),
    () => db.destroy(),
    () => mailer.close(),
  );
  // BENCH_BUNDLE_AT_START: webpack runs in this process, as when workers/main.ts passes no
  // bundle; otherwise the pre-built bundle is loaded.
  let workflowBundle: WorkflowBundleOption | undefined;
  if (process.env.BENCH_BUNDLE_AT_START === '1') {
    const bundle = await bundleWorkflowCode({ workflowsPath: process.env.BENCH_WORKFLOWS_PATH!, logger: new DefaultLogger('WARN') });
    workflowBundle = { code: bundle.code };
  } else if (bundlePath) {
    workflowBundle = { codePath: bundlePath };
  }
  const worker = await createOrderWorker({
    connection,
    ...temporalPartsFrom(config, clientConnection),
    db,
    mailer,
    config,
    ...(workflowBundle ? { workflowBundle } : {}),
  });
  return { worker, probes };
}

/**
 * BENCH_WORKER_SQL_LOG=<file>: one line per statement, the activity that sent it first, to count
 * an order's statements by activity (`cut -f1 <file> | sort | uniq -c`).
 */
function logStatements(db: ReturnType<typeof createDb>): void {
  const file = process.env.BENCH_WORKER_SQL_LOG;
  if (!file) return;
  db.on('query', (query: { sql: string }) => {
    const activity = asyncLocalStorage.getStore()?.info.activityType ?? '-';
    appendFileSync(file, `${activity}\t${query.sql.replace(/\s+/g, ' ').slice(0, 300)}\n`);
  });
}

/**
 * BENCH_WORKER_MEMORY_LOG=<file>: one JSON line a second with the RSS, the V8 heaps of the main
 * thread and of the workflow thread, array buffers, the workflow cache and what is in flight, to
 * see what holds a phase's peak (the rest of the RSS is code, the SDK core and the allocator).
 */
function logMemory(worker: Worker, workflowThreadHeap: () => v8.HeapInfo | undefined): void {
  const file = process.env.BENCH_WORKER_MEMORY_LOG;
  if (!file) return;
  const MB = 1024 * 1024;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const status = worker.getStatus();
    const thread = workflowThreadHeap();
    const line = {
      t: Date.now(),
      rss: +(m.rss / MB).toFixed(1),
      heapUsed: +(m.heapUsed / MB).toFixed(1),
      heapTotal: +(m.heapTotal / MB).toFixed(1),
      external: +(m.external / MB).toFixed(1),
      arrayBuffers: +(m.arrayBuffers / MB).toFixed(1),
      mainMalloced: +(v8.getHeapStatistics().malloced_memory / MB).toFixed(1),
      wfHeapUsed: +((thread?.used_heap_size ?? 0) / MB).toFixed(1),
      wfHeapTotal: +((thread?.total_heap_size ?? 0) / MB).toFixed(1),
      wfExternal: +((thread?.external_memory ?? 0) / MB).toFixed(1),
      wfMalloced: +((thread?.malloced_memory ?? 0) / MB).toFixed(1),
      cached: status.numCachedWorkflows,
      activations: status.numInFlightWorkflowActivations,
      activities: status.numInFlightActivities,
    };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, 1000);
  timer.unref();
}

/**
 * With BENCH_WORKER_MEMORY_LOG, the SDK's workflow thread is started through a wrapper that
 * posts its isolate's heap statistics every second (the main thread cannot read another
 * isolate's heap on Node 20), then loads the SDK's own thread entry unchanged.
 */
function probeWorkflowThreadHeap(): () => v8.HeapInfo | undefined {
  if (!process.env.BENCH_WORKER_MEMORY_LOG) return () => undefined;
  let last: v8.HeapInfo | undefined;
  const channel = new BroadcastChannel('bench-workflow-thread-heap');
  channel.onmessage = (event) => {
    last = (event as { data: v8.HeapInfo }).data;
  };
  channel.unref();
  const Original = workerThreads.Worker;
  class ProbedWorker extends Original {
    constructor(filename: string | URL, options?: workerThreads.WorkerOptions) {
      if (typeof filename !== 'string' || !filename.includes('workflow-worker-thread')) {
        super(filename, options);
        return;
      }
      const probe = [
        "const { BroadcastChannel } = require('node:worker_threads');",
        "const v8 = require('node:v8');",
        "const channel = new BroadcastChannel('bench-workflow-thread-heap');",
        'channel.unref();',
        'setInterval(() => channel.postMessage(v8.getHeapStatistics()), 1000).unref();',
        `require(${JSON.stringify(filename)});`,
      ].join('\n');
      super(probe, { ...options, eval: true });
    }
  }
  (workerThreads as { Worker: typeof Original }).Worker = ProbedWorker;
  return () => last;
}

/** Answers the parent's `stats` and `stop`; the parent going away stops the worker too. */
function answerParent(worker: Worker, probes: WorkerProbes): void {
  process.on('message', (message: ParentMessage) => {
    if (message?.type === 'stats') void answerStats(worker, probes);
    else if (message?.type === 'stop') worker.shutdown();
  });
  // The parent going away (Ctrl-C, a crash) stops this worker too.
  process.on('disconnect', () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  });
}

/** Memory, the workflow cache, the pool, statements and (with metrics) tasks run, to the parent. */
async function answerStats(worker: Worker, probes: WorkerProbes): Promise<void> {
  const tasks = await probes.taskCounts?.().catch(() => undefined);
  const memory = process.memoryUsage();
  const stats: WorkerStats = {
    type: 'stats',
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cachedWorkflows: worker.getStatus().numCachedWorkflows,
    maxCachedWorkflows: worker.options.maxCachedWorkflows,
    ...(probes.poolStats ? { pool: probes.poolStats() } : {}),
    ...(probes.statementCount ? { statements: probes.statementCount() } : {}),
    ...(tasks ? { tasks } : {}),
  };
  send(stats);
}

main().catch((err) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.stderr.write(`bench worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
