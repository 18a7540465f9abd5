/**
 * The device client's CPU per report and per registration, alone: `npx tsx bench/device-client-cpu.ts [dir...]`.
 * The client (src/device-client, as part 7's fleet and the CLI use it) in this process, the floor
 * server (bench/licensing-floor.ts) in its own, credentials issued by it with a fresh signing key.
 * Each argument is a variant `dir[:delay=<ms>][:headers]`: a device-client directory (default this
 * tree's), its own floor holding every answer `delay` ms (the API's latency, so its lower rate) and
 * adding the headers the API adds (x-ratelimit-*). Their rounds alternate (A B A B) in one process,
 * so a shared, loaded host shifts all alike. Per round a closed loop of reports (each signed, each
 * answer verified); CPU by process.cpuUsage. Env: DEVICES (1000), CONCURRENCY (32), ROUND_SECONDS
 * (8), ROUNDS (3 a variant).
 */
import { fork } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { resolve as resolvePath, join } from 'node:path';
import type * as DeviceClientModule from '../src/device-client';
import type { FloorMessage } from './licensing-floor';

type ClientModule = typeof DeviceClientModule;
type Client = InstanceType<ClientModule['DeviceClient']>;
const env = (name: string, fallback: number): number => (process.env[name] ? Number(process.env[name]) : fallback);
const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

interface Floor {
  url: string;
  cpu: () => Promise<number>;
  stop: () => void;
}

/** A floor server of its own for each variant: its delay and headers are the variant's. */
async function startFloor(delayMs: number, apiHeaders: boolean): Promise<Floor> {
  const { randomBytes } = await import('node:crypto');
  const child = fork(join(__dirname, 'licensing-floor.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const cpuWaiters: Array<(ms: number) => void> = [];
  const port = await new Promise<number>((resolve) => {
    child.on('message', (m: FloorMessage) => (m.type === 'listening' ? resolve(m.port) : cpuWaiters.shift()?.(m.ms)));
    child.send({ licenseSigningKeys: `bench:${randomBytes(32).toString('base64')}`, delayMs, apiHeaders });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    cpu: () => new Promise((resolve) => (cpuWaiters.push(resolve), child.send('cpu'))),
    stop: () => child.kill(),
  };
}

/** `dir[:delay=<ms>][:headers]`: a device-client directory, and how its floor answers. */
function parseVariant(spec: string): { dir: string; delayMs: number; apiHeaders: boolean } {
  const [dir, ...opts] = spec.split(':');
  const delay = opts.find((o) => o.startsWith('delay='));
  return { dir: resolvePath(dir), delayMs: delay ? Number(delay.slice(6)) : 0, apiHeaders: opts.includes('headers') };
}

async function main(): Promise<void> {
  const specs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [join(__dirname, '..', 'src', 'device-client')];
  const devices = env('DEVICES', 1000);
  const concurrency = env('CONCURRENCY', 32);
  const seconds = env('ROUND_SECONDS', 8);
  const rounds = env('ROUNDS', 3);
  console.log(`${devices} devices a variant, ${concurrency} in flight, rounds of ${seconds} s`);

  const variants: Array<{ name: string; floor: Floor; clients: Client[]; keys: Map<string, KeyObject>; reports: number[] }> = [];
  for (const [v, spec] of specs.entries()) {
    const { dir, delayMs, apiHeaders } = parseVariant(spec);
    const floor = await startFloor(delayMs, apiHeaders);
    const lib = (await import(join(dir, 'index.ts'))) as ClientModule;
    const name = String.fromCharCode(65 + v);
    const created = process.cpuUsage();
    const clients = Array.from({ length: devices }, () => lib.DeviceClient.create(floor.url, { attempts: 1 }));
    const creation = cpuMs(process.cpuUsage(created)) / devices;
    const registration = await measure(
      floor.cpu,
      concurrency,
      () => false,
      devices,
      async (i) => {
        await clients[i].register('token', { productId: 'P', serialNumber: `S${i}`, hostname: `h${i}` });
      },
    );
    const keys = lib.keysFromPublished((await (await fetch(`${floor.url}/v1/license-signing-keys`)).json()) as never);
    console.log(
      `${name} ${dir} (floor delay ${delayMs} ms, API headers ${apiHeaders ? 'yes' : 'no'})\n   creation ${creation.toFixed(3)} ms CPU a device; ` +
        `registration ${registration.client.toFixed(3)} ms (floor ${registration.server.toFixed(3)}, ${registration.rate.toFixed(0)}/s)`,
    );
    variants.push({ name, floor, clients, keys, reports: [] });
  }

  let turn = 0;
  for (let round = 0; round <= rounds; round++) {
    for (const variant of variants) {
      const until = Date.now() + (round === 0 ? 2 : seconds) * 1000;
      const result = await measure(
        variant.floor.cpu,
        concurrency,
        () => Date.now() >= until,
        Infinity,
        async () => {
          const i = turn++;
          await variant.clients[i % devices].report({ 'C9300-DNA-E': 1 + (Math.floor(i / devices) % 2) }, { keys: variant.keys });
        },
      );
      if (round === 0) continue; // warm-up
      variant.reports.push(result.client);
      console.log(
        `   round ${round} ${variant.name}: ${result.rate.toFixed(0)} reports/s; CPU per report: client ${result.client.toFixed(3)} ms ` +
          `(system ${result.system.toFixed(3)}), floor ${result.server.toFixed(3)} ms`,
      );
    }
  }
  for (const v of variants) {
    const sorted = [...v.reports].sort((a, b) => a - b);
    console.log(
      `${v.name}: client CPU per report, median ${sorted[Math.floor(sorted.length / 2)].toFixed(3)} ms (${sorted.map((x) => x.toFixed(3)).join(' ')})`,
    );
    v.floor.stop();
  }
}

async function measure(
  floorCpu: () => Promise<number>,
  concurrency: number,
  stop: () => boolean,
  limit: number,
  work: (i: number) => Promise<void>,
): Promise<{ rate: number; client: number; system: number; server: number }> {
  let next = 0;
  let done = 0;
  const serverBefore = await floorCpu();
  const before = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!stop() && next < limit) {
        await work(next++);
        done++;
      }
    }),
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(before);
  const server = (await floorCpu()) - serverBefore;
  return { rate: done / wall, client: cpuMs(cpu) / done, system: cpu.system / 1000 / done, server: server / done };
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
