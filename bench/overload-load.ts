/**
 * The open-loop load of the overload part (bench/overload.ts), in a process of its own: bookings
 * sent at a fixed rate whatever the API answers (a closed loop would slow down with the API and
 * never overload it), each with a new external reference. Receives one job over IPC and answers
 * with every request's outcome, so the driver can look each accepted booking up in Postgres.
 */
import { Agent, request } from 'node:http';
import { startAtRate } from './open-loop';

export interface OpenLoopJob {
  url: string;
  headers: Record<string, string>;
  /** The booking; `externalReference` is replaced by `<referencePrefix>-<n>` per request. */
  body: Record<string, unknown>;
  referencePrefix: string;
  ratePerSecond: number;
  durationS: number;
  /** A request not answered in this long counts as timed out. */
  timeoutMs: number;
}

export interface OpenLoopOutcome {
  reference: string;
  /** The HTTP status, or 0 when no answer came (error or time-out). */
  status: number;
  latencyMs: number;
  error?: string;
}

export interface OpenLoopResult {
  offered: number;
  seconds: number;
  outcomes: OpenLoopOutcome[];
}

function send(job: OpenLoopJob, agent: Agent, reference: string): Promise<OpenLoopOutcome> {
  const body = JSON.stringify({ ...job.body, externalReference: reference });
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  return new Promise((resolve) => {
    const req = request(
      `${job.url}/v1/orders`,
      {
        method: 'POST',
        agent,
        timeout: job.timeoutMs,
        headers: { ...job.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ reference, status: res.statusCode ?? 0, latencyMs: elapsed() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ reference, status: 0, latencyMs: elapsed(), error: err.message }));
    req.end(body);
  });
}

/** Sends `ratePerSecond` requests a second for `durationS` (bench/open-loop.ts) and waits for every answer. */
async function run(job: OpenLoopJob): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const pending: Array<Promise<OpenLoopOutcome>> = [];
  const started = Date.now();
  await startAtRate(job.ratePerSecond, job.durationS, (n) => pending.push(send(job, agent, `${job.referencePrefix}-${n}`)));
  const seconds = (Date.now() - started) / 1000;
  const outcomes = await Promise.all(pending);
  agent.destroy();
  return { offered: outcomes.length, seconds, outcomes };
}

process.once('message', (job: OpenLoopJob) => {
  run(job)
    .then((result) => process.send?.({ type: 'result', result }, () => process.exit(0)))
    .catch((err) => process.send?.({ type: 'error', message: String(err?.stack ?? err) }, () => process.exit(1)));
});
