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
 *   npm run bench -- --smoke --skip throughput,engine-limit,cost,parked,api,pool,licensing,license-view,license-clock,true-up   # overload only
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { API_NODE_FLAGS } from '../src/api/node-flags';
import { WORKER_NODE_FLAGS, workerMemoryEnv } from '../src/temporal/worker-memory';
import { PARTS, parseArgs, type Options, type Part } from './options';
import { runLicensingPart, runOverloadPart, runParkedPart, runPoolPart, runThroughputAndApi, type BenchRun } from './parts';
import { runLicenseScaleParts } from './parts-license-scale';
import { COUNTING_RULE, renderMarkdown, renderText, type BenchResults, type CostResult } from './report';
import { SCENARIO_DESCRIPTIONS, SCENARIO_KINDS } from './scenarios';
import { ROOT, startBenchStack, temporalVersion, type BenchStack } from './stack';
import type { ThroughputOptions } from './throughput';

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
    ...(stack.temporalCli ? { temporalCli: temporalVersion(stack.temporalCli) } : {}),
    ...(stack.temporalServer ? { temporalServer: stack.temporalServer } : {}),
    postgres: String(rows[0].v).split(' ').slice(0, 2).join(' '),
  };
}

function log(line: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (options.render) return renderAgain(options, options.render);
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
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      command: commandLine(),
      smoke: options.smoke,
      durationS: 0,
      machine: await machineInfo(stack),
      options: { ...options },
      notes: stackNotes(stack, options.orderWorkers),
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
  const run: BenchRun = { options, stack, results, failures, cost, runId, timeoutMs, throughputOptions, log, skipped, attempt };

  try {
    if (!skipped('throughput') || !skipped('api')) await runThroughputAndApi(run);
    if (!skipped('pool')) await runPoolPart(run);
    if (!skipped('parked')) await runParkedPart(run);
    if (!skipped('licensing')) await runLicensingPart(run);
    await runLicenseScaleParts(run);
    if (!skipped('overload')) await runOverloadPart(run);
    if (!skipped('cost') && Object.keys(cost.perKind).length) results.cost = cost;
  } finally {
    await stack.stop();
  }

  results.meta.durationS = (Date.now() - runStarted) / 1000;
  clearInterval(loadSampler);
  if (loadSamples.length) {
    const meanLoad = loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length;
    results.meta.notes.push(
      `1-minute load average during the run: mean ${meanLoad.toFixed(1)}, max ${Math.max(...loadSamples).toFixed(1)} on ${os.cpus().length} cores ` +
        '(the benchmark alone keeps about 2 busy; more means other processes on the machine competed for the CPU).',
    );
  }
  return finish(options, results, skipped);
}

/** `--render`: BENCHMARKS.md written again from a latest.json, nothing run. */
function renderAgain(options: Options, render: string): number {
  const results = JSON.parse(readFileSync(render, 'utf8')) as BenchResults;
  const mdPath = join(render, '..', '..', 'BENCHMARKS.md');
  const target = options.out ? join(options.out, 'BENCHMARKS.md') : results.meta.smoke ? join(render, '..', 'BENCHMARKS.smoke.md') : mdPath;
  writeFileSync(target, renderMarkdown(results, readAnalysis(results.meta.smoke)));
  log(`wrote ${target} from ${render}`);
  return 0;
}

/** What the figures depend on besides the code: which Temporal and its store, how workers run, the mix. */
function stackNotes(stack: BenchStack & { workerLoader: string }, orderWorkers: number): string[] {
  return [
    stack.temporalServer
      ? `Temporal: the production shape's server, not the dev server: ${stack.temporalStore}. Its CPU is the temporal-server process; ` +
        'its databases\' Postgres backends are counted apart ("Temporal\'s Postgres").'
      : `Temporal dev server store: ${stack.temporalStore}.`,
    `Throughput and engine-limit parts: ${orderWorkers} worker process${orderWorkers > 1 ? 'es' : ''} per side on one task queue (--order-workers).`,
    `Worker processes run ${stack.workerLoader} (${WORKER_NODE_FLAGS.join(' ')}, MALLOC_ARENA_MAX=${workerMemoryEnv().MALLOC_ARENA_MAX}, as the product starts them), ` +
      'with a pre-built workflow bundle and the worker options workers/order-worker.ts ' +
      `sets from the configuration (WORKER_MAX_CACHED_WORKFLOWS ${stack.config.workerMaxCachedWorkflows}, DATABASE_POOL_MAX ${stack.config.databasePoolMax}; ` +
      'everything else the SDK default).',
    `The API under test runs in the driver process, started with the API's node flags (${API_NODE_FLAGS.join(' ')}, src/api/node-flags.ts).`,
    `Mix: ${SCENARIO_KINDS.map((k) => `${k} (${SCENARIO_DESCRIPTIONS[k]})`).join('; ')}.`,
  ];
}

/** Checks every part asked for produced figures, prints the tables, writes the JSON and Markdown. */
function finish(options: Options, results: BenchResults, skipped: (part: Part) => boolean): number {
  const failures = results.failures;
  // Every part asked for must have produced its figures (the smoke run in CI relies on it).
  const produced: Record<Part, unknown> = {
    throughput: results.throughput,
    'engine-limit': results.engineLimit,
    cost: results.cost,
    parked: results.parked,
    api: results.api,
    pool: results.pool,
    licensing: results.licensing,
    'license-view': results.licenseView,
    'license-clock': results.licenseClock,
    'true-up': results.trueUp,
    overload: results.overload,
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

/** The driver hosts the API it measures, so it runs with the API's node flags; started without them (`npx tsx bench/run.ts`), it starts itself again with them. */
if (API_NODE_FLAGS.some((flag) => !process.execArgv.includes(flag))) {
  const again = spawnSync(process.execPath, [...API_NODE_FLAGS, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(again.status ?? 1);
} else {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
