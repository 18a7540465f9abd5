/**
 * Part 11: overload. The booking's capacity is measured first (POST /v1/orders in a closed loop,
 * autocannon, bench/api-load.ts); then `factor` times that is offered in an open loop
 * (bench/overload-load.ts) to the product's API with its production load-shedding defaults, on a
 * worker of its own. Every answer is counted (accepted, shed 503, throttled 429, other, none), the
 * accepted latency summarised, and every accepted booking looked up in Postgres once the worker has
 * had time to record it: lost must be 0, and no shed booking may have been booked.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { createApiKey } from '../src/api/auth';
import { buildApi } from '../src/api/server';
import { loadConfig, type Config } from '../src/config';
import { createLogger } from '../src/logging';
import { runLoad, toResult } from './api';
import type { LoadJob } from './api-load';
import type { OpenLoopJob, OpenLoopResult } from './overload-load';
import type { OverloadResult } from './overload-report';
import { summarize } from './report';
import { bookingFor, createWorlds } from './scenarios';
import { ROOT, type BenchStack } from './stack';

export interface OverloadOptions {
  capacityConnections: number;
  capacitySeconds: number;
  factor: number;
  offeredSeconds: number;
  /** API_MAX_IN_FLIGHT of the API under load (default: the production default). */
  maxInFlight?: number;
  runId: string;
  log: (line: string) => void;
}

const CLIENT_TIMEOUT_MS = 30_000;

function runOpenLoop(job: OpenLoopJob): Promise<OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(ROOT, 'bench', 'overload-load.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (message: { type: string; result?: OpenLoopResult; message?: string }) => {
      if (message.type === 'result') resolve(message.result!);
      else reject(new Error(`the open-loop load failed: ${message.message}`));
    });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the open-loop load exited with ${code}`));
    });
    child.send(job);
  });
}

/** References of `references` that have an order row now. */
async function booked(stack: BenchStack, partnerId: string, references: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < references.length; i += 1000) {
    const rows: string[] = await stack
      .db('orders')
      .where('booked_by_partner_id', partnerId)
      .whereIn('external_reference', references.slice(i, i + 1000))
      .pluck('external_reference');
    for (const reference of rows) found.add(reference);
  }
  return found;
}

/**
 * Waits until every accepted booking is an order in Postgres, for as long as the worker keeps
 * recording more of them (a backlog on a busy machine is slow, not lost), giving up after
 * `stallS` without progress. Returns how many are missing and how long it waited.
 */
async function lostOf(
  stack: BenchStack,
  partnerId: string,
  accepted: string[],
  stallS: number,
): Promise<{ missing: number; waitedS: number }> {
  const started = Date.now();
  let missing = accepted.length;
  let lastProgress = Date.now();
  for (;;) {
    const now = accepted.length - (await booked(stack, partnerId, accepted)).size;
    if (now < missing) lastProgress = Date.now();
    missing = now;
    if (missing === 0 || Date.now() - lastProgress > stallS * 1000) return { missing, waitedS: (Date.now() - started) / 1000 };
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function apiConfig(stack: BenchStack, taskQueue: string, maxInFlight?: number): Config {
  // The production defaults of load shedding; the per-key limit stays the bench's: one key drives it all.
  const defaults = loadConfig({}).loadShedding;
  return {
    ...stack.config,
    temporal: { ...stack.config.temporal, taskQueue },
    loadShedding: { ...defaults, ...(maxInFlight !== undefined ? { maxInFlight } : {}) },
  };
}

export async function runOverload(stack: BenchStack, options: OverloadOptions): Promise<OverloadResult & { failures: string[] }> {
  const { runId, log } = options;
  const taskQueue = `bench-overload-${runId}`;
  const worker = await stack.startWorker({ kind: 'orders', taskQueue, env: { REMINDER_INTERVAL: '1h', ESCALATION_AFTER: '30d' } });
  const [world] = await createWorlds(stack.db, 1, 'ovl');
  const config = apiConfig(stack, taskQueue, options.maxInFlight);
  const app = await buildApi({ db: stack.db, client: stack.client, config, logger: createLogger('bench-overload', 'ERROR') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const { key } = await createApiKey(stack.db, { role: 'partner', partnerId: world.partnerId, label: 'bench overload' });
    const headers = { authorization: `Bearer ${key}` };
    const { bookedByPartnerId: _ignored, externalReference: _reference, ...body } = bookingFor('direct', world, 'unused');

    const capacityJob: LoadJob = {
      name: 'POST /v1/orders (capacity)',
      url,
      connections: options.capacityConnections,
      durationS: options.capacitySeconds,
      headers,
      booking: { body, referencePrefix: `OVL-CAP-${runId}` },
    };
    const capacity = toResult(capacityJob.name, capacityJob, await runLoad(capacityJob));
    log(
      `   capacity ${capacity.requestsPerSecond.toFixed(1)} bookings/s, p99 ${capacity.latencyMs.p99} ms (${options.capacityConnections} connections)`,
    );

    const referencePrefix = `OVL-${runId}`;
    const ratePerSecond = Math.max(1, capacity.requestsPerSecond * options.factor);
    log(`   offering ${ratePerSecond.toFixed(1)}/s for ${options.offeredSeconds} s (open loop)`);
    const load = await runOpenLoop({
      url,
      headers,
      body,
      referencePrefix,
      ratePerSecond,
      durationS: options.offeredSeconds,
      timeoutMs: CLIENT_TIMEOUT_MS,
    });
    const result = await tally(stack, world.partnerId, load, { ...options, capacity, config, ratePerSecond });
    log(
      `   offered ${result.offered}, accepted ${result.accepted}, shed ${result.shed}, throttled ${result.throttled}, no answer ${result.noAnswer}; ` +
        `accepted p99 ${result.acceptedLatencyMs.p99.toFixed(0)} ms; lost ${result.lost}, shed but booked ${result.shedButBooked}`,
    );
    return result;
  } finally {
    await app.close();
    await worker.stop();
  }
}

/** Counts the outcomes, summarises latencies and looks every accepted (and shed) booking up in Postgres. */
async function tally(
  stack: BenchStack,
  partnerId: string,
  load: OpenLoopResult,
  context: OverloadOptions & { capacity: ReturnType<typeof toResult>; config: Config; ratePerSecond: number },
): Promise<OverloadResult & { failures: string[] }> {
  const accepted = load.outcomes.filter((o) => o.status >= 200 && o.status < 300);
  const shed = load.outcomes.filter((o) => o.status === 503);
  const throttled = load.outcomes.filter((o) => o.status === 429).length;
  const noAnswer = load.outcomes.filter((o) => o.status === 0).length;
  const otherStatuses: Record<string, number> = {};
  for (const o of load.outcomes) {
    if (o.status !== 0 && o.status !== 503 && o.status !== 429 && (o.status < 200 || o.status >= 300)) {
      otherStatuses[o.status] = (otherStatuses[o.status] ?? 0) + 1;
    }
  }
  // The worker records each accepted booking after its 201; on a busy machine the backlog takes a while.
  const stallS = 60;
  const { missing: lost, waitedS } = await lostOf(
    stack,
    partnerId,
    accepted.map((o) => o.reference),
    stallS,
  );
  const shedButBooked = (
    await booked(
      stack,
      partnerId,
      shed.map((o) => o.reference),
    )
  ).size;
  const latency = (values: number[]) => {
    const s = summarize(values);
    return { p50: s.p50, p99: s.p99, max: s.max };
  };
  const { loadShedding } = context.config;
  const perKey = context.config.rateLimits.perApiKey;
  const failures = [
    ...(lost > 0 ? [`overload: ${lost} accepted bookings not in Postgres (${stallS} s without one more recorded)`] : []),
    ...(shedButBooked > 0 ? [`overload: ${shedButBooked} shed bookings were booked anyway`] : []),
    ...(noAnswer > 0
      ? [`overload: ${noAnswer} requests got no answer (${[...new Set(load.outcomes.map((o) => o.error).filter(Boolean))].join('; ')})`]
      : []),
  ];
  return {
    capacity: {
      requestsPerSecond: context.capacity.requestsPerSecond,
      p99Ms: context.capacity.latencyMs.p99,
      connections: context.capacityConnections,
      seconds: context.capacity.durationS,
    },
    loadShedding: {
      maxInFlight: loadShedding.maxInFlight,
      maxEventLoopDelayMs: loadShedding.maxEventLoopDelayMs,
      maxHeapUsedMB: loadShedding.maxHeapUsedBytes / (1024 * 1024),
      retryAfterS: loadShedding.retryAfterS,
    },
    perApiKeyLimit: perKey ? `${perKey.max} per ${perKey.timeWindowMs / 1000} s` : 'off',
    factor: context.factor,
    offered: load.offered,
    offeredPerSecond: load.offered / load.seconds,
    seconds: load.seconds,
    accepted: accepted.length,
    acceptedPerSecond: accepted.length / load.seconds,
    shed: shed.length,
    throttled,
    otherStatuses,
    noAnswer,
    timeoutMs: CLIENT_TIMEOUT_MS,
    acceptedLatencyMs: latency(accepted.map((o) => o.latencyMs)),
    shedLatencyMs: latency(shed.map((o) => o.latencyMs)),
    lost,
    shedButBooked,
    recordedAfterS: waitedS,
    stallS,
    failures,
  };
}
