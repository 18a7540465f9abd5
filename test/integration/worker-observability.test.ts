/**
 * The worker process as operators run it (`tsx workers/main.ts`), against the test stack: its
 * stdout is JSON lines (the SDK's, the workflow's and the activities' logs, with workflow and
 * order IDs), its /metrics serves the SDK's metrics and order_phase_entered, and it
 * stops cleanly on SIGTERM. Plus the counting rule itself: a phase is counted once per real
 * change of orders.status, never for a repeated, concurrent or rolled-back write.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import {
  noopMetricMeter,
  type LogLevel as TemporalLogLevel,
  type LogMetadata,
  type MetricMeter,
  type MetricTags,
} from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBookingActivities } from '../../activities/orders/booking';
import { writeListStatus } from '../../activities/orders/records';
import { loadConfig } from '../../src/config';
import { freePort } from '../../src/dev/free-port';
import { dataConverterFor } from '../../src/temporal/connect';
import { bookOrder, deriveOrderId } from '../../src/orders/book-order';
import { createDb, type Db } from '../../src/db/knex';
import { ORDER_PHASES, type OrderStatus } from '../../src/orders/order-lifecycle';
import { orderWorkflowId } from '../../src/orders/workflow-api';
import { createTestWorld } from '../helpers/fixtures';
import { directBooking, shipLines, waitForPhase } from '../helpers/orders';
import { uniqueSuffix } from '../helpers/stack';

const ROOT = resolve(__dirname, '../..');
const PHASE_COUNTER = 'order_phase_entered';

describe('the worker process', () => {
  const taskQueue = `test-worker-observability-${uniqueSuffix()}`;
  let metricsUrl: string;
  /** A password the worker is given in DATABASE_URL and must never print (Postgres on trust auth ignores it). */
  let secret: string;
  let db: Db;
  let connection: Connection;
  let client: Client;
  let worker: ChildProcessWithoutNullStreams;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  const stdoutLines: string[] = [];
  let stderr = '';

  beforeAll(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    const databaseUrl = new URL(process.env.DATABASE_URL!);
    if (!databaseUrl.password) databaseUrl.password = `pw-${randomBytes(6).toString('hex')}`;
    secret = decodeURIComponent(databaseUrl.password);
    db = createDb(process.env.DATABASE_URL!, 2);
    connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
    client = new Client({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      dataConverter: dataConverterFor(loadConfig()),
    });

    worker = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['workers/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl.toString(),
        TEMPORAL_TASK_QUEUE: taskQueue,
        WORKER_METRICS_LISTEN: `127.0.0.1:${port}`,
        LOG_LEVEL: 'INFO',
        // As in the image: the pre-built bundle, and a bounded workflow cache.
        WORKFLOW_BUNDLE_PATH: process.env.TEST_WORKFLOW_BUNDLE!,
        WORKER_MAX_CACHED_WORKFLOWS: '40',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    exited = new Promise((done) => worker.once('exit', (code, signal) => done({ code, signal })));
    createInterface({ input: worker.stdout }).on('line', (line) => stdoutLines.push(line));
    worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

    // Ready once it says it polls and /metrics answers.
    await waitUntil(async () => {
      if (worker.exitCode !== null) throw new Error(`the worker exited (${worker.exitCode}):\n${stdoutLines.join('\n')}\n${stderr}`);
      return stdoutLines.some((line) => line.includes('"worker polling"')) && (await scrape().catch(() => undefined)) !== undefined;
    }, 90_000);
  }, 120_000);

  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGTERM');
      const killer = setTimeout(() => worker.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    await connection?.close();
    await db?.destroy();
  }, 30_000);

  async function scrape(): Promise<string> {
    const response = await fetch(metricsUrl);
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
    return response.text();
  }

  function logLines(): Array<Record<string, unknown>> {
    return stdoutLines.map((line) => JSON.parse(line));
  }

  test('an order it runs shows in /metrics (SDK metrics, one count per phase entered) and in its JSON log lines', async () => {
    const world = await createTestWorld(db, uniqueSuffix());
    const booked = await bookOrder(client, taskQueue, directBooking(world));
    await waitForPhase(client, booked.workflowId, 'AwaitingShipment');
    await shipLines(client, booked.orderId, '2026-01-31');
    const result: OrderStatus = await client.workflow.getHandle(booked.workflowId).result();
    expect(result.phase).toBe('Fulfilled');
    expect(await db('orders').where({ id: booked.orderId }).first('status')).toEqual({ status: 'Fulfilled' });

    // The SDK's own metrics, on this worker's task queue.
    const metrics = await scrape();
    expect(sum(samples(metrics, 'temporal_workflow_completed', { task_queue: taskQueue }))).toBeGreaterThanOrEqual(1);
    expect(samples(metrics, 'temporal_activity_execution_latency_count', { task_queue: taskQueue }).length).toBeGreaterThan(0);
    expect(samples(metrics, 'temporal_worker_task_slots_available', { task_queue: taskQueue }).length).toBeGreaterThan(0);

    // The phase counter: this worker ran only this order, which entered Booked once, AwaitingShipment
    // once (deposit) and Fulfilled once, however many writes kept the status as it was.
    const entered = samples(metrics, PHASE_COUNTER, { taskQueue });
    expect(entered.length).toBeGreaterThan(0);
    for (const sample of entered) expect(ORDER_PHASES).toContain(sample.labels.phase);
    expect(sum(entered.filter((s) => s.labels.phase === 'Booked'))).toBe(1);
    expect(sum(entered.filter((s) => s.labels.phase === 'AwaitingShipment'))).toBe(1);
    expect(sum(entered.filter((s) => s.labels.phase === 'Fulfilled'))).toBe(1);
    // The last provisioning and its "fulfilled" email are one activity (patch one-activity-per-phase-and-spread-reminders).
    expect(entered.filter((s) => s.labels.phase === 'Fulfilled')[0].labels.activityType).toBe('provisionLinesAndAnnounce');

    // Logs: every stdout line is one JSON object of this service, at INFO or above...
    await waitUntil(async () => logLines().some((l) => l.orderId === booked.orderId && l.phase === 'Fulfilled'), 5_000);
    const lines = logLines();
    for (const line of lines) {
      expect(line).toMatchObject({ service: 'worker', msg: expect.any(String), time: expect.any(String) });
      expect(['info', 'warn', 'error', 'fatal']).toContain(line.level);
    }
    // ...the activity's line carries the workflow, the run, the activity, the task queue and the order.
    const fulfilled = lines.find((l) => l.msg === 'order entered phase' && l.phase === 'Fulfilled' && l.workflowId === booked.workflowId);
    expect(fulfilled).toMatchObject({
      orderId: booked.orderId,
      previousPhase: expect.stringMatching(/^(AwaitingShipment|Provisioning)$/),
      runId: expect.any(String),
      activityType: 'provisionLinesAndAnnounce',
      taskQueue,
      sdkComponent: 'activity',
    });
    expect(fulfilled).not.toHaveProperty('taskToken');
    // The start-up line names where it connects, without the database password.
    expect(lines.find((l) => l.msg === 'worker polling')).toMatchObject({
      taskQueue,
      metrics: metricsUrl,
      database: expect.stringContaining('***@'),
      workflowBundle: process.env.TEST_WORKFLOW_BUNDLE,
      maxCachedWorkflows: 40,
    });
    expect(stdoutLines.join('\n') + stderr).not.toContain(secret);
  });

  test('SIGTERM drains and stops it cleanly: exit code 0, "worker stopped" logged, /metrics closed', async () => {
    worker.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([exited, new Promise((done) => (timer = setTimeout(() => done('still running'), 20_000)))]);
    clearTimeout(timer);
    expect(exit).toEqual({ code: 0, signal: null });
    const messages = logLines().map((l) => l.msg);
    // Drained first (the polls and activities done), then its connections and pool closed.
    expect(messages.indexOf('worker drained')).toBeGreaterThan(messages.indexOf('worker polling'));
    expect(messages.indexOf('worker stopped')).toBeGreaterThan(messages.indexOf('worker drained'));
    await expect(scrape()).rejects.toThrow();
  }, 30_000);
});

test('a WORKFLOW_BUNDLE_PATH that is not there stops the worker at once, naming the variable', async () => {
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['workers/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, WORKFLOW_BUNDLE_PATH: 'dist/no-such-bundle.js', WORKER_METRICS_LISTEN: `127.0.0.1:${await freePort()}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise((done) => child.once('exit', done));
  expect(code).toBe(1);
  expect(output).toContain('WORKFLOW_BUNDLE_PATH=dist/no-such-bundle.js: no such file');
}, 60_000);

describe('counting phase changes (writeListStatus in an activity context)', () => {
  let db: Db;
  beforeAll(() => {
    db = createDb(process.env.DATABASE_URL!, 4);
  });
  afterAll(async () => {
    await db.destroy();
  });

  test('a phase is counted once per real change: not for a repeat, not for an overlapping retry, not for a rollback', async () => {
    const world = await createTestWorld(db, uniqueSuffix());
    const booking = directBooking(world);
    const orderId = deriveOrderId(booking.bookedByPartnerId, booking.externalReference);
    const workflowId = orderWorkflowId(orderId);
    await createBookingActivities(db).recordBooking({ ...booking, orderId, partnerId: world.partnerId }, workflowId);

    const meter = new RecordingMeter();
    const logs: Array<{ level: TemporalLogLevel; message: string; meta?: LogMetadata }> = [];
    const env = new MockActivityEnvironment(
      { activityType: 'placeLines', taskQueue: 'phase-counting', workflowExecution: { workflowId, runId: 'run-1' } },
      { metricMeter: meter, logger: recordingLogger(logs) },
    );
    type Phase = 'AwaitingShipment' | 'Provisioning' | 'Fulfilled';
    const write = (phase: Phase, options: { fail?: boolean; written?: () => void; commitAfterMs?: number } = {}) =>
      env.run(() =>
        db.transaction(async (trx) => {
          await writeListStatus(trx, orderId, { phase, waitingFor: phase === 'Fulfilled' ? 'Nothing' : 'Shipment' });
          options.written?.();
          if (options.commitAfterMs) await sleep(options.commitAfterMs);
          if (options.fail) throw new Error('the commit never happens');
        }),
      );
    const counted = (phase: string) => sum(meter.adds.filter((a) => a.tags.phase === phase).map((a) => ({ value: a.value })));

    await write('AwaitingShipment');
    expect(counted('AwaitingShipment')).toBe(1);
    // A retried activity writes the same status again: nothing more.
    await write('AwaitingShipment');
    expect(counted('AwaitingShipment')).toBe(1);
    // A second attempt while the first has written but not committed yet (a retry after a
    // timeout): it waits for the row, then sees the status already written, and does not count.
    let firstWritten!: () => void;
    const written = new Promise<void>((done) => (firstWritten = done));
    const first = write('Provisioning', { written: firstWritten, commitAfterMs: 300 });
    await written;
    await Promise.all([first, write('Provisioning')]);
    expect(counted('Provisioning')).toBe(1);
    // A write that rolls back entered no phase; the attempt that commits counts it.
    await expect(write('Fulfilled', { fail: true })).rejects.toThrow('the commit never happens');
    expect(await db('orders').where({ id: orderId }).first('status')).toEqual({ status: 'Provisioning' });
    expect(counted('Fulfilled')).toBe(0);
    await write('Fulfilled');
    expect(counted('Fulfilled')).toBe(1);

    expect(meter.adds.map((a) => a.name)).toEqual(Array(3).fill('order_phase_entered'));
    expect(meter.adds[0].tags).toMatchObject({ phase: 'AwaitingShipment', activityType: 'placeLines', taskQueue: 'phase-counting' });
    const entered = logs.filter((l) => l.message === 'order entered phase');
    expect(entered.map((l) => [l.meta?.phase, l.meta?.previousPhase, l.meta?.orderId, l.meta?.workflowId])).toEqual([
      ['AwaitingShipment', 'Booked', orderId, workflowId],
      ['Provisioning', 'AwaitingShipment', orderId, workflowId],
      ['Fulfilled', 'Provisioning', orderId, workflowId],
    ]);
  });

  test('outside an activity (a script, a direct call) the write still happens and nothing is counted', async () => {
    const world = await createTestWorld(db, uniqueSuffix());
    const booking = directBooking(world);
    const orderId = deriveOrderId(booking.bookedByPartnerId, booking.externalReference);
    await createBookingActivities(db).recordBooking({ ...booking, orderId, partnerId: world.partnerId }, orderWorkflowId(orderId));
    await db.transaction((trx) => writeListStatus(trx, orderId, { phase: 'AwaitingShipment', waitingFor: 'Shipment' }));
    expect(await db('orders').where({ id: orderId }).first('status', 'waiting_for')).toEqual({
      status: 'AwaitingShipment',
      waiting_for: 'Shipment',
    });
  });
});

// ---- helpers ----

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in Prometheus text format whose labels include `match`. */
function samples(text: string, name: string, match: Record<string, string> = {}): Sample[] {
  const found: Sample[] = [];
  for (const line of text.split('\n')) {
    const parsed = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!parsed || parsed[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (parsed[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    if (Object.entries(match).every(([key, value]) => labels[key] === value)) found.push({ labels, value: Number(parsed[3]) });
  }
  return found;
}

function sum(found: Array<{ value: number }>): number {
  return found.reduce((total, s) => total + s.value, 0);
}

/** A MetricMeter that remembers every counter increment (the rest is the SDK's no-op meter). */
class RecordingMeter implements MetricMeter {
  readonly adds: Array<{ name: string; value: number; tags: MetricTags }> = [];
  createCounter(name: string, unit?: string, description?: string) {
    const adds = this.adds;
    const counter = {
      ...noopMetricMeter.createCounter(name, unit, description),
      add(value: number, tags: MetricTags = {}) {
        adds.push({ name, value, tags });
      },
      withTags: () => counter,
    };
    return counter;
  }
  createHistogram = noopMetricMeter.createHistogram.bind(noopMetricMeter);
  createGauge = noopMetricMeter.createGauge.bind(noopMetricMeter);
  withTags(): MetricMeter {
    return this;
  }
}

function recordingLogger(into: Array<{ level: TemporalLogLevel; message: string; meta?: LogMetadata }>) {
  const log = (level: TemporalLogLevel, message: string, meta?: LogMetadata) => void into.push({ level, message, meta });
  return {
    log,
    trace: (message: string, meta?: LogMetadata) => log('TRACE', message, meta),
    debug: (message: string, meta?: LogMetadata) => log('DEBUG', message, meta),
    info: (message: string, meta?: LogMetadata) => log('INFO', message, meta),
    warn: (message: string, meta?: LogMetadata) => log('WARN', message, meta),
    error: (message: string, meta?: LogMetadata) => log('ERROR', message, meta),
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(200);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
