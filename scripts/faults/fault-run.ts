/**
 * One fault run (scripts/faults/run.ts runs one per fault): its own database, Temporal dev server,
 * SMTP catcher and supervised worker; the orders driven while the fault hits half-way through
 * booking; then the wait for the stack to go quiet, and the verdict of what Postgres, Temporal
 * and the received mail say.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import knex from 'knex';
import { loadConfig, type Config } from '../../src/config';
// Also installs the DATE parser the product's connections use (calendar dates stay strings).
import '../../src/db/knex';
import type { Db } from '../../src/db/knex';
import type { EmailOutboxRow } from '../../src/db/rows';
import { recreateMigratedDatabase } from '../../src/db/migrate';
import { dataConverterFor } from '../../src/temporal/connect';
import { generateSigningKey } from '../../src/licensing/signing';
import { generateEncryptionKey } from '../../src/temporal/payload-codec';
import { faultScope, type Later } from './cleanup';
import { licenseUsePartFor } from './license-parts';
import { pauseLicenseClock, type LicenseUsePart } from './license-use';
import { Observer } from './observer';
import { directCalls, type OrderCalls } from './order-calls';
import type { FaultKind, FaultRunOptions } from './options';
import { faultOffsetMs, planOrders, seededRandom } from './plan';
import type { FaultResult } from './report';
import { prepareDrive, runDrive, type Drive, type DriveContext } from './scenarios';
import {
  sleep,
  startPrivateMail,
  startPrivateTemporal,
  type PrivateMail,
  type PrivatePostgres,
  type PrivateTemporal,
  type ProcessRegistry,
} from './services';
import { SupervisedWorker } from './supervised-worker';
import { verdictOf } from './verdict';

const ROOT = resolve(__dirname, '../..');
export const BASE = join(ROOT, '.data', 'faults');
export const TASK_QUEUE = 'fault-orders';
const LICENSE_CLOCK_INTERVAL = '2s';
export const TAGS: Record<FaultKind, string> = {
  'worker-kill': 'wk',
  'postgres-stop': 'pg',
  'smtp-stop': 'sm',
  'temporal-restart': 'tr',
  'one-worker-kill': 'ow',
};

const say = (line: string) => process.stdout.write(`${line}\n`);

export interface Shared {
  pg: PrivatePostgres;
  binary: string;
  registry: ProcessRegistry;
}

/** The services of one fault run, and the runner's own connections to them. */
interface FaultServices {
  temporal: PrivateTemporal;
  mail: PrivateMail;
  env: Record<string, string>;
  config: Config;
  db: Db;
  connection: Connection;
  client: Client;
}

export async function runFault(fault: FaultKind, options: FaultRunOptions, shared: Shared): Promise<FaultResult> {
  const dir = join(BASE, fault);
  const { notes, later, end } = faultScope(dir);

  try {
    const services = await startFaultServices(fault, dir, options, shared, later);
    const { db, client } = services;
    const worker = new SupervisedWorker({
      ...workerBasics(services, shared.registry, notes),
      name: 'the worker',
      logFile: join(dir, 'worker.log'),
    });
    later('worker', () => worker.stopForGood());
    const firstWorkerAt = Date.now();
    await (
      await worker.start()
    ).ready;
    say(`  worker polling after ${((Date.now() - firstWorkerAt) / 1000).toFixed(1)} s (pid ${worker.current!.pid})`);
    const licenseUse = licenseUsePartFor({ fault, db, client, config: services.config, taskQueue: TASK_QUEUE, dir, later }, options.smoke);
    const preparedFrom = Date.now();
    await licenseUse.prepare();
    say(`  license use prepared in ${((Date.now() - preparedFrom) / 1000).toFixed(1)} s`);

    let markCleared: (at: number) => void = () => undefined;
    const cleared = new Promise<number>((resolve) => (markCleared = resolve));
    const { drives, observer, deadline, loads, runStartedAt, driving } = await startDriving(
      fault,
      options,
      { ...services, mailDir: services.mail.dir, calls: directCalls(client, TASK_QUEUE) },
      [worker],
      later,
    );
    const faultAt = runStartedAt + faultOffsetMs(options.rampSeconds * 1000);
    const licenseDriving = licenseUse.drive({ runStartedAt, faultAt, cleared });

    // ---- the fault, half-way through booking
    await sleep(Math.max(0, faultAt - Date.now()));
    const { injectedAt, clearedAt } = await injectFault(fault, { services, shared, worker, options, notes, runStartedAt, licenseUse });
    markCleared(clearedAt);

    await Promise.all([driving, licenseDriving]);
    // The clock's Schedule stops ticking: the verdict reads a stack that has stopped moving.
    await pauseLicenseClock(client);
    await waitUntilQuiet(services, deadline, runStartedAt, notes);
    // The catcher stores a message before it answers 250: a short pause, then the last read.
    await sleep(1_000);
    observer.readNewMail();
    observer.stop();

    return await verdictOf({
      fault,
      db,
      client,
      drives,
      observer,
      notes,
      loads,
      licenseUse,
      times: { runStartedAt, injectedAt, clearedAt },
    });
  } finally {
    // This fault's services stop here (newest first); the shared Postgres stays for the next one.
    await end();
  }
}

/** What the drivers need: where the mail lands, the runner's config and connections, how calls are made. */
export interface DrivingServices {
  mailDir: string;
  config: Config;
  db: Db;
  client: Client;
  calls: OrderCalls;
}

/** What every supervised worker of a fault run shares: the repository, the settings, the task queue. */
export function workerBasics(
  services: { env: Record<string, string>; connection: Connection },
  registry: ProcessRegistry,
  notes: string[],
) {
  return { root: ROOT, env: services.env, connection: services.connection, namespace: 'default', taskQueue: TASK_QUEUE, registry, notes };
}

/** The orders planned and prepared, the observer watching, every driver started (not awaited). */
export async function startDriving(
  fault: FaultKind,
  options: FaultRunOptions,
  services: DrivingServices,
  workers: SupervisedWorker[],
  later: Later,
) {
  const { mailDir, config, db, client, calls } = services;
  const plan = planOrders(options.orders, options.rampSeconds * 1000, TAGS[fault]);
  const drives: Drive[] = [];
  for (let i = 0; i < plan.length; i += 8) drives.push(...(await Promise.all(plan.slice(i, i + 8).map((p) => prepareDrive(db, p)))));

  const observer = new Observer(db, mailDir);
  observer.start();
  later('observer', async () => observer.stop());
  const deadline = Date.now() + options.deadlineSeconds * 1000;
  const ctx: DriveContext = {
    client,
    calls,
    db,
    config,
    taskQueue: TASK_QUEUE,
    observer,
    deadline,
    random: seededRandom(options.seed + plan.length + TAGS[fault].charCodeAt(0)),
    humanDelayMs: Math.round(config.reminderIntervalMs * 1.5),
  };
  const runStartedAt = Date.now() + 500;
  for (const worker of workers) worker.runStartedAt = runStartedAt;
  // Other test runs share the machine: the load during the run belongs next to its times.
  const loads: number[] = [];
  const progress = setInterval(() => {
    loads.push(loadavg()[0]);
    say(`  ${progressLine(observer, drives, runStartedAt)}`);
  }, 10_000);
  later('progress', async () => clearInterval(progress));
  const driving = Promise.all(drives.map((d) => runDrive(ctx, d, runStartedAt)));
  return { drives, observer, deadline, loads, runStartedAt, driving };
}

/** A fresh database and a fresh Temporal file per fault (each run's figures are its own), SMTP, connections. */
async function startFaultServices(
  fault: FaultKind,
  dir: string,
  options: FaultRunOptions,
  shared: Shared,
  later: Later,
): Promise<FaultServices> {
  const databaseUrl = shared.pg.urlFor(`faults_${fault.replace(/-/g, '_')}`);
  await recreateMigratedDatabase(databaseUrl);

  const temporal = await startPrivateTemporal({
    binary: shared.binary,
    dbFile: join(dir, 'temporal.db'),
    logFile: join(dir, 'temporal.log'),
    registry: shared.registry,
  });
  later('temporal', () => temporal.stop());
  const mail = await startPrivateMail(join(dir, 'mail'));
  later('smtp', () => mail.stop());
  say(
    `  Temporal ${temporal.address} (${join(dir, 'temporal.db')}), SMTP 127.0.0.1:${mail.port}, database ${databaseUrl.replace(/^.*\//, '')}`,
  );

  const env = faultAppEnv({ databaseUrl, temporalAddress: temporal.address, smtpPort: mail.port, options });
  return { temporal, mail, env, ...(await runnerConnections(env, later)) };
}

/** The settings every worker (and API) of a fault run gets: fresh keys, short reminders, a fast license clock. */
export function faultAppEnv(run: {
  databaseUrl: string;
  temporalAddress: string;
  smtpPort: number;
  options: FaultRunOptions;
}): Record<string, string> {
  return {
    DATABASE_URL: run.databaseUrl,
    DATABASE_POOL_MAX: '10',
    TEMPORAL_ADDRESS: run.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    SMTP_URL: `smtp://127.0.0.1:${run.smtpPort}`,
    REMINDER_INTERVAL: run.options.reminderInterval,
    ESCALATION_AFTER: run.options.escalationAfter,
    PAYLOAD_ENCRYPTION_KEYS: generateEncryptionKey('faults'),
    LICENSE_SIGNING_KEYS: generateSigningKey('faults-1'),
    // License use in seconds: the clock sweeps (alerts, due true-ups) every few seconds.
    LICENSE_CLOCK_INTERVAL: LICENSE_CLOCK_INTERVAL,
    LOG_LEVEL: 'WARN',
  };
}

/** The runner's own view of the settings (the public base URL of links, the reminder interval) and its connections. */
export async function runnerConnections(env: Record<string, string>, later: Later) {
  const config = loadConfig(env);
  const db = quietDb(env.DATABASE_URL);
  later('database connections', () => db.destroy());
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  later('Temporal connection', () => connection.close());
  const client = new Client({ connection, namespace: 'default', dataConverter: dataConverterFor(config) });
  return { config, db, connection, client };
}

/** The fault itself: what stops, for how long, and when it was cleared. */
async function injectFault(
  fault: FaultKind,
  run: {
    services: FaultServices;
    shared: Shared;
    worker: SupervisedWorker;
    options: FaultRunOptions;
    notes: string[];
    runStartedAt: number;
    licenseUse: LicenseUsePart;
  },
): Promise<{ injectedAt: number; clearedAt: number }> {
  const { services, shared, worker, options, notes, runStartedAt, licenseUse } = run;
  const { temporal, mail } = services;
  await licenseUse.beforeFault();
  const injectedAt = Date.now();
  let clearedAt: number;
  switch (fault) {
    case 'worker-kill': {
      const killed = await worker.kill();
      clearedAt = Date.now();
      const next = await worker.start();
      say(`  SIGKILLed worker ${killed}; new worker ${next.pid} started`);
      void next.ready.then(
        () =>
          notes.push(
            `the new worker polled ${((Date.now() - clearedAt) / 1000).toFixed(1)} s after it was started (it bundles the workflow code first)`,
          ),
        (err: Error) => notes.push(`the new worker did not poll: ${err.message}`),
      );
      break;
    }
    case 'postgres-stop':
      await shared.pg.stop();
      say(`  Postgres stopped (pg_ctl stop -m fast) at +${Math.round((injectedAt - runStartedAt) / 1000)} s`);
      await licenseUse.duringFault();
      await sleep(Math.max(0, injectedAt + options.outageSeconds * 1000 - Date.now()));
      await shared.pg.start();
      clearedAt = Date.now();
      say(`  Postgres started again after ${((clearedAt - injectedAt) / 1000).toFixed(1)} s`);
      break;
    case 'smtp-stop':
      await mail.stop();
      say(`  SMTP stopped at +${Math.round((injectedAt - runStartedAt) / 1000)} s`);
      await licenseUse.duringFault();
      await sleep(Math.max(0, injectedAt + options.outageSeconds * 1000 - Date.now()));
      await mail.start();
      clearedAt = Date.now();
      say(`  SMTP started again on port ${mail.port} after ${((clearedAt - injectedAt) / 1000).toFixed(1)} s`);
      break;
    case 'temporal-restart':
      await temporal.stop();
      say(`  Temporal dev server stopped at +${Math.round((injectedAt - runStartedAt) / 1000)} s`);
      await temporal.start();
      clearedAt = Date.now();
      say(`  Temporal dev server ready again after ${((clearedAt - injectedAt) / 1000).toFixed(1)} s (same SQLite file)`);
      break;
    default:
      throw new Error(`${fault} is a fault of the production shape (--production)`);
  }
  return { injectedAt, clearedAt };
}

/** After the drivers: the last workflows closing, the outbox settling (the last emails go after the rows say so). */
export async function waitUntilQuiet(
  services: { client: Client; db: Db },
  deadline: number,
  runStartedAt: number,
  notes: string[],
): Promise<void> {
  const { client, db } = services;
  const drivenAt = Date.now();
  say(`  every driver done at +${Math.round((drivenAt - runStartedAt) / 1000)} s; waiting for the last workflows to close`);
  // The last emails (order fulfilled) and the activation workflows end after the orders' rows say so.
  let running = -1;
  for (const quietBy = Math.min(deadline, drivenAt + 120_000); Date.now() < quietBy; await sleep(1_000)) {
    running = await client.workflow
      .count('ExecutionStatus = "Running"')
      .then((c) => c.count)
      .catch(() => -1);
    if (running === 0) break;
  }
  if (running !== 0) notes.push(`${running} workflows still running at the end`);
  // Nothing runs any more, so nothing will send a row still pending; a few seconds for an activity's last commit.
  for (const settledBy = Date.now() + 10_000; Date.now() < settledBy; await sleep(500)) {
    const pending = await db<EmailOutboxRow>('email_outbox')
      .where({ status: 'pending' })
      .count({ n: '*' })
      .then(([r]) => Number(r.n))
      .catch(() => -1);
    if (pending === 0) break;
  }
}

/**
 * The runner's own connections. Knex prints every failed connection attempt with its stack; during a
 * Postgres outage that buries the run's output, and the runner expects and retries them anyway.
 */
export function quietDb(databaseUrl: string): Db {
  const silent = () => undefined;
  return knex({
    client: 'pg',
    connection: databaseUrl,
    pool: { min: 0, max: 10 },
    log: { warn: silent, error: silent, deprecate: silent, debug: silent },
  });
}

export function progressLine(observer: Observer, drives: Drive[], runStartedAt: number): string {
  const byStatus = new Map<string, number>();
  for (const d of drives) {
    const status = d.orderId ? (observer.orderRow(d.orderId)?.status ?? 'booking') : 'not booked yet';
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
  const db = observer.lastDbError ? `; Postgres: ${observer.lastDbError.slice(0, 60)}` : '';
  return `+${Math.round((Date.now() - runStartedAt) / 1000)} s: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}; ${observer.mail.length} emails${db}`;
}
