/**
 * The API load generator: autocannon in a process of its own (started by bench/api.ts), so the
 * load it generates does not take CPU from the API it measures inside the driver process.
 * Receives one job over IPC, runs it, answers with autocannon's result.
 */
// autocannon ships no type declarations.

// eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: no types to import
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;

export interface LoadJob {
  name: string;
  url: string;
  connections: number;
  durationS: number;
  headers: Record<string, string>;
  /** POST this body, with `externalReference` replaced by `<referencePrefix>-<n>` per request. */
  booking?: { body: Record<string, unknown>; referencePrefix: string; path?: string };
  /** GET these paths in turn. */
  paths?: string[];
}

export interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; max: number; mean: number; average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  /** The load generator's own CPU during the run (user + system), ms. */
  generatorCpuMs?: number;
}

async function run(job: LoadJob): Promise<AutocannonResult> {
  let n = 0;
  const request = job.booking
    ? {
        method: 'POST',
        setupRequest: (req: Record<string, unknown>) =>
          Object.assign(req, {
            method: 'POST',
            path: job.booking!.path ?? '/v1/orders',
            headers: { ...job.headers, 'content-type': 'application/json' },
            body: JSON.stringify({ ...job.booking!.body, externalReference: `${job.booking!.referencePrefix}-${n++}` }),
          }),
      }
    : {
        method: 'GET',
        setupRequest: (req: Record<string, unknown>) =>
          Object.assign(req, { method: 'GET', path: job.paths![n++ % job.paths!.length], headers: job.headers }),
      };
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({
    url: job.url,
    connections: job.connections,
    duration: job.durationS,
    requests: [request],
    timeout: 30,
  });
  const cpu = process.cpuUsage(cpuBefore);
  return { ...result, generatorCpuMs: (cpu.user + cpu.system) / 1000 };
}

process.once('message', (job: LoadJob) => {
  run(job)
    .then((result) => process.send?.({ type: 'result', result }, () => process.exit(0)))
    .catch((err) => process.send?.({ type: 'error', message: String(err?.stack ?? err) }, () => process.exit(1)));
});
