/**
 * The whole stack on its embedded defaults (run through `npm start`, i.e. scripts/up.sh):
 *   1. Temporal: the server at TEMPORAL_ADDRESS if one answers, else `temporal server start-dev`
 *      with a persistent SQLite file under .data/ and the Web UI on :8233;
 *   2. Postgres: the database of DATABASE_URL created if missing, migrated, demo accounts seeded;
 *   3. SMTP: SMTP_URL if set, else Mailpit if installed, else an in-process SMTP server that
 *      stores mail under .data/mail/;
 *   4. the worker process; 5. a demo order, and where to look at it.
 * Ctrl-C (or SIGTERM) stops everything it started, in reverse order. `--once` stops after the demo.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, redact, type Config } from '../src/config';
import { bookOrder } from '../src/client/book-order';
import { createDb, ensureDatabase } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrate';
import { demoHeldOrder, demoOrder, seedDemoData } from '../src/dev/demo-data';
import { getOrderStatus, reportShipment } from '../src/client/order-actions';
import { startMailCatcher } from '../src/dev/mail-catcher';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import type { OrderStatus } from '../src/domain/order-lifecycle';
import { ensureSearchAttributes } from '../src/temporal/register-search-attributes';

const ROOT = resolve(__dirname, '..');
const DATA = join(ROOT, '.data');
const once = process.argv.includes('--once');
const stops: Array<{ name: string; stop: () => Promise<void>; pid?: number }> = [];

// If this process dies without the orderly shutdown (an exception, a closed pipe), its children
// must not outlive it: the last thing it does is SIGTERM each one still registered.
process.on('exit', () => {
  for (const { pid } of stops) {
    if (pid) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
});

function step(message: string): void {
  process.stdout.write(`\x1b[1m==>\x1b[0m ${message}\n`);
}

async function temporalAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1_500 });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

async function startTemporal(config: Config): Promise<string> {
  if (await temporalAnswers(config.temporal.address)) {
    step(`Temporal: using the server already answering at ${config.temporal.address}`);
    return config.temporal.uiUrl;
  }
  const [host, port] = [config.temporal.address.replace(/:\d+$/, ''), Number(config.temporal.address.split(':').pop())];
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) {
    throw new Error(`TEMPORAL_ADDRESS: nothing answers at ${config.temporal.address}, and a dev server can only be started on this machine`);
  }
  const uiPort = Number(new URL(config.temporal.uiUrl).port || 8233);
  step(`Temporal: starting the dev server on :${port} (Web UI :${uiPort}, data .data/temporal.db, log .data/temporal.log)`);
  const server = await startTemporalDevServer({
    binary: process.env.TEMPORAL_CLI ?? 'temporal',
    port,
    uiPort,
    dbFile: join(DATA, 'temporal.db'),
    logFile: join(DATA, 'temporal.log'),
    namespace: config.temporal.namespace,
    detached: true,
  });
  stops.push({ name: 'Temporal dev server', stop: server.stop, pid: server.pid });
  return config.temporal.uiUrl;
}

async function startSmtp(config: Config): Promise<{ smtpUrl: string; inbox: string }> {
  if (process.env.SMTP_URL?.trim()) {
    step(`SMTP: using SMTP_URL ${redact(config.smtpUrl)}`);
    return { smtpUrl: config.smtpUrl, inbox: `the inbox behind ${redact(config.smtpUrl)}` };
  }
  const smtpPort = Number(new URL(config.smtpUrl).port || 1025);
  const mailpit = spawnSync('sh', ['-c', 'command -v mailpit'], { encoding: 'utf8' }).stdout.trim();
  if (mailpit) {
    step(`SMTP: starting Mailpit (${mailpit}) on :${smtpPort}, web inbox on :8025`);
    const child = spawnChild('mailpit', mailpit, [
      '--smtp', `127.0.0.1:${smtpPort}`,
      '--listen', '127.0.0.1:8025',
      '--database', join(DATA, 'mailpit.db'),
    ]);
    await new Promise((r) => setTimeout(r, 1_000));
    if (child.exitCode !== null) throw new Error('Mailpit exited at start; see its output above');
    return { smtpUrl: `smtp://127.0.0.1:${smtpPort}`, inbox: 'http://localhost:8025' };
  }
  const dir = join(DATA, 'mail');
  step(`SMTP: no SMTP_URL and no Mailpit; starting the in-process SMTP server on :${smtpPort}, storing mail in .data/mail/`);
  const catcher = await startMailCatcher({ dir, port: smtpPort });
  stops.push({ name: 'SMTP server', stop: catcher.stop });
  return { smtpUrl: `smtp://127.0.0.1:${catcher.port}`, inbox: `${dir}/ (one .eml and one .json per message)` };
}

/** A child in its own process group, so Ctrl-C reaches only us and we stop children in order. */
function spawnChild(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(command, args, { cwd: ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const prefix = (chunk: Buffer) =>
    chunk.toString().split('\n').filter(Boolean).map((line) => `[${name}] ${line}\n`).join('');
  child.stdout!.on('data', (chunk: Buffer) => process.stdout.write(prefix(chunk)));
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(prefix(chunk)));
  stops.push({
    name,
    pid: child.pid,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }),
  });
  return child;
}

async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function stopAll(): Promise<void> {
  for (const { name, stop } of stops.splice(0).reverse()) {
    process.stdout.write(`    stopping ${name}\n`);
    await stop().catch((err) => process.stderr.write(`    ${name}: ${(err as Error).message}\n`));
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  mkdirSync(DATA, { recursive: true });
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    step('Stopping');
    await stopAll();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0));

  try {
    const uiUrl = await startTemporal(config);
    const connection = await Connection.connect({ address: config.temporal.address });
    stops.push({ name: 'Temporal client', stop: () => connection.close() });
    const added = await ensureSearchAttributes(connection, config.temporal.namespace);
    if (added.length) step(`Temporal: registered search attributes ${added.join(', ')}`);

    step(`Postgres: ${redact(config.databaseUrl)}`);
    const { created } = await ensureDatabase(config.databaseUrl);
    const db = createDb(config.databaseUrl, 2);
    stops.push({ name: 'Postgres pool', stop: () => db.destroy() });
    const applied = await migrateLatest(db);
    await seedDemoData(db);
    step(`Postgres: ${created ? 'database created, ' : ''}${applied.length ? `migrated (${applied.join(', ')})` : 'schema up to date'}, demo accounts seeded`);

    const { smtpUrl, inbox } = await startSmtp(config);

    step(`Worker: starting (task queue "${config.temporal.taskQueue}")`);
    const worker = spawnChild('worker', process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      ...process.env,
      SMTP_URL: smtpUrl,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
    });
    worker.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`worker exited unexpectedly (${signal ?? code})\n`);
        void shutdown(1);
      }
    });

    const client = new Client({ connection, namespace: config.temporal.namespace });
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    const today = new Date().toISOString().slice(0, 10);
    const direct = demoOrder(`DEMO-${stamp}`);
    step(`Demo: booking order ${direct.externalReference} (2 lines into Smart Account acme.com, virtual account Finance) and shipping it`);
    const booked = await bookOrder(client, config.temporal.taskQueue, direct);
    for (const line of direct.lines) await reportShipment(client, booked.orderId, { lineNumber: line.lineNumber, shippedOn: today });
    const result: OrderStatus = await Promise.race([
      client.workflow.getHandle(booked.workflowId).result(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the demo order did not finish within 120 s')), 120_000)),
    ]);
    const held = demoHeldOrder(`DEMO-HELD-${stamp}`);
    step(`Demo: booking order ${held.externalReference} into the partner's holding account (customer unknown)`);
    const heldBooked = await bookOrder(client, config.temporal.taskQueue, held);
    const heldStatus = await waitUntil(() => getOrderStatus(client, heldBooked.orderId), (s) => s.phase !== 'Booked');
    const ui = `${uiUrl}/namespaces/${config.temporal.namespace}/workflows`;
    const describe = (s: OrderStatus) =>
      s.lines
        .map((l) => `line ${l.lineNumber} ${l.state}${l.accountId ? ` in ${l.accountId}${l.virtualAccountPath ? `/${l.virtualAccountPath}` : ''}` : ''}`)
        .join(', ');
    process.stdout.write(
      [
        '',
        `Order ${direct.externalReference} (ID ${booked.orderId}) is ${result.phase}: ${describe(result)}`,
        `  Temporal UI   ${ui}/${booked.workflowId}`,
        `Order ${held.externalReference} (ID ${heldBooked.orderId}) is ${heldStatus.phase}, waiting for ${heldStatus.waitingFor}: ${describe(heldStatus)}`,
        `  Temporal UI   ${ui}/${heldBooked.workflowId}`,
        '',
        `  All orders    ${ui}?query=${encodeURIComponent('WorkflowType="orderFulfillment"')}`,
        `  Held orders   ${ui}?query=${encodeURIComponent('OrderStatus="AwaitingSmartAccount"')}`,
        `  Emails        ${inbox}`,
        `  Database      psql ${redact(config.databaseUrl)} -c "select id, external_reference, status, waiting_for from orders"`,
        '',
        once ? 'Done (--once).' : 'The stack is running. Press Ctrl-C to stop everything.',
        '',
      ].join('\n'),
    );
    if (once) await shutdown(0);
  } catch (err) {
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
    await shutdown(1);
  }
}

void main();
