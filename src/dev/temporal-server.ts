/**
 * The real Temporal server (and its UI server) for the production shape: Temporal's databases
 * set up with its SQL tool, the server started from deploy/temporal/config/production.yaml, the
 * namespace registered. The binaries come from scripts/ensure-production-binaries.sh.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import type { TemporalConnectionSettings } from '../config';
import { connectTemporal } from '../temporal/connect';
import { PRODUCTION_FILES } from './production-shape';
import type { StackProcesses } from './stack-processes';

/** The last lines of a log file, to put in an error message. */
export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Runs deploy/temporal/setup-schema.sh (create, setup, update both databases); its chatty output goes to `logFile`. */
export async function setupTemporalDatabases(options: {
  root: string;
  sqlTool: string;
  schemaDir: string;
  env: Record<string, string>;
  logFile: string;
}): Promise<void> {
  const log = openSync(options.logFile, 'a');
  const child = spawn('sh', [join(options.root, PRODUCTION_FILES.setupSchema)], {
    env: { ...process.env, ...options.env, SQL_TOOL: options.sqlTool, SCHEMA_DIR: options.schemaDir },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`${PRODUCTION_FILES.setupSchema} exited with ${code}:\n${logTail(options.logFile)}`);
}

/** Polls until the frontend answers (with TLS and credentials as configured), failing early when `exited()` says the process died. */
export async function waitForFrontend(
  temporal: TemporalConnectionSettings,
  exited: () => boolean,
  logFile: string,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited()) throw new Error(`temporal-server exited at start:\n${logTail(logFile)}`);
    try {
      const connection = await connectTemporal(temporal, { connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`temporal-server on ${temporal.address} did not answer: ${(err as Error).message}\n${logTail(logFile)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Starts temporal-server as a supervised child of `stack` and waits for its frontend. */
export async function startTemporalServer(options: {
  stack: StackProcesses;
  binary: string;
  root: string;
  env: Record<string, string>;
  temporal: TemporalConnectionSettings;
  logFile: string;
}): Promise<ChildProcess> {
  const args = ['--root', join(options.root, 'deploy/temporal'), '--config', 'config', '--env', 'production', '--allow-no-auth', 'start'];
  const child = options.stack.spawnChild(
    'temporal-server',
    options.binary,
    args,
    { ...process.env, ...options.env },
    { logFile: options.logFile },
  );
  await waitForFrontend(options.temporal, () => child.exitCode !== null || child.signalCode !== null, options.logFile);
  return child;
}

/** Registers `namespace` unless it exists; true when it was registered now. */
export async function ensureNamespace(connection: Connection, namespace: string, retentionHours: number): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (err) {
    if ((err as { code?: number }).code !== 5 /* NOT_FOUND */) throw err;
  }
  await connection.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs(`${retentionHours}h`),
  });
  return true;
}

/**
 * Runs `action` until the server's namespace registry knows `namespace`: a namespace registered
 * a moment ago is in Postgres at once but reaches the services' caches on their next refresh
 * (up to about 10 s), and until then they answer NOT_FOUND.
 */
export async function whenNamespaceKnown<T>(action: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (err) {
      if ((err as { code?: number }).code !== 5 /* NOT_FOUND */ || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The UI server, reading deploy/temporal-ui/production.yaml with `env`. */
export function startTemporalUi(options: {
  stack: StackProcesses;
  binary: string;
  root: string;
  env: Record<string, string>;
  logFile: string;
}): ChildProcess {
  const args = ['--root', join(options.root, 'deploy'), '--config', 'temporal-ui', '--env', 'production', 'start'];
  return options.stack.spawnChild('temporal-ui', options.binary, args, { ...process.env, ...options.env }, { logFile: options.logFile });
}
