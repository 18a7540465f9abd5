/**
 * Parts 1 and 2: orders fulfilled per second and booking -> provisioned latency for the real
 * mix, and the same driver against the engine-limit workflow (bench/baseline/) with the shapes
 * the real histories showed.
 *
 * The two run in alternating rounds (ours, engine limit, ours, engine limit, ...) on two worker
 * processes started together, and each one's throughput is its orders over the sum of its
 * rounds' durations. A machine whose load drifts during the run (other processes) then skews
 * both alike, and the ratio stays meaningful.
 */
import { persistencePerOrder, settledPersistenceSnapshot } from './temporal-persistence';
import type { TestWorld } from '../test/helpers/fixtures';
import { costOf, samplePerGroup } from './costs';
import { addCpu, cpuBetween, NO_CPU, perOrder, type CpuSpent } from './cpu';
import {
  countKinds,
  driveEngineLimitOrder,
  driveRealOrder,
  kindSequence,
  runClosedLoop,
  SCENARIO_KINDS,
  todayIso,
  type DriverContext,
  type OrderOutcome,
} from './scenarios';
import type { BenchStack, BenchWorker } from './stack';
import type { WorkerStats } from './worker-process';
import {
  summarize,
  type EngineLimitResult,
  type LatencySummary,
  type ScenarioKind,
  type ThroughputResult,
  type WorkflowShape,
} from './report';
import type { WorkerShare } from './results';

export interface ThroughputOptions {
  orders: number;
  concurrency: number;
  /** Orders run first and not counted; at least one of each kind, whose histories give the shapes. */
  warmup: number;
  /** Alternating rounds of ours and the engine limit. */
  rounds: number;
  mix: Record<ScenarioKind, number>;
  timeoutMs: number;
  runId: string;
  log: (line: string) => void;
}

export interface ThroughputRun {
  throughput: ThroughputResult;
  outcomes: OrderOutcome[];
  engineLimit?: EngineLimitResult;
  engineLimitOutcomes: OrderOutcome[];
  shapes: Record<ScenarioKind, WorkflowShape>;
  /** Warm-up orders completed (not counted in the figures). */
  warmupOrders: number;
  failures: string[];
}

function roundRobin<T>(items: readonly T[], index: number): T {
  return items[index % items.length];
}

async function fulfilledAt(stack: BenchStack, orderIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < orderIds.length; i += 1000) {
    const rows: Array<{ id: string; fulfilled_at: Date | null }> = await stack
      .db('orders')
      .whereIn('id', orderIds.slice(i, i + 1000))
      .select('id', 'fulfilled_at');
    for (const row of rows) if (row.fulfilled_at) out.set(row.id, new Date(row.fulfilled_at).getTime());
  }
  return out;
}

/** The engine-limit shape of each kind, from the histories of a few real orders. */
async function shapesFrom(
  stack: BenchStack,
  outcomes: readonly OrderOutcome[],
  mix: Record<ScenarioKind, number>,
): Promise<Record<ScenarioKind, WorkflowShape>> {
  const samples = samplePerGroup(outcomes, (o) => o.kind, 5);
  const shapes: Partial<Record<ScenarioKind, WorkflowShape>> = {};
  for (const kind of SCENARIO_KINDS) {
    if (mix[kind] <= 0) continue;
    const ids = (samples.get(kind) ?? []).map((o) => o.workflowId);
    if (ids.length === 0) throw new Error(`no completed ${kind} order in the warm-up to copy the shape of`);
    shapes[kind] = (await costOf(stack.client, ids)).shape;
  }
  return shapes as Record<ScenarioKind, WorkflowShape>;
}

/** What the phases of the run share: the stack, the two drivers, the worlds and the options. */
interface ThroughputContext {
  stack: BenchStack;
  worlds: readonly TestWorld[];
  ours: DriverContext;
  limit: DriverContext | undefined;
  workers: ThroughputWorkers;
  options: ThroughputOptions;
  failures: string[];
}

/** The worker processes of each side (several with `--order-workers`), for the CPU, memory and tasks each spends. */
export interface ThroughputWorkers {
  orders: readonly BenchWorker[];
  engineLimit?: readonly BenchWorker[];
}

export async function runThroughputAndEngineLimit(
  stack: BenchStack,
  worlds: readonly TestWorld[],
  queues: { orders: string; engineLimit?: string },
  workers: ThroughputWorkers,
  options: ThroughputOptions,
): Promise<ThroughputRun> {
  const shippedOn = todayIso();
  const ours: DriverContext = {
    client: stack.client,
    db: stack.db,
    mail: stack.mail,
    taskQueue: queues.orders,
    shippedOn,
    timeoutMs: options.timeoutMs,
  };
  const limit: DriverContext | undefined = queues.engineLimit
    ? { client: stack.plainClient, db: stack.db, mail: stack.mail, taskQueue: queues.engineLimit, shippedOn, timeoutMs: options.timeoutMs }
    : undefined;
  const failures: string[] = [];
  const context: ThroughputContext = { stack, worlds, ours, limit, workers, options, failures };

  const { warm, shapes, persistence } = await warmUp(context);
  const kinds = kindSequence(options.orders, options.mix);
  const statsBefore = await allStats(workers);
  const run = await runRounds(context, kinds, shapes);
  const statsAfter = await allStats(workers);
  const { outcomes, limitOutcomes } = run;

  failures.push(...run.ourFailures.map((f) => `throughput order ${f.index} (${kinds[f.index]}): ${f.error}`));
  const { provisioned, perKind } = await provisionedLatencies(stack, outcomes, failures);
  const throughput: ThroughputResult = {
    orders: options.orders,
    concurrency: options.concurrency,
    rounds: run.rounds,
    mix: countKinds(kinds),
    durationS: run.ourSeconds,
    ordersPerSecond: outcomes.length / run.ourSeconds,
    provisionedLatencyMs: summarize(provisioned),
    completedLatencyMs: summarize(outcomes.map((o) => o.completedAtMs - o.bookedAtMs)),
    perKind,
    cpuMsPerOrder: perOrder(run.ourCpu, outcomes.length),
    orderWorkers: workers.orders.length,
    workers: workerShares(workers.orders, run.ourCpu, outcomes.length, statsBefore.orders, statsAfter.orders),
    ...(persistence ? { temporalPersistencePerOrder: persistence } : {}),
    failures: [...failures],
  };
  let engineLimit: EngineLimitResult | undefined;
  if (limit) {
    const limitRate = limitOutcomes.length / run.limitSeconds;
    const limitFailureLines = run.limitFailures.map((f) => `engine-limit order ${f.index} (${kinds[f.index]}): ${f.error}`);
    failures.push(...limitFailureLines);
    engineLimit = {
      orders: options.orders,
      concurrency: options.concurrency,
      durationS: run.limitSeconds,
      ordersPerSecond: limitRate,
      completedLatencyMs: summarize(limitOutcomes.map((o) => o.completedAtMs - o.bookedAtMs)),
      shapes: shapes,
      ratio: throughput.ordersPerSecond / limitRate,
      cpuMsPerOrder: perOrder(run.limitCpu, limitOutcomes.length),
      workers: workerShares(workers.engineLimit ?? [], run.limitCpu, limitOutcomes.length, statsBefore.engineLimit, statsAfter.engineLimit),
      failures: limitFailureLines,
    };
  }
  return { throughput, outcomes, engineLimit, engineLimitOutcomes: limitOutcomes, shapes, warmupOrders: warm.results.length, failures };
}

/** Each worker's own counters (statements, tasks), both sides; a worker that does not answer gives none. */
async function allStats(workers: ThroughputWorkers) {
  const of = (list: readonly BenchWorker[]) => Promise.all(list.map((w) => w.stats().catch(() => undefined)));
  return { orders: await of(workers.orders), engineLimit: await of(workers.engineLimit ?? []) };
}

/** How the work spread over one side's worker processes: CPU from /proc, memory, and what each ran in the rounds. */
function workerShares(
  list: readonly BenchWorker[],
  cpu: CpuSpent,
  orders: number,
  before: ReadonlyArray<WorkerStats | undefined>,
  after: ReadonlyArray<WorkerStats | undefined>,
): WorkerShare[] {
  const n = Math.max(1, orders);
  return list.map((worker, i) => {
    const [b, a] = [before[i], after[i]];
    const counted = (read: (s: WorkerStats) => number | undefined) => {
      const x = a && read(a);
      return x === undefined ? undefined : x - ((b && read(b)) ?? 0);
    };
    const share: WorkerShare = {
      cpuMsPerOrder: (cpu.workers[i] ?? 0) / n,
      rssMB: worker.rss() / MB,
      peakRssMB: worker.peakRss() / MB,
    };
    const found = {
      workflowTasks: counted((s) => s.tasks?.workflowTasks),
      activities: counted((s) => s.tasks?.activities),
      localActivities: counted((s) => s.tasks?.localActivities),
      statements: counted((s) => s.statements),
    };
    for (const [key, value] of Object.entries(found)) if (value !== undefined) share[key as keyof typeof found] = value;
    return share;
  });
}

const MB = 1024 * 1024;

/** Warm-up (JIT, connections, caches), and the shapes the engine-limit workflow copies. */
async function warmUp({ stack, worlds, ours, limit, options, failures }: ThroughputContext) {
  const warmCount = Math.max(options.warmup, SCENARIO_KINDS.filter((k) => options.mix[k] > 0).length);
  const warmKinds = kindSequence(warmCount, options.mix);
  // On the production shape only our orders run in the warm-up: the window for Temporal's persistence per order.
  const temporalDatabases = stack.temporalDatabases;
  const persistenceBefore = temporalDatabases.length ? await settledPersistenceSnapshot(stack.db, temporalDatabases) : undefined;
  const warm = await runClosedLoop(warmCount, options.concurrency, (i) =>
    driveRealOrder(ours, warmKinds[i], roundRobin(worlds, i), `WARM-${options.runId}-${i}`),
  );
  const persistence = persistenceBefore
    ? await persistencePerOrder(
        stack.db,
        persistenceBefore,
        await settledPersistenceSnapshot(stack.db, temporalDatabases),
        warm.results.length,
      )
    : undefined;
  failures.push(...warm.failures.slice(0, 3).map((f) => `warm-up order ${f.index} (${warmKinds[f.index]}): ${f.error}`));
  const shapes = await shapesFrom(stack, warm.results, options.mix).catch((err: Error) => {
    // Say why the warm-up orders failed: that is the actual problem.
    throw new Error(
      `${err.message}; warm-up failures: ${
        warm.failures
          .slice(0, 3)
          .map((f) => `order ${f.index} (${warmKinds[f.index]}): ${f.error}`)
          .join('; ') || 'none'
      }`,
    );
  });
  if (limit) {
    const warmLimit = await runClosedLoop(warmCount, options.concurrency, (i) =>
      driveEngineLimitOrder(limit, warmKinds[i], shapes[warmKinds[i]], `warm-${options.runId}-${i}`),
    );
    failures.push(...warmLimit.failures.slice(0, 3).map((f) => `engine-limit warm-up ${f.index}: ${f.error}`));
  }
  options.log(
    `  warm-up: ${warm.results.length} orders in ${((warm.finishedAtMs - warm.startedAtMs) / 1000).toFixed(1)} s; shapes ${JSON.stringify(shapes)}`,
  );
  return { warm, shapes, persistence };
}

/** The measured orders in rounds, ours then the engine limit's in each, with the CPU each side spent. */
async function runRounds(context: ThroughputContext, kinds: ScenarioKind[], shapes: Record<ScenarioKind, WorkflowShape>) {
  const { stack, worlds, ours, limit, workers, options } = context;
  const ourPids = workers.orders.map((w) => w.pid);
  const limitPids = (workers.engineLimit ?? []).map((w) => w.pid);
  let ourCpu: CpuSpent = NO_CPU;
  let limitCpu: CpuSpent = NO_CPU;
  const rounds = Math.max(1, Math.min(options.rounds, options.orders));
  const outcomes: OrderOutcome[] = [];
  const limitOutcomes: OrderOutcome[] = [];
  let ourSeconds = 0;
  let limitSeconds = 0;
  let ourFailures: Array<{ index: number; error: string }> = [];
  let limitFailures: Array<{ index: number; error: string }> = [];
  for (let round = 0; round < rounds; round++) {
    const from = Math.floor((round * options.orders) / rounds);
    const to = Math.floor(((round + 1) * options.orders) / rounds);
    const ourBefore = stack.cpu(ourPids);
    const a = await runClosedLoop(to - from, options.concurrency, (i) =>
      driveRealOrder(ours, kinds[from + i], roundRobin(worlds, from + i), `BENCH-${options.runId}-${from + i}`),
    );
    ourCpu = addCpu(ourCpu, cpuBetween(ourBefore, stack.cpu(ourPids)));
    ourSeconds += (a.finishedAtMs - a.startedAtMs) / 1000;
    outcomes.push(...a.results);
    ourFailures = ourFailures.concat(a.failures.map((f) => ({ index: from + f.index, error: f.error })));
    let line = `  round ${round + 1}/${rounds}: ours ${((to - from) / ((a.finishedAtMs - a.startedAtMs) / 1000)).toFixed(1)} orders/s`;
    if (limit) {
      const limitBefore = stack.cpu(limitPids);
      const b = await runClosedLoop(to - from, options.concurrency, (i) =>
        driveEngineLimitOrder(limit, kinds[from + i], shapes[kinds[from + i]], `${options.runId}-${from + i}`),
      );
      limitCpu = addCpu(limitCpu, cpuBetween(limitBefore, stack.cpu(limitPids)));
      limitSeconds += (b.finishedAtMs - b.startedAtMs) / 1000;
      limitOutcomes.push(...b.results);
      limitFailures = limitFailures.concat(b.failures.map((f) => ({ index: from + f.index, error: f.error })));
      line += `, engine limit ${((to - from) / ((b.finishedAtMs - b.startedAtMs) / 1000)).toFixed(1)} orders/s`;
    }
    options.log(line);
  }

  return { rounds, outcomes, limitOutcomes, ourSeconds, limitSeconds, ourFailures, limitFailures, ourCpu, limitCpu };
}

/** Booking to provisioned per order (fulfilled_at in Postgres), overall and per kind. */
async function provisionedLatencies(stack: BenchStack, outcomes: readonly OrderOutcome[], failures: string[]) {
  const fulfilled = await fulfilledAt(
    stack,
    outcomes.map((o) => o.orderId),
  );
  const provisioned: number[] = [];
  const perKindLatency = new Map<string, number[]>();
  for (const outcome of outcomes) {
    const at = fulfilled.get(outcome.orderId);
    if (at === undefined) {
      failures.push(`throughput order ${outcome.orderId} completed but has no fulfilled_at`);
      continue;
    }
    // fulfilled_at is Postgres now() of the provisioning transaction: same machine, same clock.
    const latency = Math.max(0, at - outcome.bookedAtMs);
    provisioned.push(latency);
    perKindLatency.set(outcome.kind, [...(perKindLatency.get(outcome.kind) ?? []), latency]);
  }
  const perKind: Record<string, { count: number; provisionedLatencyMs: LatencySummary }> = {};
  for (const kind of SCENARIO_KINDS) {
    const values = perKindLatency.get(kind);
    if (values) perKind[kind] = { count: values.length, provisionedLatencyMs: summarize(values) };
  }
  return { provisioned, perKind };
}
