/**
 * Part 9: the license clock over a large fleet (R19, R25). N product instances (bulk-seeded,
 * bench/licensing-seed.ts), 1 in 100 each silent past the removal age, the authorization expiry
 * and the failed-to-connect alert. The licenseClock workflow is started as the Schedule starts it
 * (same type, no input, the product's worker in its own process): the first run(s) act on that
 * backlog, the next has nothing new to do, which is what every tick costs. Each run: wall time,
 * its history's actions, the worker's Postgres statements, WAL and database growth.
 */
import { countHistoryCost, toCostEvent, type HistoryCost } from './history-cost';
import { livenessDue, seedInstances } from './licensing-seed';
import { runsPerMonth, type ClockSweepFigures, type LicenseClockScaleResult } from './licensing-scale-report';
import { createVirtualAccountPath } from '../src/dev/demo-data';
import { LICENSE_CLOCK_WORKFLOW_TYPE, type LicenseClockInput, type LicenseClockResult } from '../src/licensing/workflow-api';
import { createTestWorld } from '../test/helpers/fixtures';
import type { BenchStack, BenchWorker } from './stack';

export interface LicenseClockOptions {
  instances: number;
  taskQueue: string;
  runId: string;
  log: (line: string) => void;
}

const VAS = 10;
const SKUS = 10;
/** A backlog larger than one run takes (10 loops of 500 per step) needs more runs. */
const MAX_BACKLOG_RUNS = 20;

async function walLsn(stack: BenchStack): Promise<string> {
  return String((await stack.db.raw('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn);
}

async function databaseSize(stack: BenchStack): Promise<number> {
  return Number((await stack.db.raw('SELECT pg_database_size(current_database())::bigint AS bytes')).rows[0].bytes);
}

/** One licenseClock run, started as the Schedule starts it, measured around. */
export async function measureClockRun(
  stack: BenchStack,
  worker: BenchWorker,
  taskQueue: string,
  workflowId: string,
  input: LicenseClockInput = {},
): Promise<{ figures: ClockSweepFigures; result: LicenseClockResult; cost: HistoryCost }> {
  const statementsBefore = (await worker.stats()).statements ?? 0;
  const [lsnBefore, sizeBefore] = [await walLsn(stack), await databaseSize(stack)];
  const started = process.hrtime.bigint();
  const result = await stack.client.workflow.execute<(input: LicenseClockInput) => Promise<LicenseClockResult>>(
    LICENSE_CLOCK_WORKFLOW_TYPE,
    {
      workflowId,
      taskQueue,
      args: [input],
    },
  );
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const statements = ((await worker.stats()).statements ?? 0) - statementsBefore;
  const walBytes = Number(
    (await stack.db.raw('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn)::bigint AS d', [lsnBefore])).rows[0].d,
  );
  const dbBytesDelta = (await databaseSize(stack)) - sizeBefore;
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  const cost = countHistoryCost((history.events ?? []).map(toCostEvent));
  return {
    result,
    cost,
    figures: {
      wallMs,
      historyEvents: cost.historyEvents,
      activities: cost.activitiesScheduled,
      actions: cost.actions,
      statements,
      dbBytesDelta,
      walBytes,
      acted: {
        failedToConnect: result.failedToConnect,
        expired: result.expired,
        removed: result.removed,
        alertsEmailed: result.alertsEmailed,
      },
    },
  };
}

function add(a: ClockSweepFigures, b: ClockSweepFigures): ClockSweepFigures {
  const actions = { ...a.actions };
  for (const k of Object.keys(actions) as Array<keyof typeof actions>) actions[k] += b.actions[k];
  return {
    wallMs: a.wallMs + b.wallMs,
    historyEvents: a.historyEvents + b.historyEvents,
    activities: a.activities + b.activities,
    actions,
    statements: a.statements + b.statements,
    dbBytesDelta: a.dbBytesDelta + b.dbBytesDelta,
    walBytes: a.walBytes + b.walBytes,
    acted: {
      failedToConnect: a.acted.failedToConnect + b.acted.failedToConnect,
      expired: a.acted.expired + b.acted.expired,
      removed: a.acted.removed + b.acted.removed,
      alertsEmailed: a.acted.alertsEmailed + b.acted.alertsEmailed,
    },
  };
}

/**
 * What the rows say after the backlog: the seeded due instances removed, expired and alerted, no
 * other. (A run counts an instance it expires and, in a later loop, removes under both steps.)
 */
async function livenessLeftovers(stack: BenchStack, accountId: string, due: ReturnType<typeof livenessDue>): Promise<string[]> {
  const { rows } = await stack.db.raw(
    `SELECT (SELECT count(*) FROM product_instances WHERE account_id = ? AND state = 'removed')::int AS removed,
            (SELECT count(*) FROM product_instances WHERE account_id = ? AND state = 'authorization_expired')::int AS expired,
            (SELECT count(*) FROM license_alerts WHERE account_id = ? AND kind = 'failed_to_connect')::int AS alerted`,
    [accountId, accountId, accountId],
  );
  const found = { failedToConnect: rows[0].alerted, expired: rows[0].expired, removed: rows[0].removed };
  const same = found.failedToConnect === due.failedToConnect && found.expired === due.expired && found.removed === due.removed;
  return same ? [] : [`license clock: rows show ${JSON.stringify(found)}, seeded due ${JSON.stringify(due)}`];
}

export async function runLicenseClock(
  stack: BenchStack,
  worker: BenchWorker,
  options: LicenseClockOptions,
): Promise<LicenseClockScaleResult & { failures: string[] }> {
  const failures: string[] = [];
  const world = await createTestWorld(stack.db, `clock-${options.runId}`);
  const vaIds: string[] = [];
  for (let v = 0; v < VAS; v++) vaIds.push(String(await createVirtualAccountPath(stack.db, world.smartAccountId, `Clock-${v}`)));
  const seedStarted = Date.now();
  await seedInstances(stack.db, {
    prefix: `clock-${options.runId}`,
    accountId: world.smartAccountId,
    partnerId: world.partnerId,
    vaIds,
    skus: Array.from({ length: SKUS }, (_, i) => `BENCH-CLOCK-${i}`),
    count: options.instances,
    silence: 'liveness',
  });
  await stack.db.raw('ANALYZE product_instances, instance_usage, license_pools, license_alerts, license_allocations');
  const due = livenessDue(options.instances);
  options.log(
    `   seeded ${options.instances} instances in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s; due ${JSON.stringify(due)}`,
  );

  // Runs until one finds nothing to do: that last run is the idle tick, the ones before the backlog.
  const runs: ClockSweepFigures[] = [];
  for (let i = 0; i < MAX_BACKLOG_RUNS + 1; i++) {
    const { figures } = await measureClockRun(stack, worker, options.taskQueue, `bench-clock-${options.runId}-${i}`);
    runs.push(figures);
    if (figures.acted.failedToConnect + figures.acted.expired + figures.acted.removed === 0) break;
  }
  const idle = runs[runs.length - 1];
  const backlogRuns = runs.slice(0, -1);
  const b = backlogRuns.reduce(add);
  options.log(
    `   backlog: ${backlogRuns.length} run(s), ${b.wallMs.toFixed(0)} ms, acted ${JSON.stringify(b.acted)}; ` +
      `idle run: ${idle.wallMs.toFixed(0)} ms, ${idle.actions.total} actions, ${idle.statements} statements`,
  );
  failures.push(...(await livenessLeftovers(stack, world.smartAccountId, due)));
  if (idle.acted.failedToConnect + idle.acted.expired + idle.acted.removed > 0)
    failures.push(`license clock: still acting after ${runs.length} runs (${JSON.stringify(idle.acted)})`);
  const transitions = Math.max(1, b.acted.failedToConnect + b.acted.expired + b.acted.removed);
  const perMonth = runsPerMonth(stack.config.licenseClock.intervalMs) / options.instances;
  return {
    instances: options.instances,
    due,
    intervalMs: stack.config.licenseClock.intervalMs,
    backlog: b,
    backlogRuns: backlogRuns.length,
    idle,
    workerRssPeakMB: worker.peakRss() / (1024 * 1024),
    perInstancePerMonth: {
      actions: (idle.actions.total + 1) * perMonth,
      statements: idle.statements * perMonth,
      walBytes: idle.walBytes * perMonth,
    },
    perTransition: {
      ms: (b.wallMs - backlogRuns.length * idle.wallMs) / transitions,
      statements: (b.statements - backlogRuns.length * idle.statements) / transitions,
      walBytes: (b.walBytes - backlogRuns.length * idle.walBytes) / transitions,
      dbBytes: (b.dbBytesDelta - backlogRuns.length * idle.dbBytesDelta) / transitions,
    },
    failures,
  };
}
