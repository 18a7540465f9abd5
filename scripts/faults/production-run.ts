/**
 * One fault run of the production shape (`npm run test:faults -- --production`): its own app
 * database, Temporal's two databases and temporal-server on the runner's private Postgres,
 * Mailpit, two workers and two APIs; the orders driven over HTTP through both APIs while the
 * fault hits half-way through booking; then the same wait and verdict as the dev-server run,
 * the mail read from Mailpit. The faults are the shape's own: one of the two workers SIGKILLed
 * while the other carries on (the run fails unless work completes meanwhile), temporal-server
 * restarted, Postgres (Temporal's and the app's) stopped.
 */
import { join } from 'node:path';
import { createApiKey } from '../../src/api/auth';
import type { Db } from '../../src/db/knex';
import { PRODUCTION_COMMANDS } from '../../src/dev/production-shape';
import { recreateMigratedDatabase } from '../../src/db/migrate';
import type { EmailOutboxRow } from '../../src/db/rows';
import { workerMemoryEnv } from '../../src/temporal/worker-memory';
import { writeWorkflowBundle } from '../../src/temporal/workflow-bundle';
import { faultScope, type Later } from './cleanup';
import { BASE, TAGS, TASK_QUEUE, faultAppEnv, runnerConnections, startDriving, waitUntilQuiet, workerBasics } from './fault-run';
import { licenseUsePartFor } from './license-parts';
import { pauseLicenseClock, type LicenseUsePart } from './license-use';
import { MailpitMirror } from './mailpit-mirror';
import type { Observer } from './observer';
import type { FaultKind, FaultRunOptions } from './options';
import { apiCalls } from './order-calls';
import { faultOffsetMs } from './plan';
import type { FaultResult } from './report';
import { startProductionShape, prepareNamespace, type ProductionBinaries, type ProductionShape } from './production-services';
import { sleep, type PrivatePostgres, type ProcessRegistry } from './services';
import { SupervisedWorker } from './supervised-worker';
import { verdictOf } from './verdict';

const say = (line: string) => process.stdout.write(`${line}\n`);

export interface ProductionShared {
  pg: PrivatePostgres;
  bins: ProductionBinaries;
  registry: ProcessRegistry;
}

/** The workflow code, bundled once for every run's workers (as the production shape's workers load it). */
let bundle: Promise<string> | undefined;

export async function runProductionFault(fault: FaultKind, options: FaultRunOptions, shared: ProductionShared): Promise<FaultResult> {
  const dir = join(BASE, 'production', fault);
  const { notes, later, end } = faultScope(dir);
  bundle ??= writeWorkflowBundle(join(BASE, 'production', 'workflow-bundle.js'));
  try {
    const run = await startRun(fault, options, shared, dir, notes, later);
    const { shape, mirror, services, workers } = run;
    const licenseUse = licenseUsePartFor(
      { fault, db: services.db, client: services.client, config: services.config, taskQueue: TASK_QUEUE, dir, later },
      options.smoke,
    );
    await licenseUse.prepare();
    let markCleared: (at: number) => void = () => undefined;
    const cleared = new Promise<number>((resolve) => (markCleared = resolve));
    const calls = apiCalls(run.apiUrls, run.operatorKey, 30_000);
    const { drives, observer, deadline, loads, runStartedAt, driving } = await startDriving(
      fault,
      options,
      { ...services, mailDir: mirror.dir, calls },
      workers,
      later,
    );
    say(`  orders booked and driven through ${calls.via}`);
    const faultAt = runStartedAt + faultOffsetMs(options.rampSeconds * 1000);
    const licenseDriving = licenseUse.drive({ runStartedAt, faultAt, cleared });

    await sleep(Math.max(0, faultAt - Date.now()));
    const { injectedAt, clearedAt } = await injectFault(fault, { shape, shared, workers, options, runStartedAt, licenseUse });
    markCleared(clearedAt);

    await Promise.all([driving, licenseDriving]);
    await pauseLicenseClock(services.client);
    await waitUntilQuiet(services, deadline, runStartedAt, notes);
    await sleep(1_000);
    await mirror.sync();
    observer.readNewMail();
    observer.stop();

    const result = await verdictOf({
      fault,
      db: services.db,
      client: services.client,
      drives,
      observer,
      notes,
      loads,
      licenseUse,
      times: { runStartedAt, injectedAt, clearedAt },
    });
    if (fault === 'one-worker-kill') {
      result.survivorOutcomes = await survivorOutcomes(run, observer, { injectedAt, clearedAt });
      result.notes.unshift(
        `while worker 1 was dead (${result.faultSeconds.toFixed(1)} s) worker 2 alone completed ${result.survivorOutcomes} order steps and emails${result.survivorOutcomes === 0 ? ': it did not carry on (fails the run)' : ''}`,
      );
    }
    return result;
  } finally {
    await end();
  }
}

/** The shape up, the runner connected, both workers polling, both APIs ready, an operator key for the drivers. */
async function startRun(fault: FaultKind, options: FaultRunOptions, shared: ProductionShared, dir: string, notes: string[], later: Later) {
  const startedAt = Date.now();
  const databaseUrl = shared.pg.urlFor(`faults_prod_${fault.replace(/-/g, '_')}`);
  await recreateMigratedDatabase(databaseUrl);
  const shape = await startProductionShape({ ...shared, dir, tag: TAGS[fault], notes });
  later('production shape', () => shape.stopAll());
  const env = {
    ...faultAppEnv({ databaseUrl, temporalAddress: shape.temporal.address, smtpPort: shape.smtpPort, options }),
    WORKFLOW_BUNDLE_PATH: await bundle!,
  };
  const services = await runnerConnections(env, later);
  await prepareNamespace(services.connection, 'default');
  say(
    `  temporal-server ${shape.temporal.address} on Postgres :${shared.pg.port}, Mailpit ${shape.inboxUrl}, database ${databaseUrl.replace(/^.*\//, '')}`,
  );

  const workers = [1, 2].map(
    (n) =>
      new SupervisedWorker({
        ...workerBasics({ env: { ...env, ...workerMemoryEnv() }, connection: services.connection }, shared.registry, notes),
        name: `worker ${n}`,
        nodeFlags: PRODUCTION_COMMANDS.worker.nodeFlags,
        logFile: join(dir, `worker-${n}.log`),
      }),
  );
  for (const worker of workers) later(`worker`, () => worker.stopForGood());
  const ready = Promise.all(workers.map(async (w) => (await w.start()).ready));
  const apiUrls = [];
  for (const index of [0, 1]) apiUrls.push(await shape.startApi(index, env));
  await ready;
  const operatorKey = (await createApiKey(services.db, { role: 'operator', label: 'fault run operator key' })).key;
  const mirror = new MailpitMirror(shape.inboxUrl, join(dir, 'mail'));
  mirror.start();
  later('Mailpit mirror', async () => mirror.stop());
  say(`  both workers poll and both APIs answer (${apiUrls.join(', ')}) after ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  return { shape, mirror, services, workers, apiUrls, operatorKey };
}

async function injectFault(
  fault: FaultKind,
  run: {
    shape: ProductionShape;
    shared: ProductionShared;
    workers: SupervisedWorker[];
    options: FaultRunOptions;
    runStartedAt: number;
    licenseUse: LicenseUsePart;
  },
): Promise<{ injectedAt: number; clearedAt: number }> {
  const { shape, shared, workers, options, runStartedAt, licenseUse } = run;
  await licenseUse.beforeFault();
  const injectedAt = Date.now();
  const at = `+${Math.round((injectedAt - runStartedAt) / 1000)} s`;
  let clearedAt: number;
  switch (fault) {
    case 'one-worker-kill': {
      const killed = await workers[0].kill();
      say(
        `  SIGKILLed worker 1 (pid ${killed}) at ${at}; worker 2 (pid ${workers[1].current?.pid}) carries on alone for ${options.outageSeconds} s`,
      );
      await sleep(Math.max(0, injectedAt + options.outageSeconds * 1000 - Date.now()));
      clearedAt = Date.now();
      const next = await workers[0].start();
      say(`  worker 1 started again (pid ${next.pid})`);
      break;
    }
    case 'temporal-restart':
      await shape.temporal.stop();
      say(`  temporal-server stopped (SIGTERM) at ${at}`);
      await shape.temporal.start();
      clearedAt = Date.now();
      say(`  temporal-server serving again after ${((clearedAt - injectedAt) / 1000).toFixed(1)} s (same databases and ports)`);
      break;
    case 'postgres-stop':
      await shared.pg.stop();
      say(`  Postgres stopped (pg_ctl stop -m fast: Temporal's databases and the app's) at ${at}`);
      await licenseUse.duringFault();
      await sleep(Math.max(0, injectedAt + options.outageSeconds * 1000 - Date.now()));
      await shared.pg.start();
      clearedAt = Date.now();
      say(`  Postgres started again after ${((clearedAt - injectedAt) / 1000).toFixed(1)} s`);
      break;
    default:
      throw new Error(`${fault} is a fault of the dev-server stack (without --production)`);
  }
  return { injectedAt, clearedAt };
}

/**
 * What the stack finished while worker 1 was dead: order steps the observer saw complete and
 * emails sent in the window. Worker 2 alone did them; none means it did not carry on.
 */
async function survivorOutcomes(
  run: { services: { db: Db } },
  observer: Observer,
  window: { injectedAt: number; clearedAt: number },
): Promise<number> {
  const within = (t: number | undefined) => t !== undefined && t > window.injectedAt && t <= window.clearedAt;
  const steps = observer.steps.filter((s) => s.kind === 'outcome' && within(s.endedAt)).length;
  const emails = await run.services
    .db<EmailOutboxRow>('email_outbox')
    .whereBetween('sent_at', [new Date(window.injectedAt), new Date(window.clearedAt)])
    .count({ n: '*' })
    .then(([r]) => Number(r.n));
  return steps + emails;
}
