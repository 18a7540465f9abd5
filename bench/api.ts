/**
 * Part 5: the HTTP API under load. The API is the product's own (buildApi), listening in the
 * driver process on this stack (its Postgres, its Temporal server); the load comes from
 * autocannon in a child process (bench/api-load.ts), authenticated with a partner key made by
 * createApiKey.
 *   - bare start: direct orders started by a bare client.workflow.start behind a bench-only route
 *     of the same app (no key, no checks, no search attributes), run first;
 *   - booking: POST /v1/orders, each request a new direct order (a new workflow each); its req/s
 *     over the bare start's is what the booking's own work costs (target >= 0.8, issue 16). Both
 *     start their workflows on task queues no worker polls during the loads, so neither meets a
 *     worker running the other's orders (the bare start's backlog used to fall on the booking);
 *   - status:  GET /v1/orders/:id over the orders just booked, once an order worker started on
 *     the booking's queue has run them and been stopped again (one Postgres read each: the status
 *     the activities committed; no workflow query).
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { createApiKey } from '../src/api/auth';
import { buildApi } from '../src/api/server';
import { createLogger } from '../src/logging';
import type { TestWorld } from '../test/helpers/fixtures';
import type { AutocannonResult, LoadJob } from './api-load';
import { startCpuProfile } from './cpu-profile';
import { bookingFor } from './scenarios';
import { deriveOrderId } from '../src/orders/book-order';
import { ORDER_WORKFLOW_TYPE, orderWorkflowId } from '../src/orders/workflow-api';
import type { BookOrderInput } from '../src/orders/order';
import { ROOT, type BenchStack, type BenchWorker } from './stack';
import type { ApiLoadResult, ApiResult } from './report';

export interface ApiOptions {
  connections: number;
  durationS: number;
  runId: string;
  log: (line: string) => void;
}

export function runLoad(job: LoadJob): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(ROOT, 'bench', 'api-load.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (message: { type: string; result?: AutocannonResult; message?: string }) => {
      if (message.type === 'result') resolve(message.result!);
      else reject(new Error(`autocannon failed: ${message.message}`));
    });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the load generator exited with ${code}`));
    });
    child.send(job);
  });
}

export function toResult(name: string, job: LoadJob, r: AutocannonResult): ApiLoadResult {
  return {
    name,
    connections: job.connections,
    durationS: r.duration,
    requests: r.requests.total,
    requestsPerSecond: r.requests.total / r.duration,
    latencyMs: {
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
      mean: r.latency.mean ?? r.latency.average,
    },
    non2xx: r.non2xx,
    errors: r.errors,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, s]) => [code, Number(s.count)])),
  };
}

/**
 * One load against the API in this process, with what it cost: the API's CPU per request (this
 * process's, so its load generator's is not in it, nor the bench's SMTP server's, which receives
 * the worker's emails meanwhile in a process of its own), the generator's, and the statements the
 * API sent (counted on its knex). BENCH_API_CPU_PROF=<dir> writes a V8 CPU profile of this process
 * per load there (bench/cpu-profile.ts; node refuses --cpu-prof in NODE_OPTIONS).
 */
async function measuredLoad(stack: BenchStack, name: string, job: LoadJob): Promise<ApiLoadResult> {
  let statements = 0;
  const count = () => statements++;
  const stopProfile = await startCpuProfile(`api-${job.name.replace(/[^A-Za-z0-9]+/g, '-')}`);
  stack.db.on('query', count);
  const cpuBefore = process.cpuUsage();
  try {
    const run = await runLoad(job);
    const cpu = process.cpuUsage(cpuBefore);
    const result = toResult(name, job, run);
    const requests = Math.max(1, result.requests);
    result.cpuMsPerRequest = { api: (cpu.user + cpu.system) / 1000 / requests, loadGenerator: (run.generatorCpuMs ?? 0) / requests };
    result.statementsPerRequest = statements / requests;
    return result;
  } finally {
    stack.db.off('query', count);
    await stopProfile();
  }
}

/** ", API CPU 0.9 ms, load generator 0.3 ms, 1.00 statements per request" */
function costText(result: ApiLoadResult): string {
  if (!result.cpuMsPerRequest) return '';
  const { api, loadGenerator } = result.cpuMsPerRequest;
  return `; per request: API CPU ${api.toFixed(2)} ms, load generator ${loadGenerator.toFixed(2)} ms, ${result.statementsPerRequest?.toFixed(2)} statements`;
}

const BARE_START_PATH = '/bench/bare-start';

/** The floor the booking is measured against: the same workflow started with nothing around it. */
function registerBareStart(app: Awaited<ReturnType<typeof buildApi>>, stack: BenchStack, taskQueue: string, partnerId: string): void {
  app.post<{ Body: Omit<BookOrderInput, 'bookedByPartnerId'> }>(BARE_START_PATH, async (request, reply) => {
    const orderId = deriveOrderId(partnerId, request.body.externalReference);
    const input = { ...request.body, bookedByPartnerId: partnerId, partnerId, orderId };
    await stack.client.workflow.start(ORDER_WORKFLOW_TYPE, { workflowId: orderWorkflowId(orderId), taskQueue, args: [input] });
    return reply.status(201).send({ orderId });
  });
}

/** The bare workflow.start load, with the booking's connections, duration and body. */
async function runBareStart(
  stack: BenchStack,
  url: string,
  body: Record<string, unknown>,
  options: ApiOptions,
  failures: string[],
): Promise<ApiLoadResult> {
  const bareJob: LoadJob = {
    name: 'POST /bench/bare-start',
    url,
    connections: options.connections,
    durationS: options.durationS,
    headers: {},
    booking: { body, referencePrefix: `BARE-${options.runId}`, path: BARE_START_PATH },
  };
  const bareStart = await measuredLoad(stack, 'bare workflow.start (same process)', bareJob);
  options.log(`  bare start: ${bareStart.requestsPerSecond.toFixed(1)} req/s, p50 ${bareStart.latencyMs.p50} ms${costText(bareStart)}`);
  if (bareStart.non2xx || bareStart.errors) failures.push(`API bare start: ${bareStart.non2xx} non-2xx, ${bareStart.errors} errors`);
  return bareStart;
}

/**
 * A short unmeasured load on each POST route first, so neither measured load is the one that
 * meets the process and the server cold (the bare start, measured first, used to).
 */
async function warmUp(url: string, headers: Record<string, string>, body: Record<string, unknown>, options: ApiOptions): Promise<void> {
  const durationS = Math.min(2, options.durationS);
  const job = { url, connections: options.connections, durationS };
  await runLoad({
    ...job,
    name: 'warm-up bare start',
    headers: {},
    booking: { body, referencePrefix: `WARM-BARE-${options.runId}`, path: BARE_START_PATH },
  });
  await runLoad({ ...job, name: 'warm-up booking', headers, booking: { body, referencePrefix: `WARM-API-${options.runId}` } });
}

export async function runApi(stack: BenchStack, world: TestWorld, options: ApiOptions): Promise<ApiResult & { failures: string[] }> {
  // No worker polls either queue during the loads; the booking's gets one for the status reads.
  const taskQueue = `bench-api-${options.runId}`;
  const config = { ...stack.config, temporal: { ...stack.config.temporal, taskQueue } };
  const app = await buildApi({ db: stack.db, client: stack.client, config, logger: createLogger('bench-api', 'ERROR') });
  registerBareStart(app, stack, `bench-api-bare-${options.runId}`, world.partnerId);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const failures: string[] = [];
  let worker: BenchWorker | undefined;
  try {
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const { key } = await createApiKey(stack.db, { role: 'partner', partnerId: world.partnerId, label: 'bench' });
    const headers = { authorization: `Bearer ${key}` };
    const { bookedByPartnerId: _ignored, externalReference: _reference, ...body } = bookingFor('direct', world, 'unused');
    const referencePrefix = `API-${options.runId}`;

    await warmUp(url, headers, body, options);
    const bareStart = await runBareStart(stack, url, body, options, failures);

    const bookingJob: LoadJob = {
      name: 'POST /v1/orders',
      url,
      connections: options.connections,
      durationS: options.durationS,
      headers,
      booking: { body, referencePrefix },
    };
    const booking = await measuredLoad(stack, 'POST /v1/orders (book)', bookingJob);
    options.log(
      `  booking: ${booking.requestsPerSecond.toFixed(1)} req/s, p50 ${booking.latencyMs.p50} ms, p99 ${booking.latencyMs.p99} ms${costText(booking)}`,
    );
    if (booking.non2xx || booking.errors)
      failures.push(`API booking: ${booking.non2xx} non-2xx answers (${JSON.stringify(booking.statusCodes)}), ${booking.errors} errors`);

    // Read the orders just booked, once a worker has run them: their workflows are open (waiting
    // for shipment). The API checks the order's row first, which the worker writes.
    worker = await stack.startWorker({ kind: 'orders', taskQueue, env: { REMINDER_INTERVAL: '1h', ESCALATION_AFTER: '30d' } });
    const created = Number(booking.statusCodes['201'] ?? 0);
    const bookedIds = () =>
      stack
        .db('orders')
        .where('booked_by_partner_id', world.partnerId)
        .andWhere('external_reference', 'like', `${referencePrefix}-%`)
        .limit(1000)
        .pluck('id') as Promise<string[]>;
    let ids = await bookedIds();
    for (const deadline = Date.now() + 60_000; ids.length < Math.min(created, 1000) && Date.now() < deadline; ids = await bookedIds()) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (ids.length === 0) {
      failures.push('API status: no booked order to read');
      return { booking, status: booking, bareStart, failures };
    }
    // A read needs no worker; stopped, it no longer runs the bookings it has not finished on the
    // cores the reads are measured on.
    await worker.stop();
    worker = undefined;
    const statusJob: LoadJob = {
      name: 'GET /v1/orders/:id',
      url,
      connections: options.connections,
      durationS: options.durationS,
      headers,
      paths: ids.map((id) => `/v1/orders/${id}`),
    };
    const status = await measuredLoad(stack, 'GET /v1/orders/:id (status)', statusJob);
    options.log(
      `  status: ${status.requestsPerSecond.toFixed(1)} req/s over ${ids.length} orders, p50 ${status.latencyMs.p50} ms, p99 ${status.latencyMs.p99} ms${costText(status)}`,
    );
    if (status.non2xx || status.errors)
      failures.push(`API status: ${status.non2xx} non-2xx answers (${JSON.stringify(status.statusCodes)}), ${status.errors} errors`);
    return { booking, status, bareStart, failures };
  } finally {
    await app.close();
    await worker?.stop();
  }
}
