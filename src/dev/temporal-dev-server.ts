import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../temporal/search-attributes';

export interface TemporalDevServerOptions {
  binary: string;
  port: number;
  /** Web UI port; omitted means headless. */
  uiPort?: number;
  /** The codec server the Web UI asks to open sealed payloads (R14): `<API>/codec`. */
  uiCodecEndpoint?: string;
  /** SQLite file for a persistent server; omitted means in memory. */
  dbFile?: string;
  /**
   * `PRAGMA=VALUE`s for the SQLite file. WAL with synchronous=NORMAL runs several times faster than
   * the CLI's default journal under load (docs/BENCHMARKS.md), so `npm start` and the benchmark use it.
   */
  sqlitePragmas?: string[];
  logFile: string;
  namespace?: string;
  readyTimeoutMs?: number;
  /** Own process group: a terminal's Ctrl-C then reaches only the parent, which stops it in order. */
  detached?: boolean;
}

export interface TemporalDevServer {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` from an installed binary (the SDK's own download cannot
 * work without internet) with the project's search attributes registered and Updates enabled,
 * and waits until its frontend answers.
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    options.namespace ?? 'default',
    '--log-level',
    'warn',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value',
    'frontend.workerVersioningWorkflowAPIs=true',
    ...SEARCH_ATTRIBUTE_DEFINITIONS.flatMap((sa) => ['--search-attribute', `${sa.name}=${sa.type}`]),
    ...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    ...(options.uiPort && options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
    ...(options.dbFile ? ['--db-filename', options.dbFile, ...(options.sqlitePragmas ?? []).flatMap((p) => ['--sqlite-pragma', p])] : []),
  ];
  const log = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(options.binary, args, { stdio: ['ignore', log, log], detached: options.detached ?? false });
  closeSync(log);
  const address = `127.0.0.1:${options.port}`;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`temporal server start-dev ${exited}; see ${options.logFile}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        await connection.workflowService.describeNamespace({ namespace: options.namespace ?? 'default' });
      } finally {
        await connection.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Temporal dev server on ${address} did not become ready: ${(err as Error).message}; see ${options.logFile}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  return {
    address,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
}
