/**
 * The benchmark's own real stack, apart from `npm start`'s and the tests': a Temporal dev server
 * (the installed CLI, free ports, a fresh SQLite file under .data/bench/) or, with
 * `--temporal-store postgres`, the production shape's temporal-server on Postgres
 * (bench/temporal-production.ts), a fresh migrated
 * database `license_fulfillment_bench`, the benchmark's SMTP server (bench/mail.ts, in a child process), the two
 * workflow bundles (the product's and the engine-limit workflow's), and worker processes started
 * as children so each one's memory can be read on its own.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../src/config';
import { createDb, withDatabase, type Db } from '../src/db/knex';
import { recreateMigratedDatabase } from '../src/db/migrate';
import { freePort } from '../src/dev/free-port';
import { dataConverterFor } from '../src/temporal/connect';
import { generateEncryptionKey } from '../src/temporal/payload-codec';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';
import { WORKER_NODE_FLAGS, workerMemoryEnv } from '../src/temporal/worker-memory';
import { startTemporalDevServer, type TemporalDevServer } from '../src/dev/temporal-dev-server';
import { withGenerousApiLimits } from '../test/helpers/api-limits';
import { cpuSnapshot, type CpuSnapshot } from './cpu';
import { startBenchMailProcess, type BenchMailServer } from './mail';
import { startBenchTemporalServer } from './temporal-production';
import type { WorkerKind, WorkerStats } from './worker-process';

export const ROOT = resolve(__dirname, '..');
export type TemporalStore = 'wal' | 'file' | 'memory' | 'postgres';

function describeStore(store: Exclude<TemporalStore, 'postgres'>, dbFile: string | undefined): string {
  if (store === 'memory') return 'in memory';
  const rel = dbFile ? dbFile.replace(`${ROOT}/`, '') : '';
  return store === 'wal' ? `SQLite file ${rel}, journal_mode=WAL, synchronous=NORMAL` : `SQLite file ${rel}, the CLI's default journal`;
}
/** BENCH_DATABASE moves it, so two runs on one Postgres server (two checkouts) do not drop each other's. */
export const BENCH_DATABASE = process.env.BENCH_DATABASE || 'license_fulfillment_bench';

export interface BenchStack {
  dataDir: string;
  temporal: TemporalDevServer;
  /** Which Temporal ran and how it stores its state, for the report. */
  temporalStore: string;
  /** The dev server's CLI binary; undefined with `--temporal-store postgres`. */
  temporalCli?: string;
  /** `--temporal-store postgres`: which temporal-server ran on which databases. */
  temporalServer?: string;
  /** Temporal's own Postgres databases (production shape only), counted apart from the bench database's CPU. */
  temporalDatabases: string[];
  databaseUrl: string;
  databaseName: string;
  /** The driver's own connections (the worker processes open theirs). */
  db: Db;
  /** With the product's payload codec (R14), as the API and every product process. */
  client: Client;
  /** Without a codec: for the engine-limit workflow, which carries no customer data. */
  plainClient: Client;
  /** In a child process of its own (bench/mail-process.ts); its CPU counts as the driver's. */
  mail: BenchMailServer;
  /** The product configuration pointed at this stack; `taskQueue` is set per part. */
  config: Config;
  bundles: { orders: string; engineLimit: string };
  /** Environment every worker process gets (plus its own task queue and intervals). */
  workerEnv: Record<string, string>;
  startWorker(options: StartWorkerOptions): Promise<BenchWorker>;
  /** CPU so far of these worker processes, the Temporal server, the bench database's and Temporal's own Postgres backends, the driver. */
  cpu(workers: readonly number[]): CpuSnapshot;
  stop(): Promise<void>;
}

export interface StartWorkerOptions {
  kind: WorkerKind;
  taskQueue: string;
  /** Extra environment: REMINDER_INTERVAL, ESCALATION_AFTER, ... */
  env?: Record<string, string>;
  /** Let the worker bundle the product workflows at start, as workers/main.ts does. */
  bundleAtStart?: boolean;
  /** Serve the SDK's Prometheus metrics (as workers/main.ts does), so stats() can count its workflow tasks and activities. */
  metrics?: boolean;
}

export interface BenchWorker {
  pid: number;
  maxCachedWorkflows: number;
  /** The process's resident set now, from /proc (bytes). */
  rss(): number;
  /** The highest resident set since the process started (VmHWM, bytes). */
  peakRss(): number;
  /** Memory and cache figures from inside the process. */
  stats(): Promise<WorkerStats>;
  stop(): Promise<void>;
}

/** A `VmRSS` / `VmHWM` line of /proc/<pid>/status, in bytes (0 once the process is gone). */
export function procMemory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * The worker process entry compiled to one plain JavaScript file (dependencies stay in
 * node_modules), so the child runs on plain `node` like the production image, without the
 * TypeScript loader's ~30 MB in its RSS. esbuild comes with tsx; without it, the child runs
 * through tsx and the RSS figures include the loader.
 */
async function compileWorkerEntry(dataDir: string): Promise<{ path: string; execArgv: string[]; loader: string }> {
  const entry = join(ROOT, 'bench', 'worker-process.ts');
  try {
    // Loaded only when the benchmark bundles the worker (esbuild comes with tsx), not at import time.
    // eslint-disable-next-line @typescript-eslint/no-require-imports, @typescript-eslint/consistent-type-imports
    const esbuild = require('esbuild') as typeof import('esbuild');
    const outfile = join(dataDir, 'worker-process.js');
    await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      packages: 'external',
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      logLevel: 'warning',
      // workers/order-worker.ts resolves '../workflows' only when given no bundle; the bench
      // always gives one (or bundles itself), so that path is never taken.
      logOverride: { 'require-resolve-not-external': 'silent' },
    });
    return { path: outfile, execArgv: [], loader: `plain node (compiled with esbuild ${esbuild.version})` };
  } catch (err) {
    process.stderr.write(`[bench] esbuild unavailable (${(err as Error).message}); worker processes run through tsx\n`);
    return { path: entry, execArgv: ['--import', 'tsx'], loader: 'tsx (RSS includes the TypeScript loader)' };
  }
}

/**
 * BENCH_WORKER_CPU_PROF=<dir>: each worker process writes a V8 CPU profile there when it stops
 * (node refuses --cpu-prof in NODE_OPTIONS), to see where a worker's CPU per order goes.
 */
function workerProfileFlags(): string[] {
  const dir = process.env.BENCH_WORKER_CPU_PROF;
  // BENCH_WORKER_NODE_FLAGS: extra node flags for the workers, space-separated (memory experiments).
  const extra = (process.env.BENCH_WORKER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return [...extra, ...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [])];
}

export async function startBenchStack(options: {
  dataDir: string;
  log: (line: string) => void;
  /** wal (default), file or memory: the dev server's SQLite; postgres: the production shape's temporal-server instead. */
  temporalStore?: TemporalStore;
}): Promise<BenchStack & { workerLoader: string }> {
  const { dataDir, log } = options;
  const store = options.temporalStore ?? 'wal';
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const started = Date.now();

  const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const databaseUrl = withDatabase(baseUrl, BENCH_DATABASE);

  const [server, mail, ordersBundle, engineLimitBundle, workerEntry] = await startPartsTogether(
    dataDir,
    databaseUrl,
    startBenchTemporal(store, dataDir, baseUrl),
  );
  const { temporal } = server;
  const bundles = { orders: ordersBundle, engineLimit: engineLimitBundle };

  const workerEnv = workerEnvFor(databaseUrl, temporal.address, mail.port);
  // Every API the bench builds is unthrottled (one key, thousands of devices); part 11 sets its own limits.
  const config = withGenerousApiLimits(loadConfig({ ...process.env, ...workerEnv }));
  const db = createDb(databaseUrl, 20);
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: 'default', dataConverter: dataConverterFor(config) });
  const plainClient = new Client({ connection, namespace: 'default' });
  const children = new Set<ChildProcess>();
  // A crash of the driver must not leave worker processes or the dev server behind.
  const killAll = () => {
    for (const child of children) child.kill('SIGKILL');
    try {
      process.kill(temporal.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killAll);
  log(
    `stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s: Temporal ${temporal.address} (${server.store}), ` +
      `database ${BENCH_DATABASE}, SMTP 127.0.0.1:${mail.port}, workers on ${workerEntry.loader}`,
  );

  const startWorker = (worker: StartWorkerOptions) => forkBenchWorker(worker, { workerEnv, bundles, workerEntry, children });
  const temporalDatabases = server.databases ?? [];

  return {
    dataDir,
    temporal,
    temporalStore: server.store,
    ...(server.cli ? { temporalCli: server.cli } : {}),
    ...(server.description ? { temporalServer: server.description } : {}),
    temporalDatabases,
    databaseUrl,
    databaseName: BENCH_DATABASE,
    db,
    client,
    plainClient,
    mail,
    config,
    bundles,
    workerEnv,
    workerLoader: workerEntry.loader,
    startWorker,
    cpu: (workers) =>
      cpuSnapshot({ workers, temporalServer: temporal.pid, database: BENCH_DATABASE, temporalDatabases, mailServer: mail.pid }),
    async stop() {
      for (const child of children) child.kill('SIGTERM');
      await connection.close().catch(() => undefined);
      await db.destroy().catch(() => undefined);
      await mail.stop().catch(() => undefined);
      await temporal.stop().catch(() => undefined);
      process.off('exit', killAll);
    },
  };
}

interface StartedTemporal {
  temporal: TemporalDevServer;
  /** For the log and the report: which server, how it stores its state. */
  store: string;
  cli?: string;
  description?: string;
  databases?: string[];
}

/** The dev server on `store` (SQLite file or memory), or the production shape's temporal-server on Postgres. */
async function startBenchTemporal(store: TemporalStore, dataDir: string, baseUrl: string): Promise<StartedTemporal> {
  if (store === 'postgres') {
    const server = await startBenchTemporalServer({ root: ROOT, dataDir, baseUrl, benchDatabase: BENCH_DATABASE, namespace: 'default' });
    const { schemaS, serverS, namespaceS } = server.timings;
    return {
      temporal: server,
      store: `${server.description}; schema ${schemaS.toFixed(1)} s, start ${serverS.toFixed(1)} s, namespace and search attributes ${namespaceS.toFixed(1)} s`,
      description: server.description,
      databases: server.databases,
    };
  }
  const dbFile = store === 'memory' ? undefined : join(dataDir, 'temporal.db');
  const cli = execFileSync('bash', [join(ROOT, 'scripts/ensure-temporal-cli.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const temporal = await startTemporalDevServer({
    binary: cli,
    port: await freePort(),
    ...(dbFile ? { dbFile } : {}),
    sqlitePragmas: store === 'wal' ? ['journal_mode=wal', 'synchronous=normal'] : [],
    logFile: join(dataDir, 'temporal.log'),
  });
  return { temporal, store: describeStore(store, dbFile), cli };
}

/** Temporal (started by the caller), the SMTP server, both workflow bundles, the worker entry and the database, in parallel. */
function startPartsTogether(dataDir: string, databaseUrl: string, temporal: Promise<StartedTemporal>) {
  return Promise.all([
    temporal,
    startBenchMailProcess(ROOT),
    writeWorkflowBundle(join(dataDir, 'orders-workflows.js')),
    writeWorkflowBundle(join(dataDir, 'engine-limit-workflows.js'), require.resolve('./baseline/workflows')),
    compileWorkerEntry(dataDir),
    recreateMigratedDatabase(databaseUrl),
  ]);
}

/** What every worker process is started with: the bench's database, server and SMTP, and a payload key. */
function workerEnvFor(databaseUrl: string, temporalAddress: string, smtpPort: number): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    LOG_LEVEL: 'WARN',
    // R14: the product seals every payload; a key of the run's own, as the tests make one.
    PAYLOAD_ENCRYPTION_KEYS: generateEncryptionKey('bench'),
  };
}

/** A worker process of `kind` (bench/worker-process.ts), forked with the stack's environment; resolves once it polls. */
async function forkBenchWorker(
  worker: StartWorkerOptions,
  stack: {
    workerEnv: Record<string, string>;
    bundles: { orders: string; engineLimit: string };
    workerEntry: { path: string; execArgv: string[] };
    children: Set<ChildProcess>;
  },
): Promise<BenchWorker> {
  const { workerEnv, bundles, workerEntry, children } = stack;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...workerEnv,
    TEMPORAL_TASK_QUEUE: worker.taskQueue,
    BENCH_WORKER_KIND: worker.kind,
    ...(worker.bundleAtStart
      ? { BENCH_BUNDLE_AT_START: '1', BENCH_WORKFLOWS_PATH: require.resolve('../workflows') }
      : { BENCH_WORKFLOW_BUNDLE: worker.kind === 'orders' ? bundles.orders : bundles.engineLimit }),
    // Started as the product starts its worker (src/temporal/worker-memory.ts), for both kinds.
    ...workerMemoryEnv(),
    ...(worker.metrics ? { BENCH_METRICS_LISTEN: `127.0.0.1:${await freePort()}` } : {}),
    ...(worker.env ?? {}),
  };
  if (worker.bundleAtStart) delete env.BENCH_WORKFLOW_BUNDLE;
  const child = fork(workerEntry.path, [], {
    execArgv: [...WORKER_NODE_FLAGS, ...workerProfileFlags(), ...workerEntry.execArgv],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  void exited.then(() => children.delete(child));
  const ready = await readyMessageOf(child, worker.kind);
  return benchWorkerOf(child, ready.maxCachedWorkflows, exited);
}

/** The worker's `ready` (with its cache size), or its error or exit before it. */
function readyMessageOf(child: ChildProcess, kind: StartWorkerOptions['kind']): Promise<{ maxCachedWorkflows: number }> {
  return new Promise<{ maxCachedWorkflows: number }>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} worker did not start in 120 s`)), 120_000);
    child.on('message', function onMessage(message: { type: string; maxCachedWorkflows?: number; message?: string }) {
      if (message.type === 'ready') {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolveReady({ maxCachedWorkflows: message.maxCachedWorkflows ?? 0 });
      } else if (message.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`${kind} worker failed: ${message.message}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} worker exited with ${code} before it was ready`));
    });
  });
}

/** The driver's handle on a running worker process: memory from /proc, stats over IPC, stop. */
function benchWorkerOf(child: ChildProcess, maxCachedWorkflows: number, exited: Promise<void>): BenchWorker {
  const pid = child.pid!;
  return {
    pid,
    maxCachedWorkflows,
    rss: () => procMemory(pid, 'VmRSS'),
    peakRss: () => procMemory(pid, 'VmHWM'),
    stats: () =>
      new Promise<WorkerStats>((resolveStats, reject) => {
        const timer = setTimeout(() => reject(new Error('worker stats: no answer in 10 s')), 10_000);
        child.on('message', function onMessage(message: WorkerStats) {
          if (message.type !== 'stats') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolveStats(message);
        });
        child.send({ type: 'stats' });
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The Temporal CLI's own version line (`temporal version 1.5.1 (Server 1.29.1, UI 2.41.0)`). */
export function temporalVersion(binary: string): string {
  // A CLI built with `go install` calls itself 0.0.0-DEV; the cache path names the release.
  const release = /temporal-cli\/(v[0-9.]+)\//.exec(binary)?.[1];
  try {
    const reported = execFileSync(binary, ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^temporal version\s*/, '');
    return release ? `${release} (${reported})` : reported;
  } catch {
    return release ?? 'unknown';
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}
