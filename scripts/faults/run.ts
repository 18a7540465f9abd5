/**
 * Fault injection (`npm run test:faults`; CI runs `npm run test:faults -- --smoke`).
 *
 * For each fault, a separate run on services of its own (nothing else on the machine is
 * touched: other test runs share it): a private Postgres cluster in .data/faults/pg, a Temporal
 * dev server with its own SQLite file, the SMTP catcher, and the real worker process
 * (`node --import tsx workers/main.ts`). Orders of every scenario kind are booked and driven;
 * half-way through booking the fault hits (worker SIGKILLed and restarted, Postgres stopped for
 * the outage, SMTP stopped for the outage, Temporal dev server restarted); then every order is
 * driven to its end state and the run asserts what Postgres, Temporal and the received mail
 * say. It prints a table; a full run writes it into docs/RELIABILITY.md, a smoke run into
 * .data/faults/ only. Exit code 0 only when every fault run passed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../src/config';
import knex from 'knex';
// Also installs the DATE parser the product's connections use (calendar dates stay strings).
import '../../src/db/knex';
import type { Db } from '../../src/db/knex';
import { recreateMigratedDatabase } from '../../src/db/migrate';
import { dataConverterFor } from '../../src/temporal/connect';
import { generateEncryptionKey } from '../../src/temporal/payload-codec';
import { paceRecoveryOf, recoveryOf, type StepRecord } from './accounting';
import { Observer } from './observer';
import { FAULT_DESCRIPTIONS, USAGE, UsageError, commandLineOf, parseFaultArgs, type FaultKind, type FaultRunOptions } from './options';
import { faultOffsetMs, kindCounts, planOrders, seededRandom } from './plan';
import { formatSection, formatTable, passed, replaceSection, type FaultResult } from './report';
import { prepareDrive, runDrive, type Drive, type DriveContext } from './scenarios';
import {
  ProcessRegistry,
  findPostgresBin,
  freePort,
  sleep,
  spawnWorker,
  startPrivateMail,
  startPrivatePostgres,
  startPrivateTemporal,
  type PrivatePostgres,
  type WorkerProcess,
} from './services';
import { summarize, verifyRun } from './verify';
import type { EmailOutboxRow } from '../../src/db/rows';

const ROOT = resolve(__dirname, '../..');
const BASE = join(ROOT, '.data', 'faults');
const TASK_QUEUE = 'fault-orders';
const TAGS: Record<FaultKind, string> = { 'worker-kill': 'wk', 'postgres-stop': 'pg', 'smtp-stop': 'sm', 'temporal-restart': 'tr' };

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Cleanups of what is running now, newest first; run on success, failure and Ctrl-C alike. */
const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];
/** Set by Ctrl-C or SIGTERM: the run then fails as its services go away; only this cleanup may end the process. */
let stopping: Promise<void> | undefined;
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    const { name, run } = cleanups.pop()!;
    await run().catch((err) => process.stderr.write(`cleanup of ${name} failed: ${(err as Error).message}\n`));
  }
}

async function main(argv: string[]): Promise<number> {
  let options: FaultRunOptions | 'help';
  try {
    options = parseFaultArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    say(USAGE);
    return 0;
  }
  const startedAt = Date.now();
  mkdirSync(BASE, { recursive: true });
  const registryFile = join(BASE, 'processes.json');
  for (const leftover of ProcessRegistry.reapLeftovers(registryFile)) say(`stopped a leftover of an earlier run: ${leftover}`);
  const registry = new ProcessRegistry(registryFile);
  // Whatever happens to this process, its children do not outlive it.
  process.on('exit', () => registry.killAllNow());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`\n${signal}: stopping everything this run started`);
      ignoreStragglers();
      stopping = cleanUp().finally(() => process.exit(130));
    });
  }

  const binary = execFileSync('bash', [join(ROOT, 'scripts/ensure-temporal-cli.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const plan = planOrders(options.orders, options.rampSeconds * 1000, 'x');
  say(
    `Fault runs: ${options.faults.join(', ')}; ${options.orders} orders each (${Object.entries(kindCounts(plan))
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}), booked over ${options.rampSeconds} s, the fault at ${options.rampSeconds / 2} s; outage ${options.outageSeconds} s; ` +
      `REMINDER_INTERVAL=${options.reminderInterval} ESCALATION_AFTER=${options.escalationAfter}; seed ${options.seed}`,
  );

  const results: FaultResult[] = [];
  try {
    const pg = await startPrivatePostgres(join(BASE, 'pg'), registry);
    cleanups.push({ name: 'postgres', run: () => pg.destroy() });
    say(`Private Postgres: 127.0.0.1:${pg.port} (${pg.dataDir})`);
    for (const fault of options.faults) {
      say(`\n=== ${fault}: ${FAULT_DESCRIPTIONS[fault]}`);
      results.push(await runFault(fault, options, { pg, binary, registry }));
      const r = results[results.length - 1];
      say(`=== ${fault}: ${passed(r) ? 'pass' : 'FAIL'}`);
    }
  } finally {
    await cleanUp();
  }

  const table = formatTable(results);
  const durationSeconds = (Date.now() - startedAt) / 1000;
  say(`\n${table}\n\nAll fault runs took ${Math.round(durationSeconds)} s.`);
  for (const r of results) for (const note of r.notes) say(`  ${r.fault}: ${note}`);

  const section = formatSection({
    command: commandLineOf(argv),
    finishedAt: new Date(),
    durationSeconds,
    machine: `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}, Temporal CLI ${basename(resolve(binary, '..'))} dev server (SQLite file), PostgreSQL ${basename(resolve(findPostgresBin(), '..'))}`,
    settings:
      `${options.orders} orders per fault run, booked over ${options.rampSeconds} s with the fault at ${options.rampSeconds / 2} s, ` +
      `outage ${options.outageSeconds} s, REMINDER_INTERVAL=${options.reminderInterval}, ESCALATION_AFTER=${options.escalationAfter}, seed ${options.seed}`,
    results,
  });
  const name = options.smoke ? 'latest-smoke' : 'latest-run';
  writeFileSync(join(BASE, `${name}.md`), `${section}\n`);
  writeFileSync(join(BASE, `${name}.json`), JSON.stringify({ command: commandLineOf(argv), options, durationSeconds, results }, null, 2));
  say(`Written: ${join(BASE, `${name}.md`)}`);
  if (options.writeDocs) {
    const docPath = join(ROOT, 'docs', 'RELIABILITY.md');
    const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Reliability\n';
    writeFileSync(docPath, replaceSection(doc, section));
    say(`Written: ${docPath}`);
  }
  return results.every(passed) ? 0 : 1;
}

interface Shared {
  pg: PrivatePostgres;
  binary: string;
  registry: ProcessRegistry;
}

async function runFault(fault: FaultKind, options: FaultRunOptions, shared: Shared): Promise<FaultResult> {
  const dir = join(BASE, fault);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const notes: string[] = [];
  const local: typeof cleanups = [];
  const later = (name: string, run: () => Promise<void>) => {
    const entry = { name, run };
    local.push(entry);
    cleanups.push(entry);
  };

  try {
    // A fresh database and a fresh Temporal file per fault: each run's figures are its own.
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

    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_MAX: '10',
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      SMTP_URL: `smtp://127.0.0.1:${mail.port}`,
      REMINDER_INTERVAL: options.reminderInterval,
      ESCALATION_AFTER: options.escalationAfter,
      PAYLOAD_ENCRYPTION_KEYS: generateEncryptionKey('faults'),
      LOG_LEVEL: 'WARN',
    };
    // The runner's own view of the same settings (the public base URL of links, the reminder interval).
    const config = loadConfig(env);
    const db = quietDb(databaseUrl);
    later('database connections', () => db.destroy());
    const connection = await Connection.connect({ address: temporal.address });
    later('Temporal connection', () => connection.close());
    const client = new Client({ connection, namespace: 'default', dataConverter: dataConverterFor(config) });

    // Set when the orders start; the worker supervisor reports times relative to it.
    let runStartedAt = Date.now();
    // The worker, supervised: one that exits by itself is noted and started again, as a process manager would.
    let worker: WorkerProcess;
    let expectingExit = false;
    const startWorker = async (): Promise<WorkerProcess> => {
      const w = spawnWorker({
        root: ROOT,
        env: { ...env, WORKER_METRICS_LISTEN: `127.0.0.1:${await freePort()}` },
        logFile: join(dir, 'worker.log'),
        connection,
        namespace: 'default',
        taskQueue: TASK_QUEUE,
        registry: shared.registry,
      });
      void w.exited.then(({ code, signal }) => {
        if (expectingExit || worker !== w) return;
        notes.push(
          `the worker exited by itself (${signal ?? `code ${code}`}) at +${Math.round((Date.now() - runStartedAt) / 1000)} s; restarted (see worker.log)`,
        );
        startWorker().catch((err: Error) => notes.push(`the worker could not be restarted: ${err.message}`));
      });
      worker = w;
      return w;
    };
    later('worker', async () => {
      expectingExit = true;
      await worker?.stop();
    });
    const firstWorkerAt = Date.now();
    await (
      await startWorker()
    ).ready;
    say(`  worker polling after ${((Date.now() - firstWorkerAt) / 1000).toFixed(1)} s (pid ${worker!.pid})`);

    const plan = planOrders(options.orders, options.rampSeconds * 1000, TAGS[fault]);
    const drives: Drive[] = [];
    for (let i = 0; i < plan.length; i += 8) drives.push(...(await Promise.all(plan.slice(i, i + 8).map((p) => prepareDrive(db, p)))));

    const observer = new Observer(db, mail.dir);
    observer.start();
    later('observer', async () => observer.stop());
    const deadline = Date.now() + options.deadlineSeconds * 1000;
    const ctx: DriveContext = {
      client,
      db,
      config,
      taskQueue: TASK_QUEUE,
      observer,
      deadline,
      random: seededRandom(options.seed + plan.length + TAGS[fault].charCodeAt(0)),
      humanDelayMs: Math.round(config.reminderIntervalMs * 1.5),
    };
    runStartedAt = Date.now() + 500;
    // Other test runs share the machine: the load during the run belongs next to its times.
    const loads: number[] = [];
    const progress = setInterval(() => {
      loads.push(loadavg()[0]);
      say(`  ${progressLine(observer, drives, runStartedAt)}`);
    }, 10_000);
    later('progress', async () => clearInterval(progress));
    const driving = Promise.all(drives.map((d) => runDrive(ctx, d, runStartedAt)));

    // ---- the fault, half-way through booking
    await sleep(Math.max(0, runStartedAt + faultOffsetMs(options.rampSeconds * 1000) - Date.now()));
    const injectedAt = Date.now();
    let clearedAt: number;
    switch (fault) {
      case 'worker-kill': {
        expectingExit = true;
        const killed = worker!.pid;
        await worker!.kill();
        expectingExit = false;
        clearedAt = Date.now();
        const next = await startWorker();
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
        await sleep(Math.max(0, injectedAt + options.outageSeconds * 1000 - Date.now()));
        await shared.pg.start();
        clearedAt = Date.now();
        say(`  Postgres started again after ${((clearedAt - injectedAt) / 1000).toFixed(1)} s`);
        break;
      case 'smtp-stop':
        await mail.stop();
        say(`  SMTP stopped at +${Math.round((injectedAt - runStartedAt) / 1000)} s`);
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
    }

    await driving;
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
    // The catcher stores a message before it answers 250: a short pause, then the last read.
    await sleep(1_000);
    observer.readNewMail();
    observer.stop();

    const verification = await verifyRun({ db, client, drives, mail: observer.mail });
    const figures = summarize(verification);
    // Emails are steps too: one queued before the fault was cleared and sent after it started was
    // held up by it (the last mails of an order go out after its status already says Fulfilled).
    const emailSteps: StepRecord[] = (
      await db<EmailOutboxRow>('email_outbox').whereNotNull('sent_at').select('id', 'template', 'created_at', 'sent_at')
    ).map((r) => ({
      order: -1,
      label: `email ${r.template}`,
      kind: 'outcome',
      startedAt: new Date(r.created_at).getTime(),
      endedAt: new Date(r.sent_at!).getTime(),
    }));
    const allSteps = [...observer.steps, ...emailSteps];
    const recovery = recoveryOf(allSteps, { injectedAt, clearedAt: clearedAt! });
    // The pace counts what the stack produced only: a booking or a signal is answered by the
    // Temporal server alone, and would keep up the pace while no worker runs.
    const paceRecovery = paceRecoveryOf(
      allSteps.filter((s) => s.kind === 'outcome' && s.endedAt !== undefined).map((s) => s.endedAt!),
      { runStartedAt, injectedAt, clearedAt: clearedAt! },
    );
    for (const o of verification.orders) {
      const issues = [
        ...(o.reached ? [] : [`ended ${o.finalPhase ?? 'unknown'}${o.drive.failure ? ` (${o.drive.failure})` : ''}`]),
        ...o.lostLicenses,
        ...o.duplicateDeposits,
        ...o.halfWritten,
        ...o.missingEmails,
      ];
      if (issues.length > 0 && notes.length < 25)
        notes.push(`order #${o.drive.plan.index} ${o.drive.plan.kind} ${o.drive.orderId ?? ''}: ${issues.join('; ')}`);
    }
    for (const r of verification.mail.redeliveries)
      notes.push(`SMTP re-delivery, same Message-ID: ${r.idempotencyKey} received ${r.copies} times`);
    for (const d of verification.mail.duplicates)
      notes.push(`duplicate email: ${d.idempotencyKey} received ${d.copies} times with Message-IDs ${d.messageIds.join(', ')}`);
    for (const u of verification.mail.unexpected.slice(0, 5))
      notes.push(`unexpected email: key ${u.idempotencyKey ?? '(none)'}, Message-ID ${u.messageId}`);
    for (const h of verification.halfWritten.slice(0, 10)) notes.push(`half-written: ${h}`);
    if (recovery.unfinished > 0) notes.push(`${recovery.unfinished} of the ${recovery.caught} steps caught by the fault never finished`);
    if (loads.length > 0) {
      notes.push(
        `machine load during the run (1-minute load average, ${cpus().length} cores): ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)}`,
      );
    }
    const lostAnswers = drives.flatMap((d) => d.lostAnswers.map((a) => ({ ...a, order: d.plan.index, kind: d.plan.kind })));
    if (lostAnswers.length > 0) {
      const byLabel = new Map<string, number>();
      for (const a of lostAnswers) byLabel.set(a.label, (byLabel.get(a.label) ?? 0) + 1);
      notes.push(
        `calls that failed although they had taken effect (the driver saw the change and did not repeat them): ${[...byLabel].map(([l, n]) => `${n} ${l}`).join(', ')}; ` +
          `e.g. order #${lostAnswers[0].order} ${lostAnswers[0].label}: ${lostAnswers[0].error.slice(0, 160)}`,
      );
    }
    const retried = drives.reduce((n, d) => n + d.retriedCalls, 0);
    say(
      `  ${figures.completed}/${drives.length} orders at their end state; ${observer.mail.length} emails received; ${retried} client calls retried; ` +
        `back at pace ${paceRecovery?.toFixed(1) ?? 'n/a'} s after the fault was cleared; ${recovery.caught} order steps and emails held up by it, the last done after ${recovery.seconds?.toFixed(1) ?? 'n/a'} s`,
    );
    return {
      fault,
      orders: drives.length,
      ...figures,
      recoverySeconds: paceRecovery,
      backlogSeconds: recovery.seconds,
      faultSeconds: (clearedAt! - injectedAt) / 1000,
      emailsReceived: observer.mail.length,
      notes,
    };
  } finally {
    // This fault's services stop here (newest first); the shared Postgres stays for the next one.
    while (local.length > 0) {
      const entry = local.pop()!;
      const at = cleanups.indexOf(entry);
      if (at >= 0) cleanups.splice(at, 1);
      await entry.run().catch((err) => process.stderr.write(`cleanup of ${entry.name} failed: ${(err as Error).message}\n`));
    }
  }
}

/**
 * The runner's own connections. Knex prints every failed connection attempt with its stack; during a
 * Postgres outage that buries the run's output, and the runner expects and retries them anyway.
 */
function quietDb(databaseUrl: string): Db {
  const silent = () => undefined;
  return knex({
    client: 'pg',
    connection: databaseUrl,
    pool: { min: 0, max: 10 },
    log: { warn: silent, error: silent, deprecate: silent, debug: silent },
  });
}

function progressLine(observer: Observer, drives: Drive[], runStartedAt: number): string {
  const byStatus = new Map<string, number>();
  for (const d of drives) {
    const status = d.orderId ? (observer.orderRow(d.orderId)?.status ?? 'booking') : 'not booked yet';
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
  const db = observer.lastDbError ? `; Postgres: ${observer.lastDbError.slice(0, 60)}` : '';
  return `+${Math.round((Date.now() - runStartedAt) / 1000)} s: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}; ${observer.mail.length} emails${db}`;
}

/**
 * While stopping early, drivers still retry in the background; once their connection is closed
 * their retries fail from timers. Those errors must not cut the cleanup short.
 */
function ignoreStragglers(): void {
  const note = (err: unknown) => process.stderr.write(`(while stopping) ${(err as Error)?.message ?? err}\n`);
  process.on('uncaughtException', note);
  process.on('unhandledRejection', note);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (err) => {
    if (stopping) return stopping;
    process.stderr.write(`fault run failed: ${(err as Error).stack ?? err}\n`);
    ignoreStragglers();
    await cleanUp();
    process.exit(1);
  },
);
