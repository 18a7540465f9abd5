/**
 * Part 4: N orders parked in holding accounts. Per level, a fresh worker process (so its memory
 * is that level's), N held orders booked with bounded concurrency, then:
 *   - worker RSS (from /proc) and Postgres size once all are held;
 *   - the first reminder of every order: when each was sent (the SMTP server's arrival times),
 *     their spread and the most in one second, next to the same figures for the holds;
 *   - the bulk transfer: one batch request per partner (POST /v1/order-transfers), its orders'
 *     Updates sent by the worker's batch workflow with bounded concurrency, timed until completed.
 * The reminder interval is set per level to a bit more than the time the level takes to park,
 * so the first round of reminders begins after the last order is held (see chooseReminderInterval).
 */
import { bookOrder } from '../src/orders/book-order';
import type { TransferBatchResponseBody } from '../src/orders/transfer-schemas';
import type { TestWorld } from '../test/helpers/fixtures';
import { costOf } from './costs';
import { cpuBetween, perOrder, type CpuSnapshot } from './cpu';
import { bookingFor, createWorlds, ENGINE_LIMIT_WORKFLOW_TYPE, runClosedLoop } from './scenarios';
import type { BenchStack, BenchWorker } from './stack';
import { startBenchApi } from './transfer-api';
import { spreadOf, type ParkedLevelResult } from './report';

export interface ParkedOptions {
  bookConcurrency: number;
  transferConcurrency: number;
  /** Fixed reminder interval (ms); otherwise chosen per level. */
  reminderIntervalMs?: number;
  minReminderIntervalMs: number;
  /** Parking rate to plan the first level's reminder interval with (orders per second). */
  expectedParkRate: number;
  costSamples: number;
  timeoutMs: number;
  runId: string;
  log: (line: string) => void;
}

const MB = 1024 * 1024;

/**
 * A reminder interval a little longer than parking is expected to take, so no order's first
 * reminder fires while others are still being parked (which would measure two loads at once).
 */
export function chooseReminderInterval(orders: number, expectedParkRate: number, minimumMs: number): number {
  const expectedParkMs = (orders / Math.max(expectedParkRate, 0.1)) * 1000;
  return Math.max(minimumMs, Math.ceil((expectedParkMs * 1.25 + 5_000) / 1000) * 1000);
}

async function databaseSize(stack: BenchStack): Promise<number> {
  const { rows } = await stack.db.raw('SELECT pg_database_size(current_database())::bigint AS bytes');
  return Number(rows[0].bytes);
}

/** Samples the worker's RSS every second while a level runs; `phase` labels the samples that follow. */
function sampleRss(worker: BenchWorker): { phase(name: RssPhase): void; peakOf(name: RssPhase): number; stop(): number[] } {
  const samples: Array<{ phase: RssPhase; rss: number }> = [];
  let current: RssPhase = 'park';
  const timer = setInterval(() => samples.push({ phase: current, rss: worker.rss() }), 1000);
  return {
    phase(name) {
      samples.push({ phase: current, rss: worker.rss() });
      current = name;
    },
    peakOf: (name) => Math.max(0, ...samples.filter((x) => x.phase === name).map((x) => x.rss)),
    stop() {
      clearInterval(timer);
      return samples.map((x) => x.rss);
    },
  };
}

type RssPhase = 'park' | 'reminders' | 'transfer';

/** What the phases of one level share: the stack, the level's worker, its failures so far. */
interface LevelRun {
  stack: BenchStack;
  orders: number;
  options: ParkedOptions;
  worker: BenchWorker;
  taskQueue: string;
  failures: string[];
  snapshot: () => CpuSnapshot;
}

export async function runParkedLevel(
  stack: BenchStack,
  orders: number,
  options: ParkedOptions,
): Promise<ParkedLevelResult & { failures: string[] }> {
  const failures: string[] = [];
  const reminderIntervalMs =
    options.reminderIntervalMs ?? chooseReminderInterval(orders, options.expectedParkRate, options.minReminderIntervalMs);
  const taskQueue = `bench-parked-${orders}-${options.runId}`;
  const worlds: TestWorld[] = await createWorlds(stack.db, Math.min(10, Math.max(1, Math.ceil(orders / 100))), `pk${orders}-`);
  // The transfer's bound is the whole level's: shared by the batches (one per world) that run at once.
  const perBatchConcurrency = Math.max(1, Math.ceil(options.transferConcurrency / worlds.length));
  const env = { REMINDER_INTERVAL: `${Math.round(reminderIntervalMs / 1000)}s`, ESCALATION_AFTER: '30d' };
  const worker = await stack.startWorker({
    kind: 'orders',
    taskQueue,
    env: { ...env, ORDER_TRANSFER_CONCURRENCY: String(perBatchConcurrency) },
  });
  const sampler = sampleRss(worker);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const workerRssIdle = worker.rss();
    const dbBytesBefore = await databaseSize(stack);
    options.log(
      `  ${orders} parked: reminder interval ${reminderIntervalMs / 1000} s, idle worker RSS ${(workerRssIdle / MB).toFixed(0)} MB; parking...`,
    );

    const snapshot = () => stack.cpu([worker.pid]);
    const level: LevelRun = { stack, orders, options, worker, taskQueue, failures, snapshot };
    const park = await parkOrders(level, worlds, taskQueue);
    const parked = await measureParked(level, park, () => sampler.phase('reminders'), dbBytesBefore);
    const { workerRssParked, statsParked, dbBytesParked } = parked;

    const reminders = await awaitFirstReminders(level, park, reminderIntervalMs);
    sampler.phase('transfer');
    const transfer = await transferParked(level, park.booked, perBatchConcurrency);

    const samples = sampler.stop();
    const sampleIds = [...park.orderIds].slice(0, options.costSamples).map((id) => `order-${id}`);
    const cost = sampleIds.length ? (await costOf(stack.client, sampleIds)).cost : null;
    return {
      orders,
      reminderIntervalS: reminderIntervalMs / 1000,
      parkS: park.parkS,
      parkPerSecond: park.parked / park.parkS,
      workerRssIdleMB: workerRssIdle / MB,
      workerRssParkedMB: workerRssParked / MB,
      workerRssAfterRemindersMB: reminders.workerRssAfter / MB,
      workerRssPeakMB: Math.max(worker.peakRss(), ...samples) / MB,
      workerRssPeakByPhaseMB: {
        park: sampler.peakOf('park') / MB,
        reminders: sampler.peakOf('reminders') / MB,
        transfer: sampler.peakOf('transfer') / MB,
      },
      workerHeapUsedParkedMB: statsParked.heapUsed / MB,
      cachedWorkflowsParked: statsParked.cachedWorkflows,
      rssPerCachedWorkflowKB:
        statsParked.cachedWorkflows > 0 ? (workerRssParked - workerRssIdle) / 1024 / statsParked.cachedWorkflows : Number.NaN,
      maxCachedWorkflows: worker.maxCachedWorkflows,
      dbBytesBefore,
      dbBytesParked,
      dbBytesDelta: dbBytesParked - dbBytesBefore,
      holds: spreadOf(park.holdTimes),
      reminders: {
        ...spreadOf(reminders.firstReminders.map((m) => m.receivedAt)),
        expected: park.orderIds.size,
        missing: reminders.missing,
        waitedS: reminders.waitedS,
      },
      transfer: transfer.summary,
      costPerOrder: cost,
      cpuMsPerOrder: { park: park.cpu, transfer: transfer.cpu },
      failures,
    };
  } finally {
    sampler.stop();
    await worker.stop();
  }
}

type ParkedOrders = Awaited<ReturnType<typeof parkOrders>>;

/** Park: book held orders; an order counts as parked when its "transfer needed" email arrived. */
async function parkOrders(level: LevelRun, worlds: TestWorld[], taskQueue: string) {
  const { stack, orders, options, failures } = level;
  const beforePark = level.snapshot();
  const booked: Array<{ orderId: string; world: TestWorld }> = [];
  const park = await runClosedLoop(orders, options.bookConcurrency, async (i) => {
    const world = worlds[i % worlds.length];
    const result = await bookOrder(stack.client, taskQueue, bookingFor('held', world, `PARK-${options.runId}-${orders}-${i}`));
    booked.push({ orderId: result.orderId, world });
    await stack.mail.next(result.orderId, 'transfer-needed', options.timeoutMs);
    return result.orderId;
  });
  for (const f of park.failures.slice(0, 3)) failures.push(`parking order ${f.index}: ${f.error}`);
  if (park.failures.length > 3) failures.push(`parking: ${park.failures.length} orders failed in all`);
  if (park.results.length === 0) throw new Error(`${orders} parked: no order was parked (first error: ${park.failures[0]?.error})`);
  const orderIds = new Set(park.results);
  const cpu = perOrder(cpuBetween(beforePark, level.snapshot()), park.results.length);
  const holdTimes = (await stack.mail.ofTemplate('transfer-needed')).filter((m) => orderIds.has(m.orderId)).map((m) => m.receivedAt);
  const parkS = (Math.max(...holdTimes) - park.startedAtMs) / 1000;
  return { booked, orderIds, holdTimes, parkS, parked: park.results.length, cpu };
}

/** Once all are held: worker RSS and cache, Postgres size (then the reminders phase begins). */
async function measureParked(level: LevelRun, park: ParkedOrders, startReminderPhase: () => void, dbBytesBefore: number) {
  const { stack, orders, options, worker } = level;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const workerRssParked = worker.rss();
  startReminderPhase();
  const statsParked = await worker.stats();
  const dbBytesParked = await databaseSize(stack);
  options.log(
    `  ${orders} parked in ${park.parkS.toFixed(1)} s (${(orders / park.parkS).toFixed(1)}/s): worker RSS ${(workerRssParked / MB).toFixed(0)} MB, ` +
      `${statsParked.cachedWorkflows} workflows cached, Postgres +${((dbBytesParked - dbBytesBefore) / MB).toFixed(1)} MB; waiting for the first reminders...`,
  );
  return { workerRssParked, statsParked, dbBytesParked };
}

/** The first reminder of every parked order, waited for until a deadline past the interval. */
async function awaitFirstReminders(level: LevelRun, park: ParkedOrders, reminderIntervalMs: number) {
  const { stack, orders, failures } = level;
  // BENCH_SKIP_REMINDERS=1 (with a long --reminder-interval): straight from parked to the
  // transfer, to iterate on the transfer alone; the reminder figures then read 0.
  if (process.env.BENCH_SKIP_REMINDERS === '1') return { firstReminders: [], missing: 0, waitedS: 0, workerRssAfter: level.worker.rss() };
  const { orderIds, holdTimes, parkS } = park;
  const isFirstReminder = (m: { orderId: string; idempotencyKey: string }) =>
    orderIds.has(m.orderId) && m.idempotencyKey.includes(':transfer-reminder:1:');
  const waitStart = Date.now();
  const deadline = Math.max(...holdTimes) + reminderIntervalMs + Math.max(60_000, parkS * 1000);
  let firstReminders = (await stack.mail.ofTemplate('transfer-reminder')).filter(isFirstReminder);
  while (firstReminders.length < orderIds.size && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    firstReminders = (await stack.mail.ofTemplate('transfer-reminder')).filter(isFirstReminder);
  }
  const waitedS = (Date.now() - waitStart) / 1000;
  const missing = orderIds.size - new Set(firstReminders.map((m) => m.orderId)).size;
  if (missing > 0)
    failures.push(`${orders} parked: ${missing} orders sent no first reminder within ${((deadline - waitStart) / 1000).toFixed(0)} s`);
  const workerRssAfter = level.worker.rss();
  // The bulk transfer follows: every parked order assigned to its customer's account.
  level.options.log(
    `  ${orders} parked: ${firstReminders.length} first reminders (spread ${spreadOf(firstReminders.map((m) => m.receivedAt)).spreadS.toFixed(1)} s); transferring...`,
  );
  return { firstReminders, missing, waitedS, workerRssAfter };
}

/** How long the bulk transfer is waited for before the orders not yet moved are counted as failures. */
const TRANSFER_WAIT_MS = 15 * 60_000;

/**
 * The bulk transfer through the product's batch route (POST /v1/order-transfers): one request
 * per world (a partner and its customer's account), the worker's batch workflows sending each
 * order its Update, timed until every batch reads completed (GET, from Postgres).
 */
async function transferParked(level: LevelRun, booked: ParkedOrders['booked'], perBatchConcurrency: number) {
  const { stack, orders, options, failures } = level;
  const beforeTransfer = level.snapshot();
  const api = await startBenchApi(stack, level.taskQueue);
  const byWorld = new Map<TestWorld, string[]>();
  for (const { orderId, world } of booked) byWorld.set(world, [...(byWorld.get(world) ?? []), orderId]);
  const startedAt = Date.now();
  let batches: Array<{ key: string; batchId: string }> = [];
  let last: TransferBatchResponseBody[] = [];
  try {
    batches = await Promise.all(
      [...byWorld].map(async ([world, orderIds]) => {
        const key = await api.keyFor(world.partnerId);
        const body = {
          requestKey: `bench-${options.runId}-${orders}`,
          accountId: world.smartAccountId,
          virtualAccountPath: 'Finance',
          orderIds,
        };
        const res = await api.call('POST', '/v1/order-transfers', key, body);
        if (res.status !== 202) throw new Error(`POST /v1/order-transfers answered ${res.status}: ${JSON.stringify(res.body)}`);
        return { key, batchId: (res.body as TransferBatchResponseBody).batchId };
      }),
    );
    // At most 15 minutes (the target is 2): a stalled transfer gives a figure (the orders moved by then), not a lost run.
    for (const deadline = startedAt + Math.min(options.timeoutMs * 10, TRANSFER_WAIT_MS); Date.now() < deadline;) {
      last = await Promise.all(
        batches.map(async (b) => (await api.call('GET', `/v1/order-transfers/${b.batchId}`, b.key)).body as TransferBatchResponseBody),
      );
      if (last.every((b) => b.status === 'completed')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await api.close();
  }
  const transferS = (Date.now() - startedAt) / 1000;
  const succeeded = last.reduce((n, b) => n + b.succeeded, 0);
  const notMoved = booked.length - succeeded;
  const cpu = perOrder(cpuBetween(beforeTransfer, level.snapshot()), Math.max(1, succeeded));
  const firstRefusal = last.flatMap((b) => b.refusals)[0];
  if (notMoved > 0)
    failures.push(`${orders} parked: ${notMoved} orders not transferred${firstRefusal ? `, first refusal: ${firstRefusal.reason}` : ''}`);
  options.log(
    `  ${orders} parked: transferred in ${transferS.toFixed(1)} s (${(succeeded / transferS).toFixed(1)}/s) by ${batches.length} batches`,
  );
  const summary = {
    s: transferS,
    perSecond: succeeded / transferS,
    concurrency: perBatchConcurrency * batches.length,
    failures: notMoved,
    ...(firstRefusal ? { firstError: firstRefusal.reason } : {}),
  };
  return { summary, cpu };
}

/** Idle RSS of a fresh order worker with the pre-built bundle and when it bundles at start. */
export async function idleWorkerRss(stack: BenchStack, runId: string): Promise<{ prebuiltBundleMB: number; bundlingAtStartMB: number }> {
  const measure = async (bundleAtStart: boolean) => {
    const worker = await stack.startWorker({
      kind: 'orders',
      taskQueue: `bench-idle-${bundleAtStart ? 'bundling' : 'prebuilt'}-${runId}`,
      bundleAtStart,
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      return worker.rss() / MB;
    } finally {
      await worker.stop();
    }
  };
  return { prebuiltBundleMB: await measure(false), bundlingAtStartMB: await measure(true) };
}

/**
 * What one cached workflow costs a worker when the workflow is the engine-limit one (no product
 * code): `count` of them started and left waiting for their signals, RSS above idle divided by
 * the cached count. Compared with the parked orders' figure, it tells the SDK's share from ours.
 */
export async function engineLimitCachedWorkflowRss(
  stack: BenchStack,
  runId: string,
  count: number,
): Promise<{ workflows: number; rssPerCachedWorkflowKB: number }> {
  const taskQueue = `bench-cache-${runId}`;
  const worker = await stack.startWorker({ kind: 'engine-limit', taskQueue });
  const shape = { localActivities: 1, startActivities: 3, updateActivities: 0, endActivities: 4, timers: 1, signals: 2, updates: 0 };
  const ids: string[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idle = worker.rss();
    const started = await runClosedLoop(count, 20, async (i) => {
      const handle = await stack.plainClient.workflow.start(ENGINE_LIMIT_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: `cache-${runId}-${i}`,
        args: [shape],
      });
      ids.push(handle.workflowId);
      // Parked once its start activities ran and it waits for the signals (with a timer).
      for (let tries = 0; tries < 600; tries++) {
        const described = await handle.describe();
        if ((described.historyLength ?? 0) >= 15) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      throw new Error(`${handle.workflowId} did not reach its wait`);
    });
    if (started.failures.length) throw new Error(`engine-limit cache measure: ${started.failures[0].error}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const stats = await worker.stats();
    return {
      workflows: stats.cachedWorkflows,
      rssPerCachedWorkflowKB: stats.cachedWorkflows > 0 ? (worker.rss() - idle) / 1024 / stats.cachedWorkflows : Number.NaN,
    };
  } finally {
    await worker.stop();
    // Nothing else needs them; closed, they cost the server nothing either.
    await Promise.all(
      ids.map((id) =>
        stack.plainClient.workflow
          .getHandle(id)
          .terminate('benchmark measure done')
          .catch(() => undefined),
      ),
    );
  }
}
