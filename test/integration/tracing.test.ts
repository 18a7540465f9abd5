/**
 * Tracing, with the processes operators run (`tsx workers/api.ts`, `tsx workers/main.ts`) told
 * where a collector is (OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT), and a collector of our
 * own that keeps what they post (test/helpers/otlp-receiver.ts). A booking through HTTP is one
 * trace: the request's span, the client's StartWorkflow, the workflow's RunWorkflow, and a
 * StartActivity and RunActivity for each activity the order ran, each the child of the one
 * before. An order started without a trace context runs as before: no header on its commands.
 * Both histories replay against the one bundle every worker runs.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createApiKey } from '../../src/api/auth';
import { loadConfig } from '../../src/config';
import { createDb, type Db } from '../../src/db/knex';
import { freePort } from '../../src/dev/free-port';
import { bookOrder } from '../../src/orders/book-order';
import { workerTracingOptions } from '../../src/observability/tracing';
import { dataConverterFor } from '../../src/temporal/connect';
import { createTestWorld } from '../helpers/fixtures';
import { apiBody, directBooking, pollUntil, waitForPhase } from '../helpers/orders';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { uniqueSuffix } from '../helpers/stack';

const ROOT = resolve(__dirname, '../..');
const TRACE_HEADER = '_tracer-data';
const SERVER = 2;

interface RunningProcess {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  exited: Promise<number | null>;
}

const taskQueue = `test-tracing-${uniqueSuffix()}`;
let receiver: OtlpReceiver;
let db: Db;
let connection: Connection;
let client: Client;
let worker: RunningProcess;
let api: RunningProcess;
let apiUrl: string;

beforeAll(async () => {
  // The replay below runs in this process: only its errors are of interest.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  receiver = await startOtlpReceiver();
  db = createDb(process.env.DATABASE_URL!, 2);
  connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  client = new Client({ connection, namespace: 'default', dataConverter: dataConverterFor(loadConfig()) });
  const [metricsPort, apiPort] = [await freePort(), await freePort()];
  apiUrl = `http://127.0.0.1:${apiPort}`;
  // Spans are posted every 200 ms instead of 5 s, so the test waits less.
  const common = { TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'INFO', OTEL_BSP_SCHEDULE_DELAY: '200' };
  worker = start('workers/main.ts', {
    ...common,
    WORKER_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
    WORKFLOW_BUNDLE_PATH: process.env.TEST_WORKFLOW_BUNDLE!,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  });
  api = start('workers/api.ts', {
    ...common,
    API_LISTEN: `127.0.0.1:${apiPort}`,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    // Compiling its TypeScript as it starts can hold the loop past the shedding bound on a busy
    // machine, and a shed booking has no trace to check: shedding has its own test.
    API_MAX_EVENT_LOOP_DELAY: '0',
  });
  await pollUntil(() => Promise.resolve(worker.lines.some((l) => l.includes('"worker polling"'))), Boolean, 'the worker polling', 90_000);
  await pollUntil(
    () =>
      fetch(`${apiUrl}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
    Boolean,
    'the API answering',
    90_000,
  );
}, 120_000);

afterAll(async () => {
  for (const running of [api, worker]) {
    if (running && running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGTERM');
      const killer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
      await running.exited;
      clearTimeout(killer);
    }
  }
  await connection?.close();
  await db?.destroy();
  await receiver?.close();
}, 40_000);

function start(entry: string, env: Record<string, string>): RunningProcess {
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [entry], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => lines.push(line));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, lines, exited };
}

/** The activities a run completed, by type, in the order they were scheduled. */
function completedActivities(events: temporal.api.history.v1.IHistoryEvent[]): string[] {
  const scheduled = new Map<string, string>();
  const completed: string[] = [];
  for (const event of events) {
    const attributes = event.activityTaskScheduledEventAttributes;
    if (attributes) scheduled.set(String(event.eventId), attributes.activityType!.name!);
    const done = event.activityTaskCompletedEventAttributes;
    if (done) completed.push(scheduled.get(String(done.scheduledEventId))!);
  }
  return completed;
}

function scheduledHeaders(events: temporal.api.history.v1.IHistoryEvent[]): string[][] {
  return events
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => Object.keys(e.activityTaskScheduledEventAttributes!.header?.fields ?? {}));
}

/** POSTs `body` to the API with the partner's key. */
async function post(key: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** The spans received so far that have `name`, once at least `count` of them arrived. */
function received(name: string, count = 1): Promise<ReceivedSpan[]> {
  return pollUntil(
    () => Promise.resolve(receiver.spans.filter((s) => s.name === name)),
    (spans) => spans.length >= count,
    `${count} span(s) ${name}`,
  );
}

test('a booking through HTTP is one trace: the request, StartWorkflow, RunWorkflow and each activity, parent to child', async () => {
  const world = await createTestWorld(db, uniqueSuffix());
  const { key } = await createApiKey(db, { role: 'partner', partnerId: world.partnerId, label: 'tracing test' });
  const booked = await post(key, '/v1/orders', apiBody(directBooking(world, { externalReference: `TRACED-${world.suffix}` })));
  expect(booked).toMatchObject({ status: 201 });
  const { orderId, workflowId } = booked.body as { orderId: string; workflowId: string };
  await waitForPhase(client, workflowId, 'AwaitingShipment');
  // Shipped through HTTP too, so the run ends (its RunWorkflow span is sent when it ends).
  for (const lineNumber of [1, 2]) {
    expect((await post(key, `/v1/orders/${orderId}/shipments`, { lineNumber, shippedOn: '2026-01-31' })).status).toBe(202);
  }
  const handle = client.workflow.getHandle(workflowId);
  expect(((await handle.result()) as { phase: string }).phase).toBe('Fulfilled');
  const { events } = await handle.fetchHistory();
  const activities = completedActivities(events!);
  expect(activities).toEqual(expect.arrayContaining(['recordBooking', 'placeLinesAndAnnounce', 'provisionLinesAndAnnounce']));
  // The run carries its context to every activity it schedules.
  expect(scheduledHeaders(events!).every((keys) => keys.includes(TRACE_HEADER))).toBe(true);

  // The booking request's span, then everything under it: one trace, wherever the spans were made.
  const [http] = await received('POST /v1/orders');
  const [run] = await received('RunWorkflow:orderFulfillment');
  for (const activity of new Set(activities)) await received(`RunActivity:${activity}`, activities.filter((a) => a === activity).length);
  expect(receiver.contentTypes.every((type) => type.startsWith('application/json'))).toBe(true);
  const trace = receiver.spans.filter((s) => s.traceId === http.traceId);
  const named = (name: string) => trace.filter((s) => s.name === name);

  expect(http).toMatchObject({ service: 'license-fulfillment-api', kind: SERVER, parentSpanId: '' });
  expect(http.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/orders', 'http.response.status_code': 201 });
  const [start] = named('StartWorkflow:orderFulfillment');
  expect(start).toMatchObject({ service: 'license-fulfillment-api', parentSpanId: http.spanId });
  expect(run).toMatchObject({ service: 'license-fulfillment-worker', traceId: http.traceId, parentSpanId: start.spanId });
  for (const activity of new Set(activities)) {
    const scheduled = named(`StartActivity:${activity}`);
    const ran = named(`RunActivity:${activity}`);
    expect(ran.length).toBe(activities.filter((a) => a === activity).length);
    for (const span of scheduled) expect(span).toMatchObject({ service: 'license-fulfillment-worker', parentSpanId: run.spanId });
    for (const span of ran) {
      expect(span.service).toBe('license-fulfillment-worker');
      expect(scheduled.map((s) => s.spanId)).toContain(span.parentSpanId);
    }
  }
  // Every span of the trace hangs from another span of it, except the request's.
  const ids = new Set(trace.map((s) => s.spanId));
  expect(trace.filter((s) => s !== http && !ids.has(s.parentSpanId)).map((s) => s.name)).toEqual([]);

  // Each shipment request is a trace of its own, down to the workflow's signal handler.
  const shipments = await received('POST /v1/orders/:orderId/shipments', 2);
  for (const request of shipments) {
    const spans = receiver.spans.filter((s) => s.traceId === request.traceId);
    const signal = spans.find((s) => s.name === 'SignalWorkflow:lineShipped');
    expect(signal).toMatchObject({ service: 'license-fulfillment-api', parentSpanId: request.spanId });
    expect(spans.find((s) => s.name === 'HandleSignal:lineShipped')).toMatchObject({
      service: 'license-fulfillment-worker',
      parentSpanId: signal!.spanId,
    });
  }
  // The health probes the test polled make no spans.
  expect(receiver.spans.filter((s) => s.name.includes('/healthz'))).toEqual([]);

  // Started without a trace context (a client with no tracing), an order's commands carry no header.
  const untraced = await bookOrder(client, taskQueue, directBooking(world, { externalReference: `UNTRACED-${world.suffix}` }));
  await waitForPhase(client, untraced.workflowId, 'AwaitingShipment');
  const untracedHistory = await client.workflow.getHandle(untraced.workflowId).fetchHistory();
  expect(scheduledHeaders(untracedHistory.events!).flat()).not.toContain(TRACE_HEADER);
  expect(receiver.spans.filter((s) => s.attributes.temporalWorkflowId === untraced.workflowId)).toEqual([]);

  // Both histories replay against the bundle every worker runs, traced or not.
  const results = Worker.runReplayHistories(
    {
      workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
      dataConverter: dataConverterFor(loadConfig()),
      sinks: workerTracingOptions(undefined).sinks,
    },
    [
      { workflowId, history: await handle.fetchHistory() },
      { workflowId: untraced.workflowId, history: untracedHistory },
    ],
  );
  const failures: string[] = [];
  for await (const result of results) if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  expect(failures).toEqual([]);
}, 90_000);

test('the API and the worker, traced, still stop cleanly on SIGTERM', async () => {
  for (const running of [api, worker]) running.child.kill('SIGTERM');
  expect(await Promise.all([api.exited, worker.exited])).toEqual([0, 0]);
}, 30_000);
