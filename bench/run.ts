/**
 * `npm run bench` (`tsx bench/run.ts`): throughput, latency, Temporal cost per order, parked
 * scale and API figures, measured on a real stack of its own (bench/stack.ts). Prints a table,
 * writes docs/BENCHMARKS.md and docs/benchmarks/latest.json (a full run of every part), or
 * .data/bench/ (a smoke run, or a run that skips parts).
 *
 *   npm run bench                          # defaults: 2,000 orders, parked 1,000 / 5,000 / 10,000
 *   npm run bench -- --smoke               # a handful of orders per part; CI runs it; exit 1 on any failure
 *   npm run bench -- --orders 500 --parked 1000,5000
 *   npm run bench -- --pool-sizes 2,5,10,20 --skip throughput,engine-limit,cost,parked,api
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../src/config';
import { runApi } from './api';
import { runLicensing } from './licensing';
import { costOf, samplePerGroup } from './costs';
import { WORKER_NODE_FLAGS, workerMemoryEnv } from '../src/temporal/worker-memory';
import { runPoolLevel } from './pool';
import { chooseReminderInterval, engineLimitCachedWorkflowRss, idleWorkerRss, runParkedLevel, type ParkedOptions } from './parked';
import {
  COUNTING_RULE,
  linearFit,
  renderMarkdown,
  renderText,
  type BenchResults,
  type CostResult,
  type HistoryCost,
  type ParkedLevelResult,
  type PoolLevelResult,
  type ScenarioKind,
} from './report';
import { createWorlds, DEFAULT_MIX, SCENARIO_DESCRIPTIONS, SCENARIO_KINDS } from './scenarios';
import { ROOT, startBenchStack, temporalVersion, type BenchStack, type TemporalStore } from './stack';
import { runThroughputAndEngineLimit, type ThroughputOptions } from './throughput';

const PARTS = ['throughput', 'engine-limit', 'cost', 'parked', 'api', 'pool', 'licensing'] as const;
type Part = (typeof PARTS)[number];

interface Options {
  smoke: boolean;
  orders: number;
  concurrency: number;
  warmup: number;
  rounds: number;
  parked: number[];
  mix: Record<ScenarioKind, number>;
  reminderInterval?: number;
  bookConcurrency: number;
  transferConcurrency: number;
  apiDuration: number;
  apiConnections: number;
  samples: number;
  poolSizes: number[];
  poolOrders: number;
  fleet: number;
  fleetVas: number;
  fleetConcurrency: number;
  fleetSeconds: number;
  skip: Part[];
  out?: string;
  render?: string;
  temporalStore: TemporalStore;
}

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1`);
  return n;
};

function parseArgs(argv: string[]): Options {
  const program = new Command()
    .name('npm run bench --')
    .description('Measures throughput, latency, Temporal cost per order, parked scale and the API on a real stack of its own.')
    .option('--smoke', 'a few orders per part, every part exercised (CI); writes to .data/bench/, never to docs/', false)
    .option('--orders <n>', 'orders in the throughput and engine-limit parts', positiveInt('--orders'))
    .option('--concurrency <n>', 'orders in flight in the throughput and engine-limit parts', positiveInt('--concurrency'))
    .option('--warmup <n>', 'orders run (and not counted) before each throughput measurement', (v) => Number(v))
    .option('--rounds <n>', 'alternating rounds of ours and the engine-limit workflow', positiveInt('--rounds'))
    .option('--parked <list>', 'parked-scale levels, comma-separated', (v) => v.split(',').map((x) => positiveInt('--parked')(x.trim())))
    .option('--mix <list>', 'the mix in percent, e.g. direct=40,held=25,delegated=15,classic=20', parseMix)
    .option(
      '--reminder-interval <duration>',
      'REMINDER_INTERVAL of the parked workers (default: a bit more than each level takes to park)',
      (v) => {
        const ms = parseDuration(v);
        if (ms === undefined) throw new InvalidArgumentError('--reminder-interval must be a duration such as 30s or 5m');
        return ms;
      },
    )
    .option('--book-concurrency <n>', 'bookings in flight while parking', positiveInt('--book-concurrency'))
    .option(
      '--transfer-concurrency <n>',
      'assignSmartAccount Updates in flight in the bulk transfer',
      positiveInt('--transfer-concurrency'),
    )
    .option('--api-duration <s>', 'seconds of load per API route', positiveInt('--api-duration'))
    .option('--api-connections <n>', 'autocannon connections', positiveInt('--api-connections'))
    .option('--samples <n>', 'histories fetched per scenario for the cost part', positiveInt('--samples'))
    .option('--pool-sizes <list>', 'DATABASE_POOL_MAX values of the pool part, comma-separated', (v) =>
      v.split(',').map((x) => positiveInt('--pool-sizes')(x.trim())),
    )
    .option('--pool-orders <n>', 'orders per pool size', positiveInt('--pool-orders'))
    .option('--fleet <n>', 'product instances of the license-use part', positiveInt('--fleet'))
    .option('--fleet-vas <n>', 'virtual accounts the fleet is spread over', positiveInt('--fleet-vas'))
    .option('--fleet-concurrency <n>', 'device requests in flight in the license-use part', positiveInt('--fleet-concurrency'))
    .option('--fleet-seconds <s>', 'seconds of usage reports (HTTP, then straight against Postgres)', positiveInt('--fleet-seconds'))
    .option('--skip <parts>', `parts to skip, comma-separated (${PARTS.join(', ')}); the docs are then not written`, (v) =>
      v.split(',').map((p) => {
        if (!PARTS.includes(p.trim() as Part)) throw new InvalidArgumentError(`--skip: unknown part "${p}"`);
        return p.trim() as Part;
      }),
    )
    .option('--out <dir>', 'write BENCHMARKS.md and latest.json here instead')
    .option(
      '--render <json>',
      'run nothing: write BENCHMARKS.md again from a latest.json (after editing bench/findings.md or bench/method.md)',
    )
    .option(
      '--temporal-store <store>',
      "the dev server's store: wal (SQLite file, WAL), file (SQLite file, the CLI's default journal) or memory",
      (v) => {
        if (!['wal', 'file', 'memory'].includes(v)) throw new InvalidArgumentError('--temporal-store must be wal, file or memory');
        return v as TemporalStore;
      },
    )
    .parse(argv, { from: 'user' });
  const o = program.opts();
  const smoke = Boolean(o.smoke);
  return {
    smoke,
    orders: o.orders ?? (smoke ? 8 : 2000),
    concurrency: o.concurrency ?? (smoke ? 4 : 32),
    warmup: o.warmup ?? (smoke ? 4 : 40),
    rounds: o.rounds ?? (smoke ? 2 : 4),
    parked: o.parked ?? (smoke ? [3, 6] : [1000, 5000, 10000]),
    mix: o.mix ?? DEFAULT_MIX,
    reminderInterval: o.reminderInterval,
    bookConcurrency: o.bookConcurrency ?? (smoke ? 3 : 20),
    transferConcurrency: o.transferConcurrency ?? (smoke ? 3 : 20),
    apiDuration: o.apiDuration ?? (smoke ? 1 : 10),
    apiConnections: o.apiConnections ?? (smoke ? 2 : 10),
    samples: o.samples ?? (smoke ? 2 : 10),
    poolSizes: o.poolSizes ?? (smoke ? [1, 4] : [2, 5, 10, 20]),
    poolOrders: o.poolOrders ?? (smoke ? 4 : 300),
    fleet: o.fleet ?? (smoke ? 40 : 10_000),
    fleetVas: o.fleetVas ?? (smoke ? 4 : 100),
    fleetConcurrency: o.fleetConcurrency ?? (smoke ? 4 : 32),
    fleetSeconds: o.fleetSeconds ?? (smoke ? 1 : 20),
    skip: o.skip ?? [],
    out: o.out,
    render: o.render,
    temporalStore: o.temporalStore ?? 'wal',
  };
}

function parseMix(value: string): Record<ScenarioKind, number> {
  const mix: Record<ScenarioKind, number> = { direct: 0, held: 0, delegated: 0, classic: 0 };
  for (const part of value.split(',')) {
    const [kind, weight] = part.split('=').map((s) => s.trim());
    if (!SCENARIO_KINDS.includes(kind as ScenarioKind) || !(Number(weight) >= 0)) {
      throw new InvalidArgumentError(`--mix: "${part}" must be kind=percent with kind one of ${SCENARIO_KINDS.join(', ')}`);
    }
    mix[kind as ScenarioKind] = Number(weight);
  }
  if (Object.values(mix).every((w) => w === 0)) throw new InvalidArgumentError('--mix: at least one kind needs a weight');
  return mix;
}

function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  return process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${args ? ` -- ${args}` : ''}`
    : `tsx bench/run.ts${args ? ` ${args}` : ''}`;
}

async function machineInfo(stack: BenchStack) {
  const { rows } = await stack.db.raw('SELECT version() AS v');
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim() ?? 'unknown',
    ramGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    temporalCli: temporalVersion(stack.temporalCli),
    postgres: String(rows[0].v).split(' ').slice(0, 2).join(' '),
  };
}

function log(line: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (options.render) {
    const results = JSON.parse(readFileSync(options.render, 'utf8')) as BenchResults;
    const mdPath = join(options.render, '..', '..', 'BENCHMARKS.md');
    const target = options.out
      ? join(options.out, 'BENCHMARKS.md')
      : results.meta.smoke
        ? join(options.render, '..', 'BENCHMARKS.smoke.md')
        : mdPath;
    writeFileSync(target, renderMarkdown(results, readAnalysis(results.meta.smoke)));
    log(`wrote ${target} from ${options.render}`);
    return 0;
  }
  const runStarted = Date.now();
  const runId = Date.now().toString(36);
  const skipped = (part: Part) => options.skip.includes(part);
  const timeoutMs = options.smoke ? 60_000 : 300_000;
  log(`${options.smoke ? 'smoke run' : 'full run'}: ${JSON.stringify({ ...options, mix: undefined })}`);

  // Other processes on the machine skew every figure: sample the load while the run lasts.
  const loadSamples: number[] = [];
  const loadSampler = setInterval(() => loadSamples.push(os.loadavg()[0]), 5000);
  const stack = await startBenchStack({ dataDir: join(ROOT, '.data', 'bench', 'stack'), log, temporalStore: options.temporalStore });
  const failures: string[] = [];
  const notes: string[] = [
    `Temporal dev server store: ${stack.temporalStore}.`,
    `Worker processes run ${stack.workerLoader} (${WORKER_NODE_FLAGS.join(' ')}, MALLOC_ARENA_MAX=${workerMemoryEnv().MALLOC_ARENA_MAX}, as the product starts them), ` +
      'with a pre-built workflow bundle and the worker options workers/order-worker.ts ' +
      `sets from the configuration (WORKER_MAX_CACHED_WORKFLOWS ${stack.config.workerMaxCachedWorkflows}, DATABASE_POOL_MAX ${stack.config.databasePoolMax}; ` +
      'everything else the SDK default).',
    `Mix: ${SCENARIO_KINDS.map((k) => `${k} (${SCENARIO_DESCRIPTIONS[k]})`).join('; ')}.`,
  ];
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      command: commandLine(),
      smoke: options.smoke,
      durationS: 0,
      machine: await machineInfo(stack),
      options: { ...options },
      notes,
    },
    failures,
  };
  const attempt = async (part: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (err) {
      failures.push(`${part}: ${err instanceof Error ? err.message : String(err)}`);
      log(`${part} FAILED: ${err instanceof Error ? err.stack : String(err)}`);
    }
  };

  const throughputOptions: ThroughputOptions = {
    orders: options.orders,
    concurrency: options.concurrency,
    warmup: options.warmup,
    rounds: options.rounds,
    mix: options.mix,
    timeoutMs,
    runId,
    log,
  };
  const cost: CostResult = { rule: COUNTING_RULE, sampledPerKind: options.samples, perKind: {}, engineLimit: {}, parked: {} };

  try {
    // ---- 1, 2 and 5: the real mix and the engine limit in alternating rounds, then the API ----
    if (!skipped('throughput') || !skipped('api')) {
      const queues = {
        orders: `bench-orders-${runId}`,
        ...(!skipped('engine-limit') && !skipped('throughput') ? { engineLimit: `bench-engine-limit-${runId}` } : {}),
      };
      // Reminders far away: throughput orders are assigned within seconds, not reminded.
      const worker = await stack.startWorker({
        kind: 'orders',
        taskQueue: queues.orders,
        env: { REMINDER_INTERVAL: '1h', ESCALATION_AFTER: '30d' },
      });
      const limitWorker = queues.engineLimit ? await stack.startWorker({ kind: 'engine-limit', taskQueue: queues.engineLimit }) : undefined;
      const worlds = await createWorlds(stack.db, Math.max(4, Math.min(20, Math.ceil(options.orders / 100))), 'tp');
      try {
        if (!skipped('throughput')) {
          await attempt('throughput', async () => {
            log(
              `1+2. throughput${queues.engineLimit ? ' and engine limit' : ''}: ${options.orders} orders each, ${options.concurrency} in flight, ${options.rounds} alternating rounds`,
            );
            const run = await runThroughputAndEngineLimit(
              stack,
              worlds,
              queues,
              { orders: worker.pid, engineLimit: limitWorker?.pid },
              throughputOptions,
            );
            results.throughput = run.throughput;
            results.engineLimit = run.engineLimit;
            failures.push(...run.failures.slice(0, 10));
            if (run.failures.length > 10) failures.push(`throughput: ${run.failures.length} failures in all`);
            const t = run.throughput;
            log(
              `   ours ${t.ordersPerSecond.toFixed(1)} orders/s; booking -> provisioned p50 ${t.provisionedLatencyMs.p50} ms, p95 ${t.provisionedLatencyMs.p95} ms, p99 ${t.provisionedLatencyMs.p99} ms` +
                (run.engineLimit
                  ? `; engine limit ${run.engineLimit.ordersPerSecond.toFixed(1)} orders/s; ratio ${run.engineLimit.ratio.toFixed(2)}`
                  : ''),
            );

            // ---- 3: cost per scenario, from the histories of the measured orders ----
            const samples = samplePerGroup(run.outcomes, (o) => o.kind, options.samples);
            for (const kind of SCENARIO_KINDS) {
              const ids = (samples.get(kind) ?? []).map((o) => o.workflowId);
              if (ids.length) cost.perKind[kind] = (await costOf(stack.client, ids)).cost;
            }
            const missingKinds = SCENARIO_KINDS.filter((k) => options.mix[k] > 0 && !cost.perKind[k]);
            if (missingKinds.length) failures.push(`cost: no completed order of ${missingKinds.join(', ')} to read a history from`);
            const limitSamples = samplePerGroup(run.engineLimitOutcomes, (o) => o.kind, options.samples);
            for (const kind of SCENARIO_KINDS) {
              const ids = (limitSamples.get(kind) ?? []).map((o) => o.workflowId);
              if (ids.length) cost.engineLimit[kind] = (await costOf(stack.plainClient, ids)).cost;
            }
          });
        }
        await limitWorker?.stop();
        if (!skipped('api')) {
          await attempt('api', async () => {
            log(`5. API: ${options.apiConnections} connections, ${options.apiDuration} s per route`);
            const api = await runApi(stack, queues.orders, worlds[0], {
              connections: options.apiConnections,
              durationS: options.apiDuration,
              runId,
              log,
            });
            results.api = { booking: api.booking, status: api.status };
            failures.push(...api.failures);
          });
        }
      } finally {
        await limitWorker?.stop();
        await worker.stop();
      }
    }

    // ---- 6: the order worker's Postgres pool ----
    if (!skipped('pool')) {
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
    // ---- 7: license use, the hot path ----
    if (!skipped('licensing')) {
      await attempt('licensing', async () => {
        log(`7. license use: ${options.fleet} instances over ${options.fleetVas} VAs`);
        const { failures: partFailures, ...licensing } = await runLicensing(stack, {
          instances: options.fleet,
          virtualAccounts: options.fleetVas,
          concurrency: options.fleetConcurrency,
          reportSeconds: options.fleetSeconds,
          runId,
          log,
        });
        results.licensing = licensing;
        failures.push(...partFailures.slice(0, 10));
        log(
          `   reports ${licensing.reports.perSecond.toFixed(1)}/s (p50 ${licensing.reports.latencyMs.p50.toFixed(1)} ms, p99 ${licensing.reports.latencyMs.p99.toFixed(1)} ms); ` +
            `straight against Postgres ${licensing.direct.perSecond.toFixed(1)}/s (p99 ${licensing.direct.latencyMs.p99.toFixed(1)} ms); ` +
            `registrations ${licensing.registration.perSecond.toFixed(1)}/s (p99 ${licensing.registration.latencyMs.p99.toFixed(1)} ms)`,
        );
      });
    }
    // ---- 4: parked scale ----
    if (!skipped('parked')) {
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
        const per1000 = (pick: (l: ParkedLevelResult) => number) => linearFit(levels.map((l) => [l.orders / 1000, pick(l)] as const));
        results.parked = {
          levels,
          slopes: {
            rssMBPer1000: per1000((l) => l.workerRssPeakMB),
            dbMBPer1000: per1000((l) => l.dbBytesDelta / (1024 * 1024)),
            transferSPer1000: per1000((l) => l.transfer.s),
            actionsPer1000: levels.every((l) => l.costPerOrder)
              ? per1000((l) => (l.costPerOrder as HistoryCost).actions.total * l.orders)
              : null,
          },
        };
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
    if (!skipped('cost') && Object.keys(cost.perKind).length) results.cost = cost;
  } finally {
    await stack.stop();
  }

  results.meta.durationS = (Date.now() - runStarted) / 1000;
  clearInterval(loadSampler);
  if (loadSamples.length) {
    const meanLoad = loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length;
    notes.push(
      `1-minute load average during the run: mean ${meanLoad.toFixed(1)}, max ${Math.max(...loadSamples).toFixed(1)} on ${os.cpus().length} cores ` +
        '(the benchmark alone keeps about 2 busy; more means other processes on the machine competed for the CPU).',
    );
  }
  // Every part asked for must have produced its figures (the smoke run in CI relies on it).
  const produced: Record<Part, unknown> = {
    throughput: results.throughput,
    'engine-limit': results.engineLimit,
    cost: results.cost,
    parked: results.parked,
    api: results.api,
    pool: results.pool,
    licensing: results.licensing,
  };
  for (const part of PARTS) if (!skipped(part) && !produced[part]) failures.push(`${part}: produced no figures`);
  const text = renderText(results);
  process.stdout.write(`\n${text}\n\n`);

  const writeDocs = !options.out && !options.smoke && options.skip.length === 0;
  const outDir = options.out ?? (writeDocs ? join(ROOT, 'docs') : join(ROOT, '.data', 'bench'));
  const jsonPath = writeDocs
    ? join(outDir, 'benchmarks', 'latest.json')
    : join(outDir, options.smoke ? 'latest.smoke.json' : 'latest.json');
  const mdPath = writeDocs ? join(outDir, 'BENCHMARKS.md') : join(outDir, options.smoke ? 'BENCHMARKS.smoke.md' : 'BENCHMARKS.md');
  mkdirSync(join(jsonPath, '..'), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(mdPath, renderMarkdown(results, readAnalysis(options.smoke)));
  log(`wrote ${mdPath} and ${jsonPath} in ${results.meta.durationS.toFixed(0)} s${failures.length ? `; ${failures.length} FAILURES` : ''}`);
  return failures.length ? 1 : 0;
}

/**
 * The hand-written parts of BENCHMARKS.md: bench/findings.md (what the figures of the last full
 * run say, after the summary; a smoke run leaves it out) and bench/method.md (how each part is
 * measured, at the end).
 */
function readAnalysis(smoke: boolean): { findings?: string; method?: string } {
  const read = (name: string) => {
    try {
      return readFileSync(join(ROOT, 'bench', name), 'utf8');
    } catch {
      return undefined;
    }
  };
  return { ...(smoke ? {} : { findings: read('findings.md') }), method: read('method.md') };
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
