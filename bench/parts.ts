/**
 * The parts of a benchmark run, each filling its figures into the run's results: the real mix and
 * the engine limit in alternating rounds with the cost from their histories (1, 2, 3), the API
 * (5), the Postgres pool (6) and the parked scale (4).
 */
import { runApi } from './api';
import { costOf, describePayloadBytes, samplePerGroup } from './costs';
import type { Options, Part } from './options';
import { runPoolLevel } from './pool';
import { runLicensing } from './licensing';
import { runOverload } from './overload';
import { chooseReminderInterval, engineLimitCachedWorkflowRss, idleWorkerRss, runParkedLevel, type ParkedOptions } from './parked';
import { linearFit, type BenchResults, type CostResult, type HistoryCost, type ParkedLevelResult, type PoolLevelResult } from './report';
import { createWorlds, SCENARIO_KINDS } from './scenarios';
import type { BenchStack } from './stack';
import { runThroughputAndEngineLimit, type ThroughputOptions, type ThroughputRun } from './throughput';

/** What every part shares: the options, the stack, the results and failures it adds to. */
export interface BenchRun {
  options: Options;
  stack: BenchStack;
  results: BenchResults;
  failures: string[];
  cost: CostResult;
  runId: string;
  timeoutMs: number;
  throughputOptions: ThroughputOptions;
  log: (line: string) => void;
  skipped: (part: Part) => boolean;
  /** Runs one part; its failure is recorded and the run goes on. */
  attempt: (part: string, step: () => Promise<void>) => Promise<void>;
}

/** 1, 2 and 5: the real mix and the engine limit in alternating rounds, then the API. */
export async function runThroughputAndApi(run: BenchRun): Promise<void> {
  const { options, stack, results, failures, runId, skipped, attempt, log } = run;
  const queues = {
    orders: `bench-orders-${runId}`,
    ...(!skipped('engine-limit') && !skipped('throughput') ? { engineLimit: `bench-engine-limit-${runId}` } : {}),
  };
  // Reminders far away: throughput orders are assigned within seconds, not reminded. --order-workers
  // processes poll each side's task queue; their SDK metrics count what each one ran.
  const each = Array.from({ length: options.orderWorkers });
  const workers = await Promise.all(
    each.map(() =>
      stack.startWorker({
        kind: 'orders',
        taskQueue: queues.orders,
        metrics: true,
        env: { REMINDER_INTERVAL: '1h', ESCALATION_AFTER: '30d' },
      }),
    ),
  );
  const engineLimitQueue = queues.engineLimit;
  const limitWorkers = engineLimitQueue
    ? await Promise.all(each.map(() => stack.startWorker({ kind: 'engine-limit', taskQueue: engineLimitQueue, metrics: true })))
    : undefined;
  const stopLimitWorkers = () => Promise.all((limitWorkers ?? []).map((w) => w.stop()));
  const worlds = await createWorlds(stack.db, Math.max(4, Math.min(20, Math.ceil(options.orders / 100))), 'tp');
  try {
    if (!skipped('throughput')) {
      await attempt('throughput', async () => {
        log(
          `1+2. throughput${queues.engineLimit ? ' and engine limit' : ''}: ${options.orders} orders each, ${options.concurrency} in flight, ` +
            `${options.rounds} alternating rounds, ${options.orderWorkers} worker process${options.orderWorkers > 1 ? 'es' : ''} per side`,
        );
        const tp = await runThroughputAndEngineLimit(
          stack,
          worlds,
          queues,
          { orders: workers, ...(limitWorkers ? { engineLimit: limitWorkers } : {}) },
          run.throughputOptions,
        );
        results.throughput = tp.throughput;
        results.engineLimit = tp.engineLimit;
        failures.push(...tp.failures.slice(0, 10));
        if (tp.failures.length > 10) failures.push(`throughput: ${tp.failures.length} failures in all`);
        logThroughput(run, tp);
        await costFromHistories(run, tp);
      });
    }
    await stopLimitWorkers();
    if (!skipped('api')) {
      await attempt('api', async () => {
        log(`5. API: ${options.apiConnections} connections, ${options.apiDuration} s per route`);
        const api = await runApi(stack, worlds[0], {
          connections: options.apiConnections,
          durationS: options.apiDuration,
          runId,
          log,
        });
        results.api = { booking: api.booking, status: api.status, ...(api.bareStart ? { bareStart: api.bareStart } : {}) };
        failures.push(...api.failures);
      });
    }
  } finally {
    await stopLimitWorkers();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

function logThroughput(run: BenchRun, tp: ThroughputRun): void {
  const t = tp.throughput;
  run.log(
    `   ours ${t.ordersPerSecond.toFixed(1)} orders/s; booking -> provisioned p50 ${t.provisionedLatencyMs.p50} ms, p95 ${t.provisionedLatencyMs.p95} ms, p99 ${t.provisionedLatencyMs.p99} ms` +
      (tp.engineLimit
        ? `; engine limit ${tp.engineLimit.ordersPerSecond.toFixed(1)} orders/s; ratio ${tp.engineLimit.ratio.toFixed(2)}`
        : ''),
  );
  if ((t.workers?.length ?? 0) > 1)
    run.log(
      `   per worker: ${t.workers!.map((w, i) => `#${i + 1} ${w.cpuMsPerOrder.toFixed(1)} CPU ms/order, ${w.workflowTasks ?? '?'} workflow tasks, ${w.activities ?? '?'} activities`).join('; ')}`,
    );
}

/** 3: cost per scenario, from the histories of the measured orders (ours and the engine limit's). */
async function costFromHistories(run: BenchRun, tp: ThroughputRun): Promise<void> {
  const { options, stack, failures, cost } = run;
  const samples = samplePerGroup(tp.outcomes, (o) => o.kind, options.samples);
  for (const kind of SCENARIO_KINDS) {
    const ids = (samples.get(kind) ?? []).map((o) => o.workflowId);
    if (!ids.length) continue;
    const measured = await costOf(stack.client, ids);
    cost.perKind[kind] = measured.cost;
    run.log(`   ${kind}: payloads ${describePayloadBytes(measured.payloadBytes)} a history, ours`);
  }
  const missingKinds = SCENARIO_KINDS.filter((k) => options.mix[k] > 0 && !cost.perKind[k]);
  if (missingKinds.length) failures.push(`cost: no completed order of ${missingKinds.join(', ')} to read a history from`);
  const limitSamples = samplePerGroup(tp.engineLimitOutcomes, (o) => o.kind, options.samples);
  for (const kind of SCENARIO_KINDS) {
    const ids = (limitSamples.get(kind) ?? []).map((o) => o.workflowId);
    if (!ids.length) continue;
    const measured = await costOf(stack.plainClient, ids);
    cost.engineLimit[kind] = measured.cost;
    run.log(`   ${kind}: payloads ${describePayloadBytes(measured.payloadBytes)} a history, engine limit`);
  }
}

/** 6: the order worker's Postgres pool, one fresh worker per DATABASE_POOL_MAX. */
export async function runPoolPart(run: BenchRun): Promise<void> {
  const { options, stack, results, failures, throughputOptions, attempt, log } = run;
  const worlds = await createWorlds(stack.db, Math.max(4, Math.min(20, Math.ceil(options.poolOrders / 100))), 'pool');
  const levels: PoolLevelResult[] = [];
  for (const poolMax of options.poolSizes) {
    await attempt(`pool ${poolMax}`, async () => {
      log(`6. Postgres pool: DATABASE_POOL_MAX ${poolMax}, ${options.poolOrders} orders, ${options.concurrency} in flight`);
      const { failures: levelFailures, ...level } = await runPoolLevel(stack, worlds, poolMax, {
        ...throughputOptions,
        orders: options.poolOrders,
      });
      levels.push(level);
      failures.push(...levelFailures.slice(0, 5));
      log(
        `   ${level.ordersPerSecond.toFixed(1)} orders/s, p50 ${level.provisionedLatencyMs.p50} ms; connections used at most ${level.connectionsUsedMax}, ` +
          `callers waiting at most ${level.waitingForConnectionMax} (mean ${level.waitingForConnectionMean.toFixed(1)}); ${(level.statementsPerOrder ?? 0).toFixed(1)} statements per order`,
      );
    });
  }
  if (levels.length) results.pool = { levels };
}

/** 4: parked scale, level by level, then the slopes and the SDK's own share. */
export async function runParkedPart(run: BenchRun): Promise<void> {
  const { options, stack, results, failures, cost, runId, timeoutMs, attempt, log } = run;
  const levels: ParkedLevelResult[] = [];
  let expectedParkRate = Math.max(5, (results.throughput?.ordersPerSecond ?? 10) * 1.5);
  for (const orders of options.parked) {
    await attempt(`parked ${orders}`, async () => {
      const parkedOptions: ParkedOptions = {
        bookConcurrency: options.bookConcurrency,
        transferConcurrency: options.transferConcurrency,
        reminderIntervalMs: options.reminderInterval,
        minReminderIntervalMs: options.smoke ? 3_000 : 15_000,
        expectedParkRate,
        costSamples: options.samples,
        timeoutMs,
        runId,
        log,
      };
      log(
        `4. parked scale: ${orders} orders (reminder interval ${(parkedOptions.reminderIntervalMs ?? chooseReminderInterval(orders, expectedParkRate, parkedOptions.minReminderIntervalMs)) / 1000} s)`,
      );
      const { failures: levelFailures, ...level } = await runParkedLevel(stack, orders, parkedOptions);
      levels.push(level);
      failures.push(...levelFailures);
      if (level.costPerOrder) cost.parked[String(orders)] = level.costPerOrder;
      if (level.parkPerSecond > 0) expectedParkRate = level.parkPerSecond;
    });
  }
  if (levels.length) {
    results.parked = { levels, slopes: parkedSlopes(levels) };
    await attempt('engine-limit cached workflow RSS', async () => {
      results.parked!.engineLimitCache = await engineLimitCachedWorkflowRss(stack, runId, Math.min(300, Math.max(...options.parked)));
    });
    if (!options.smoke) {
      await attempt('idle worker RSS', async () => {
        results.parked!.idleRss = await idleWorkerRss(stack, runId);
      });
    }
  }
}

function parkedSlopes(levels: ParkedLevelResult[]): NonNullable<BenchResults['parked']>['slopes'] {
  const per1000 = (pick: (l: ParkedLevelResult) => number) => linearFit(levels.map((l) => [l.orders / 1000, pick(l)] as const));
  return {
    rssMBPer1000: per1000((l) => l.workerRssPeakMB),
    dbMBPer1000: per1000((l) => l.dbBytesDelta / (1024 * 1024)),
    transferSPer1000: per1000((l) => l.transfer.s),
    actionsPer1000: levels.every((l) => l.costPerOrder) ? per1000((l) => (l.costPerOrder as HistoryCost).actions.total * l.orders) : null,
  };
}

/** 7: license use, the hot path: registrations and usage reports of a simulated fleet. */
export async function runLicensingPart(run: BenchRun): Promise<void> {
  const { options, stack, results, failures, runId, attempt, log } = run;
  await attempt('licensing', async () => {
    log(`7. license use: ${options.fleet} instances over ${options.fleetVas} VAs`);
    const { failures: partFailures, ...licensing } = await runLicensing(stack, {
      instances: options.fleet,
      virtualAccounts: options.fleetVas,
      concurrency: options.fleetConcurrency,
      reportSeconds: options.fleetSeconds,
      offeredPerSecond: options.fleetOffered,
      offeredSeconds: options.fleetOfferedSeconds,
      runId,
      log,
    });
    results.licensing = licensing;
    failures.push(...partFailures.slice(0, 10));
    log(
      `   reports ${licensing.reports.perSecond.toFixed(1)}/s (p50 ${licensing.reports.latencyMs.p50.toFixed(1)} ms, p99 ${licensing.reports.latencyMs.p99.toFixed(1)} ms); ` +
        (licensing.offered
          ? `offered ${licensing.offered.offeredPerSecond}/s: answered ${licensing.offered.perSecond.toFixed(1)}/s (p99 ${licensing.offered.latencyMs.p99.toFixed(1)} ms); `
          : '') +
        `straight against Postgres ${licensing.direct.perSecond.toFixed(1)}/s (p99 ${licensing.direct.latencyMs.p99.toFixed(1)} ms); ` +
        `registrations ${licensing.registration.perSecond.toFixed(1)}/s (p99 ${licensing.registration.latencyMs.p99.toFixed(1)} ms)`,
    );
  });
}

/** 11: overload: twice the booking's measured capacity offered; what is shed, what is accepted, nothing lost. */
export async function runOverloadPart(run: BenchRun): Promise<void> {
  const { options, stack, results, failures, runId, attempt, log } = run;
  await attempt('overload', async () => {
    log(`11. overload: ${options.overloadFactor}x the booking's capacity for ${options.overloadSeconds} s`);
    const { failures: partFailures, ...overload } = await runOverload(stack, {
      capacityConnections: options.overloadConnections,
      capacitySeconds: options.overloadCapacitySeconds,
      factor: options.overloadFactor,
      offeredSeconds: options.overloadSeconds,
      maxInFlight: options.overloadInFlight,
      runId,
      log,
    });
    results.overload = overload;
    failures.push(...partFailures);
  });
}
