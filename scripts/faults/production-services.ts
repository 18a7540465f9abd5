/**
 * The production shape for one fault run (--production), built from the same pieces as
 * `npm start -- --production` (src/dev/temporal-server.ts, src/dev/production-shape.ts) but on
 * the fault runner's private Postgres cluster and on free ports, so it touches nothing else on
 * the machine: Temporal's two databases set up with its SQL tool, temporal-server, Mailpit,
 * and (started by the run) two workers and two APIs. temporal-server can be stopped and
 * started again on the same databases and ports; one that exits by itself is noted and started
 * again, as a process manager would.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Connection } from '@temporalio/client';
import { dropDatabase } from '../../src/db/knex';
import { NAMESPACE_RETENTION_HOURS, PRODUCTION_COMMANDS, temporalServerEnv } from '../../src/dev/production-shape';
import { callApi, localUrl, waitUntil } from '../../src/dev/stack-api';
import { StackProcesses } from '../../src/dev/stack-processes';
import { checkApi } from '../../src/dev/stack-steps';
import { ensureNamespace, setupTemporalDatabases, startTemporalServer, whenNamespaceKnown } from '../../src/dev/temporal-server';
import { ensureSearchAttributes } from '../../src/temporal/register-search-attributes';
import { freePort, portIsFree, sleep, type PrivatePostgres, type ProcessRegistry } from './services';

const ROOT = resolve(__dirname, '../..');

/** What scripts/ensure-production-binaries.sh prints (it builds them into the cache the first time). */
export interface ProductionBinaries {
  server: string;
  sqlTool: string;
  schemaDir: string;
  mailpit: string;
}

export function productionBinaries(): ProductionBinaries {
  const out = execFileSync('bash', [join(ROOT, 'scripts/ensure-production-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const vars = new Map(out.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  const read = (name: string) => vars.get(name) || (process.env[name] ?? '');
  return {
    server: read('TEMPORAL_SERVER_BIN'),
    sqlTool: read('TEMPORAL_SQL_TOOL_BIN'),
    schemaDir: read('TEMPORAL_SCHEMA_DIR'),
    mailpit: read('MAILPIT_BIN'),
  };
}

/**
 * `count` distinct free ports from 20000-32766: Temporal stores its membership ports in a
 * smallint column (a port from the kernel's ephemeral range above 32767 makes the server fail at start).
 */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_767);
    if (!ports.has(candidate) && (await portIsFree(candidate))) ports.add(candidate);
  }
  return [...ports];
}

/** temporal-server's environment (temporalServerEnv) with every port it opens free: the frontend, the other services, metrics, membership. */
export async function temporalServerEnvOnFreePorts(
  databaseUrl: string,
  names: { DBNAME: string; VISIBILITY_DBNAME: string },
): Promise<Record<string, string>> {
  const [grpc, http, metrics, history, matching, worker, ...membership] = await freePorts(10);
  return {
    ...temporalServerEnv(databaseUrl, ROOT, names),
    FRONTEND_GRPC_PORT: String(grpc),
    FRONTEND_HTTP_PORT: String(http),
    PROMETHEUS_ENDPOINT: `127.0.0.1:${metrics}`,
    HISTORY_GRPC_PORT: String(history),
    MATCHING_GRPC_PORT: String(matching),
    WORKER_GRPC_PORT: String(worker),
    FRONTEND_MEMBERSHIP_PORT: String(membership[0]),
    HISTORY_MEMBERSHIP_PORT: String(membership[1]),
    MATCHING_MEMBERSHIP_PORT: String(membership[2]),
    WORKER_MEMBERSHIP_PORT: String(membership[3]),
  };
}

export interface RestartableServer {
  address: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface ProductionShape {
  temporal: RestartableServer;
  smtpPort: number;
  inboxUrl: string;
  /** Stops Mailpit and temporal-server (and any API still running), newest first. */
  stopAll(): Promise<void>;
  /** Starts API `index` (0 or 1) with `env` on a free port; resolves with its base URL once /readyz answers. */
  startApi(index: number, env: Record<string, string>): Promise<string>;
}

/** Temporal's databases (fresh), temporal-server with the namespace and search attributes, Mailpit. */
export async function startProductionShape(run: {
  pg: PrivatePostgres;
  bins: ProductionBinaries;
  registry: ProcessRegistry;
  dir: string;
  /** Names Temporal's databases (faults_temporal_<tag>, faults_temporal_<tag>_visibility). */
  tag: string;
  notes: string[];
}): Promise<ProductionShape> {
  const { pg, bins, registry, dir, notes } = run;
  const stack = new StackProcesses(ROOT);
  let stopping = false;
  const names = { DBNAME: `faults_temporal_${run.tag}`, VISIBILITY_DBNAME: `faults_temporal_${run.tag}_visibility` };
  for (const name of Object.values(names)) await dropDatabase(pg.urlFor(name));
  const env = await temporalServerEnvOnFreePorts(pg.urlFor('postgres'), names);
  await setupTemporalDatabases({
    root: ROOT,
    sqlTool: bins.sqlTool,
    schemaDir: bins.schemaDir,
    env,
    logFile: join(dir, 'temporal-sql-tool.log'),
  });
  const temporal = await restartableServer({
    stack,
    bins,
    env,
    registry,
    notes,
    address: `127.0.0.1:${env.FRONTEND_GRPC_PORT}`,
    logFile: join(dir, 'temporal-server.log'),
  });
  await temporal.start();

  const [smtpPort, inboxPort] = await freePorts(2);
  // --max 0: Mailpit keeps every message (its default drops all but the newest 500).
  const args = [
    '--smtp',
    `127.0.0.1:${smtpPort}`,
    '--listen',
    `127.0.0.1:${inboxPort}`,
    '--database',
    join(dir, 'mailpit.db'),
    '--max',
    '0',
  ];
  const mailpit = stack.spawnChild('mailpit', bins.mailpit, args, process.env, { logFile: join(dir, 'mailpit.log') });
  registry.add({ name: 'mailpit', pid: mailpit.pid!, group: true, mark: bins.mailpit });
  const inboxUrl = localUrl(`127.0.0.1:${inboxPort}`);
  const inbox = await waitUntil(
    () => callApi(inboxUrl, 'GET', '/api/v1/messages', { timeoutMs: 2_000 }),
    (a) => a.status === 200,
    30_000,
  );
  if (inbox.status !== 200) throw new Error(`Mailpit did not answer on ${inboxUrl}: ${String(inbox.body)}`);

  return {
    temporal,
    smtpPort,
    inboxUrl,
    stopAll: async () => {
      stopping = true;
      await temporal.stop();
      await stack.stopAll();
    },
    startApi: (index, appEnv) => startApi({ stack, registry, dir, index, env: appEnv, notes, stopping: () => stopping }),
  };
}

/** Registers the namespace the workers use and the search attributes the API lists by. */
export async function prepareNamespace(connection: Connection, namespace: string): Promise<void> {
  await ensureNamespace(connection, namespace, NAMESPACE_RETENTION_HOURS);
  await whenNamespaceKnown(() => ensureSearchAttributes(connection, namespace));
}

async function restartableServer(options: {
  stack: StackProcesses;
  bins: ProductionBinaries;
  env: Record<string, string>;
  registry: ProcessRegistry;
  notes: string[];
  address: string;
  logFile: string;
}): Promise<RestartableServer> {
  const { stack, bins, env, registry, notes, address, logFile } = options;
  let child: ChildProcess | undefined;
  let stopping = false;
  const start = async (): Promise<void> => {
    const started = await startTemporalServer({
      stack,
      binary: bins.server,
      root: ROOT,
      env,
      temporal: { address, namespace: env.TEMPORAL_NAMESPACE ?? 'default' },
      logFile,
    });
    const pid = started.pid!;
    registry.add({ name: 'temporal-server', pid, group: true, mark: bins.server });
    child = started;
    started.once('exit', (code, signal) => {
      registry.remove(pid);
      if (stopping || child !== started) return;
      notes.push(`temporal-server exited by itself (${signal ?? `code ${code}`}); started again (see temporal-server.log)`);
      void restartUntilServing();
    });
  };
  const restartUntilServing = async (): Promise<void> => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        return await start();
      } catch (err) {
        if (attempt % 10 === 1)
          notes.push(`temporal-server could not start again (attempt ${attempt}): ${(err as Error).message.split('\n')[0]}`);
        await sleep(2_000);
      }
    }
  };
  return {
    address,
    start: async () => {
      stopping = false;
      await start();
    },
    async stop() {
      stopping = true;
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((done) => running.once('exit', () => done()));
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `node <API_NODE_FLAGS> --import tsx workers/api.ts`, as the production shape runs it; one that exits by itself is started again. */
async function startApi(options: {
  stack: StackProcesses;
  registry: ProcessRegistry;
  dir: string;
  index: number;
  env: Record<string, string>;
  notes: string[];
  stopping: () => boolean;
}): Promise<string> {
  const { stack, registry, dir, index, env, notes } = options;
  const listen = `127.0.0.1:${await freePort()}`;
  const args = [...PRODUCTION_COMMANDS.api.nodeFlags, '--import', 'tsx', `${PRODUCTION_COMMANDS.api.entry}.ts`];
  const spawnApi = () => {
    const child = stack.spawnChild(
      `api-${index + 1}`,
      process.execPath,
      args,
      { ...baseEnv(), ...env, API_LISTEN: listen },
      {
        logFile: join(dir, `api-${index + 1}.log`),
      },
    );
    registry.add({ name: `api-${index + 1}`, pid: child.pid!, group: true, mark: 'workers/api.ts' });
    child.once('exit', (code, signal) => {
      registry.remove(child.pid!);
      if (options.stopping()) return;
      notes.push(`API ${index + 1} exited by itself (${signal ?? `code ${code}`}); started again (see api-${index + 1}.log)`);
      spawnApi();
    });
    return child;
  };
  const url = localUrl(listen);
  await checkApi(url, spawnApi());
  return url;
}

function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
}
