/**
 * The device fleet of the license-use part (bench/licensing.ts), in a process of its own so its
 * signing and verifying do not take CPU from the API it measures. Receives one job over IPC:
 * registers every device (the device client, as a device maker embeds it), then reports use in a
 * closed loop for the given seconds, each answer verified offline. Answers with the figures.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DeviceApiError, DeviceClient, keysFromPublished, type PublishedSigningKeys } from '../src/device-client';
import { httpTransport } from '../src/device-client/transport';
import { FLOOR_CREDENTIALS_PATH } from './licensing-floor';
import type { LoadFigures } from './licensing-report';
import { startCpuProfile } from './cpu-profile';
import { nowMs, startAtRate } from './open-loop';
import { summarize } from './report';

export interface FleetJob {
  url: string;
  devices: Array<{ token: string; productId: string; serialNumber: string; hostname: string; sku: string }>;
  concurrency: number;
  reportSeconds: number;
  /** The floor server (bench/licensing-floor.ts): after the API, the same fleet reports to it as long. */
  floorUrl?: string;
  /** After the closed loop: reports offered at this rate (open loop) for `offeredSeconds`, the target's own shape. */
  offeredPerSecond?: number;
  offeredSeconds?: number;
}

/** What the driver sends: the job's file (written by the driver, removed once read). */
export interface FleetJobFile {
  jobFile: string;
}

export interface FleetResult {
  registration: LoadFigures;
  /** Each registered device opening its session (Ed25519 once; its reports then carry an HMAC). */
  sessions: LoadFigures;
  reports: LoadFigures & { states: Record<string, number> };
  /** Reports started at a fixed rate whatever the answers (open loop), timed from when each was due. */
  offered?: LoadFigures & { states: Record<string, number>; offeredPerSecond: number };
  /** The same reports to the floor server: no framework, no database. */
  floor?: LoadFigures;
}

/** Runs `work(i)` for i = 0.. with `concurrency` in flight until `next` says stop; times each call. */
async function closedLoop(
  phase: FleetPhase,
  concurrency: number,
  next: () => number | undefined,
  work: (i: number) => Promise<void>,
): Promise<{ latencies: number[]; failures: Record<string, number>; seconds: number; fleetCpuMs: number }> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  await tellDriver({ type: 'phase', phase, edge: 'start' });
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next(); i !== undefined; i = next()) {
        const t0 = process.hrtime.bigint();
        try {
          await work(i);
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch (err) {
          const code = err instanceof DeviceApiError ? `${err.status} ${err.code}` : String((err as Error).message ?? err);
          failures[code] = (failures[code] ?? 0) + 1;
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  await tellDriver({ type: 'phase', phase, edge: 'end' });
  return { latencies, failures, seconds, fleetCpuMs: (cpu.user + cpu.system) / 1000 };
}

/**
 * Starts `work(i)` at `ratePerSecond` for `seconds` whatever the answers (bench/open-loop.ts), each
 * timed from when it was due. Past `maxInFlight` unanswered a report is not sent and counts as
 * failed: the server has fallen that far behind the rate.
 */
async function openLoop(
  ratePerSecond: number,
  seconds: number,
  maxInFlight: number,
  work: (i: number) => Promise<void>,
): Promise<{ latencies: number[]; failures: Record<string, number>; seconds: number; fleetCpuMs: number }> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const fail = (code: string) => (failures[code] = (failures[code] ?? 0) + 1);
  const pending = new Set<Promise<void>>();
  await tellDriver({ type: 'phase', phase: 'offered', edge: 'start' });
  const cpuBefore = process.cpuUsage();
  const started = nowMs();
  await startAtRate(ratePerSecond, seconds, (i, dueMs) => {
    if (pending.size >= maxInFlight) return void fail(`not sent: ${maxInFlight} unanswered`);
    const done: Promise<void> = work(i).then(
      () => void latencies.push(nowMs() - dueMs),
      (err: unknown) => void fail(err instanceof DeviceApiError ? `${err.status} ${err.code}` : String((err as Error).message ?? err)),
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  });
  await Promise.all(pending);
  const elapsed = (nowMs() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await tellDriver({ type: 'phase', phase: 'offered', edge: 'end' });
  return { latencies, failures, seconds: elapsed, fleetCpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Unanswered reports past which the open loop stops sending: about 0.25 s of the target rate. */
const OPEN_LOOP_MAX_IN_FLIGHT = 512;

export type FleetPhase = 'registration' | 'sessions' | 'reports' | 'offered' | 'floor';
export interface FleetPhaseEdge {
  type: 'phase';
  phase: FleetPhase;
  edge: 'start' | 'end';
}

/** Tells the driver (when run as its child) where a phase starts and ends, so it can read its own and Postgres's CPU there. */
function tellDriver(message: FleetPhaseEdge): Promise<void> {
  return new Promise((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
}

/** The phase's figures; `fleetCpuMs` rides along for the driver to add its share (bench/licensing.ts). */
function figures(run: { latencies: number[]; failures: Record<string, number>; seconds: number; fleetCpuMs: number }): LoadFigures {
  return {
    requests: run.latencies.length,
    seconds: run.seconds,
    perSecond: run.latencies.length / run.seconds,
    latencyMs: summarize(run.latencies),
    failures: run.failures,
    cpuMsPerRequest: { fleet: run.fleetCpuMs / Math.max(1, run.latencies.length), api: 0, postgres: 0 },
  };
}

export async function runFleet(job: FleetJob): Promise<FleetResult> {
  const clients = job.devices.map(() => DeviceClient.create(job.url, { attempts: 1 }));
  let n = 0;
  const registration = await closedLoop(
    'registration',
    job.concurrency,
    () => (n < clients.length ? n++ : undefined),
    async (i) => {
      const d = job.devices[i];
      await clients[i].register(d.token, { productId: d.productId, serialNumber: d.serialNumber, hostname: d.hostname });
    },
  );
  const keys: Map<string, KeyObject> = keysFromPublished(
    (await (await fetch(`${job.url}/v1/license-signing-keys`)).json()) as PublishedSigningKeys,
  );
  const registered = clients.map((c, i) => [c, job.devices[i].sku] as const).filter(([c]) => c.state.instanceId);
  // Each device opens its session before reporting, as a device does once a day: the report phases time reports only.
  let s = 0;
  const sessions = await closedLoop(
    'sessions',
    job.concurrency,
    () => (s < registered.length ? s++ : undefined),
    async (i) => void (await registered[i][0].openSession()),
  );
  const states: Record<string, number> = {};
  const until = Date.now() + job.reportSeconds * 1000;
  let turn = 0;
  const stopProfile = await startCpuProfile('fleet-reports');
  const reports = await closedLoop(
    'reports',
    job.concurrency,
    () => (Date.now() < until && registered.length > 0 ? turn++ : undefined),
    async (i) => {
      const [client, sku] = registered[i % registered.length];
      // The count alternates 1, 2, 1 ... so every report changes the pool (a real write, not a no-op).
      const answer = await client.report({ [sku]: 1 + (Math.floor(i / registered.length) % 2) }, { keys });
      for (const u of answer.usage) states[u.state] = (states[u.state] ?? 0) + 1;
    },
  );
  await stopProfile();
  const offered = job.offeredPerSecond
    ? await reportAtRate(job.offeredPerSecond, job.offeredSeconds ?? 10, registered, keys, turn)
    : undefined;
  const floor = job.floorUrl ? await reportToFloor(job.floorUrl, registered, keys, job) : undefined;
  return {
    registration: figures(registration),
    sessions: figures(sessions),
    reports: { ...figures(reports), states },
    ...(offered ? { offered } : {}),
    ...(floor ? { floor: figures(floor) } : {}),
  };
}

/** The registered devices report at `ratePerSecond` in turn (each every fleet / rate seconds), as in the closed loop. */
async function reportAtRate(
  ratePerSecond: number,
  seconds: number,
  registered: ReadonlyArray<readonly [DeviceClient, string]>,
  keys: Map<string, KeyObject>,
  reportedBefore: number,
): Promise<NonNullable<FleetResult['offered']>> {
  const states: Record<string, number> = {};
  const run = await openLoop(ratePerSecond, seconds, OPEN_LOOP_MAX_IN_FLIGHT, async (n) => {
    // Numbered on from the closed loop's reports, so each device's count still alternates.
    const i = reportedBefore + n;
    const [client, sku] = registered[i % registered.length];
    const answer = await client.report({ [sku]: 1 + (Math.floor(i / registered.length) % 2) }, { keys });
    for (const u of answer.usage) states[u.state] = (states[u.state] ?? 0) + 1;
  });
  return { ...figures(run), states, offeredPerSecond: ratePerSecond };
}

/** The same devices (their state: key, credential) report as long to the floor server, same transport, same concurrency. */
async function reportToFloor(
  floorUrl: string,
  registered: ReadonlyArray<readonly [DeviceClient, string]>,
  keys: Map<string, KeyObject>,
  job: FleetJob,
): Promise<Parameters<typeof figures>[0]> {
  const devices = registered.map(([c, sku]) => [new DeviceClient({ baseUrl: floorUrl, state: c.state, attempts: 1 }), sku] as const);
  const credentials = JSON.stringify(devices.map(([c]) => c.state.credential));
  const handed = await httpTransport(floorUrl)('POST', FLOOR_CREDENTIALS_PATH, { 'content-type': 'application/json' }, credentials);
  if (handed.status !== 204) throw new Error(`the floor server refused the credentials: ${handed.status} ${handed.text}`);
  const until = Date.now() + job.reportSeconds * 1000;
  let turn = 0;
  return closedLoop(
    'floor',
    job.concurrency,
    () => (Date.now() < until && devices.length > 0 ? turn++ : undefined),
    async (i) => {
      const [client, sku] = devices[i % devices.length];
      await client.report({ [sku]: 1 + (Math.floor(i / devices.length) % 2) }, { keys });
    },
  );
}

if (require.main === module) {
  process.once('message', ({ jobFile }: FleetJobFile) => {
    const job = JSON.parse(readFileSync(jobFile, 'utf8')) as FleetJob;
    rmSync(dirname(jobFile), { recursive: true, force: true });
    process.send!({ type: 'received' });
    runFleet(job).then(
      (result) => process.send!({ type: 'result', result }, () => process.exit(0)),
      (err: unknown) => process.send!({ type: 'error', message: err instanceof Error ? err.stack : String(err) }, () => process.exit(1)),
    );
  });
}
