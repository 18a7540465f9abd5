/**
 * The fault runner's own services, apart from everything else on the machine (other test runs
 * share it): a Postgres cluster in .data/faults/pg on a free port, a Temporal dev server with a
 * SQLite file, the SMTP catcher, and the worker as a child process in its own process group.
 * Each can be stopped and started again on the same port, which is what the faults do.
 *
 * Every process started here is written to .data/faults/processes.json; a run that was itself
 * killed leaves that file behind, and the next run stops exactly those processes (by ID, after
 * checking the ID still belongs to them) before it starts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { freePort } from '../../src/dev/free-port';
import { startMailCatcher, type MailCatcher } from '../../src/dev/mail-catcher';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/dev/temporal-dev-server';

const run = promisify(execFile);

export { freePort };

export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ process registry

interface Registered {
  name: string;
  pid: number;
  /** Killed as a group (-pid) when the process leads its own group. */
  group: boolean;
  /** A string the process's command line must contain for the ID to still be ours. */
  mark: string;
}

/**
 * What this run started, on disk, so a later run can clean up after a run that was SIGKILLed.
 * Only processes whose /proc/<pid>/cmdline still contains their mark are touched.
 */
export class ProcessRegistry {
  private entries: Registered[] = [];
  constructor(private readonly file: string) {}

  add(entry: Registered): void {
    this.entries = [...this.entries.filter((e) => e.pid !== entry.pid), entry];
    this.save();
  }

  remove(pid: number): void {
    this.entries = this.entries.filter((e) => e.pid !== pid);
    this.save();
  }

  private save(): void {
    writeFileSync(this.file, JSON.stringify({ runner: process.pid, entries: this.entries }, null, 2));
  }

  /** Kills what a previous, dead runner left behind. Returns what it stopped. */
  static reapLeftovers(file: string): string[] {
    if (!existsSync(file)) return [];
    let saved: { runner: number; entries: Registered[] };
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
    } catch {
      rmSync(file, { force: true });
      return [];
    }
    if (saved.runner !== process.pid && isAlive(saved.runner) && commandLine(saved.runner).includes('scripts/faults/run.ts')) {
      throw new Error(`another fault run (pid ${saved.runner}) is still running; stop it first`);
    }
    const stopped: string[] = [];
    for (const entry of saved.entries) {
      if (isAlive(entry.pid) && commandLine(entry.pid).includes(entry.mark)) {
        killQuietly(entry.group ? -entry.pid : entry.pid, 'SIGKILL');
        stopped.push(`${entry.name} (pid ${entry.pid})`);
      }
    }
    rmSync(file, { force: true });
    return stopped;
  }

  /** Last resort at exit: SIGKILL whatever is still registered. Synchronous, for process.on('exit'). */
  killAllNow(): void {
    for (const entry of this.entries) {
      if (isAlive(entry.pid) && commandLine(entry.pid).includes(entry.mark)) killQuietly(entry.group ? -entry.pid : entry.pid, 'SIGKILL');
    }
    this.entries = [];
    rmSync(this.file, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

// ------------------------------------------------------------------ Postgres

export interface PrivatePostgres {
  port: number;
  dataDir: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  urlFor(database: string): string;
  /** pg_ctl stop -m fast: open transactions are rolled back and every connection is closed. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good (-m immediate if fast does not finish). */
  destroy(): Promise<void>;
}

/** The newest installed server's bin directory (/usr/lib/postgresql/<major>/bin). */
export function findPostgresBin(): string {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base).filter((d) => existsSync(join(base, d, 'bin', 'pg_ctl'))) : [];
  if (majors.length === 0) throw new Error('no Postgres server binaries under /usr/lib/postgresql/*/bin (install postgresql)');
  majors.sort((a, b) => Number(b) - Number(a));
  return join(base, majors[0], 'bin');
}

/**
 * A cluster of our own in `dir` (initdb on first use). Postgres refuses to run as root: as root,
 * the cluster belongs to the `postgres` OS user and pg_ctl runs through runuser.
 */
export async function startPrivatePostgres(dir: string, registry: ProcessRegistry): Promise<PrivatePostgres> {
  const bin = findPostgresBin();
  const asRoot = process.getuid?.() === 0;
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  const logFile = join(dir, 'postgres.log');
  mkdirSync(socketDir, { recursive: true });
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']).catch(() => ({ stdout: '' }));
    const uid = Number(stdout.trim());
    if (!uid) throw new Error('running as root needs the "postgres" OS user to own the private cluster (none found)');
    const { stdout: gidOut } = await run('id', ['-g', 'postgres']);
    for (const d of [dir, socketDir]) chownSync(d, uid, Number(gidOut.trim()));
    if (existsSync(logFile)) chownSync(logFile, uid, Number(gidOut.trim()));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { cwd: dir }) : run(join(bin, tool), args, { cwd: dir });

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    rmSync(dataDir, { recursive: true, force: true });
    await pg('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  }
  // A cluster left running by a run that was killed: stop it before taking a new port.
  if (existsSync(join(dataDir, 'postmaster.pid'))) {
    await pg('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
  }

  const port = await freePort();
  const options = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  const postmasterPid = (): number => Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const start = async () => {
    await pg('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options, 'start']);
    registry.add({ name: 'postgres', pid: postmasterPid(), group: false, mark: dataDir });
  };
  const stopWith = async (mode: 'fast' | 'immediate') => {
    if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
    const pid = postmasterPid();
    await pg('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    registry.remove(pid);
  };
  await start();
  return {
    port,
    dataDir,
    urlFor: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop: () => stopWith('fast'),
    start,
    async destroy() {
      await stopWith('fast').catch(() => stopWith('immediate'));
    },
  };
}

// ------------------------------------------------------------------ Temporal

export interface PrivateTemporal {
  address: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const candidate = await freePort();
    if (candidate + 1000 < 65536 && (await portIsFree(candidate + 1000))) return candidate;
  }
  throw new Error('no free port pair for the Temporal dev server');
}

/** A dev server on a free port with a persistent SQLite file: a restart keeps every workflow. */
export async function startPrivateTemporal(options: {
  binary: string;
  dbFile: string;
  logFile: string;
  registry: ProcessRegistry;
}): Promise<PrivateTemporal> {
  let port = 0;
  let server: TemporalDevServer | undefined;
  const start = async () => {
    server = await startTemporalDevServer({
      binary: options.binary,
      port,
      dbFile: options.dbFile,
      logFile: options.logFile,
      detached: true,
    });
    options.registry.add({ name: 'temporal', pid: server.pid, group: true, mark: options.dbFile });
  };
  // The dev server also listens on port+1000 (HTTP API); both must be free, now and at every
  // restart. Another process may take the second between the check and the bind (CI saw it once):
  // the first start then tries a new pair.
  for (let attempt = 1; ; attempt++) {
    port = await freePortPair();
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
  return {
    address: `127.0.0.1:${port}`,
    start,
    async stop() {
      if (!server) return;
      const pid = server.pid;
      await server.stop();
      // Its own process group: nothing it started may outlive it.
      killQuietly(-pid, 'SIGKILL');
      options.registry.remove(pid);
      server = undefined;
    },
  };
}

// ------------------------------------------------------------------ SMTP

export interface PrivateMail {
  port: number;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** The project's SMTP catcher, restartable on the same port; the messages stay in `dir`. */
export async function startPrivateMail(dir: string): Promise<PrivateMail> {
  let catcher: MailCatcher | undefined = await startMailCatcher({ dir });
  const port = catcher.port;
  return {
    port,
    dir,
    async start() {
      catcher = await startMailCatcher({ dir, port });
    },
    async stop() {
      await catcher?.stop();
      catcher = undefined;
    },
  };
}

// ------------------------------------------------------------------ worker

export interface WorkerProcess {
  pid: number;
  /** Resolves once a worker started at or after the spawn polls the task queue. */
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the whole process group: nothing of it finishes what it was doing. */
  kill(): Promise<void>;
  /** SIGTERM: the worker drains (its shutdown grace time) and exits. */
  stop(): Promise<void>;
}

export interface WorkerSpawnOptions {
  root: string;
  env: Record<string, string>;
  logFile: string;
  connection: Connection;
  namespace: string;
  taskQueue: string;
  registry: ProcessRegistry;
  /** Node flags before the entry (the production shape's workers run with WORKER_NODE_FLAGS). */
  nodeFlags?: readonly string[];
}

/** `node --import tsx workers/main.ts`, as `npm run worker` runs it, in a process group of its own. */
export function spawnWorker(options: WorkerSpawnOptions): WorkerProcess {
  const spawnedAt = Date.now();
  const log = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', 'workers/main.ts'], {
    cwd: options.root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...options.env },
    stdio: ['ignore', log, log],
    detached: true,
  });
  closeSync(log);
  const pid = child.pid!;
  options.registry.add({ name: 'worker', pid, group: true, mark: 'workers/main.ts' });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      options.registry.remove(pid);
      resolve({ code, signal });
    }),
  );
  let gone = false;
  void exited.then(() => (gone = true));

  const ready = (async () => {
    const deadline = spawnedAt + 180_000;
    while (Date.now() < deadline) {
      if (gone) throw new Error(`the worker exited before it polled; see ${options.logFile}`);
      if (await workerPolls(options.connection, options.namespace, options.taskQueue, pid).catch(() => false)) return;
      await sleep(250);
    }
    throw new Error(`the worker did not poll within 180 s; see ${options.logFile}`);
  })();
  ready.catch(() => undefined);

  return {
    pid,
    ready,
    exited,
    async kill() {
      if (!gone) killQuietly(-pid, 'SIGKILL');
      await exited;
    },
    async stop() {
      if (gone) return;
      killQuietly(-pid, 'SIGTERM');
      const timer = setTimeout(() => killQuietly(-pid, 'SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * True once the worker process `pid` polls the workflow task queue. By identity (the SDK's
 * default is <pid>@<host>), not by time: a SIGKILLed worker's last poll stays listed for a while.
 */
async function workerPolls(connection: Connection, namespace: string, taskQueue: string, pid: number): Promise<boolean> {
  const { pollers } = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (pollers ?? []).some((poller) => poller.identity?.startsWith(`${pid}@`));
}
