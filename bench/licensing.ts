/**
 * Part 7: license use, the hot path (R16-R18). A fleet of registered product instances over M
 * virtual accounts reports use through the HTTP API (the product's buildApi, listening in the
 * driver; the fleet in a child process, bench/licensing-load.ts), after registering through it.
 * Then the same reports straight against Postgres (no HTTP, no signature checks): through the group
 * commit the API uses (UsageReportBatcher, USAGE_REPORT_BATCH_SIZE) and one transaction per report
 * (reportUsage): the path's own limit, batched and not. And the same fleet against a bare node:http
 * server that only checks the signature and signs the answer (bench/licensing-floor.ts): the floor
 * no framework and no database can go below. Every pool's counters are checked against the rows afterwards.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApi } from '../src/api/server';
import { createDb } from '../src/db/knex';
import { createVirtualAccountPath } from '../src/dev/demo-data';
import type { DeviceCaller } from '../src/licensing/device-auth';
import { REPORT_BATCHES_IN_FLIGHT, UsageReportBatcher } from '../src/licensing/report-queue';
import { reportUsage } from '../src/licensing/reports';
import { generateSigningKey, parseSigningKeys } from '../src/licensing/signing';
import { createRegistrationToken } from '../src/licensing/tokens';
import { createLogger } from '../src/logging';
import { createTestWorld } from '../test/helpers/fixtures';
import { startCpuProfile } from './cpu-profile';
import { postgresBackendsCpuMs } from './cpu';
import type { FloorMessage } from './licensing-floor';
import type { FleetJob, FleetJobFile, FleetPhase, FleetPhaseEdge, FleetResult } from './licensing-load';
import { deviceCallerOf, type FleetInstanceRow } from './licensing-callers';
import { seedPurchase } from './licensing-seed';
import type { LicensingResult, LoadFigures } from './licensing-report';
import { summarize } from './report';
import { ROOT, type BenchStack } from './stack';

export interface LicensingOptions {
  instances: number;
  virtualAccounts: number;
  concurrency: number;
  reportSeconds: number;
  /** Reports a second offered in the open-loop phase, for `offeredSeconds`. */
  offeredPerSecond: number;
  offeredSeconds: number;
  runId: string;
  log: (line: string) => void;
}

const SKU = 'BENCH-DNA-ADV';

/** This process's CPU (the API it serves, the driver idle meanwhile) and that of Postgres's backends of `database`, ms. */
function driverAndPostgresCpu(database: string): { api: number; postgres: Map<number, number> } {
  const own = process.cpuUsage();
  return { api: (own.user + own.system) / 1000, postgres: postgresBackendsCpuMs(database) };
}

/** Adds the API's and Postgres's CPU between a phase's edges to the fleet's own, per request. */
function withCpuSplit(figures: LoadFigures, spent: { api: number; postgres: number } | undefined): LoadFigures {
  if (!figures.cpuMsPerRequest || !spent) return figures;
  const per = Math.max(1, figures.requests);
  return { ...figures, cpuMsPerRequest: { ...figures.cpuMsPerRequest, api: spent.api / per, postgres: spent.postgres / per } };
}

/** The floor server (bench/licensing-floor.ts) in its own process, and a way to read its CPU. */
interface FloorServer {
  url: string;
  cpuMs(): Promise<number>;
  stop(): void;
}

function startFloorServer(licenseSigningKeys: string): Promise<FloorServer> {
  const child: ChildProcess = fork(join(ROOT, 'bench', 'licensing-floor.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting: Array<{ answered: (ms: number) => void; failed: (err: Error) => void }> = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      // Before it was ready, or while its CPU was asked: the part fails rather than waits forever.
      const err = new Error(`the floor server exited with ${code}`);
      reject(err);
      for (const { failed } of waiting.splice(0)) failed(err);
    });
    child.on('message', (message: FloorMessage) => {
      if (message.type === 'cpu') waiting.shift()?.answered(message.ms);
      else
        resolve({
          url: `http://127.0.0.1:${message.port}`,
          cpuMs: () => new Promise((answered, failed) => (waiting.push({ answered, failed }), child.send('cpu'))),
          stop: () => child.kill(),
        });
    });
    child.send({ licenseSigningKeys });
  });
}

const FLEET_SILENCE_MS = 180_000;

/**
 * The simulated fleet runs at nice 10: its 10,000 devices stand for machines of their own, so it
 * must not take the cores from the API and Postgres in bursts (its full collections' marking
 * threads did, and each such burst was a window of slow answers). It still gets every idle cycle,
 * and a report it sends late counts against the server, timed from when it was due.
 */
const FLEET_NICENESS = 10;

function runFleetChild(job: FleetJob, database: string, log: (line: string) => void, floor?: FloorServer): Promise<FleetResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'nice',
      ['-n', String(FLEET_NICENESS), process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'licensing-load.ts')],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    // `nice` not found or not runnable: the part fails with spawn's error rather than the driver dying with it.
    child.once('error', reject);
    let resultRead = false;
    // A fleet silent for this long has stalled (runs did, before their first phase, until the device
    // client's keys stopped deadlocking Node; bench/findings.md): the part fails, naming the last thing heard.
    let lastHeard = 'nothing since it was started';
    let silence: NodeJS.Timeout | undefined;
    const heard = (what: string) => {
      lastHeard = what;
      clearTimeout(silence);
      silence = setTimeout(() => {
        child.kill();
        reject(new Error(`the device fleet sent nothing for ${FLEET_SILENCE_MS / 1000} s (last: ${lastHeard})`));
      }, FLEET_SILENCE_MS);
    };
    heard(lastHeard);
    child.once('exit', () => clearTimeout(silence));
    const starts = new Map<FleetPhase, ReturnType<typeof driverAndPostgresCpu>>();
    const spent = new Map<FleetPhase, { api: number; postgres: number }>();
    // The floor server's CPU at the floor phase's edges (it answers in order).
    const floorEdges: Array<Promise<number>> = [];
    // BENCH_API_CPU_PROF: the API's profile over each of its phases, registrations and reports (the fleet child writes its own).
    let stopProfile: Promise<() => Promise<void>> | undefined;
    child.on('message', (message: FleetPhaseEdge | { type: string; result?: FleetResult; message?: string }) => {
      heard('phase' in message ? `${message.phase} ${message.edge}` : message.type);
      if (message.type === 'received') log('   fleet: job received');
      else if ('phase' in message) {
        // Each phase's edges in the log: a phase that stalls shows where.
        log(`   fleet: ${message.phase} ${message.edge === 'start' ? 'started' : 'done'}`);
        const now = driverAndPostgresCpu(database);
        if (message.edge === 'start') starts.set(message.phase, now);
        else spent.set(message.phase, cpuBetween(starts.get(message.phase)!, now));
        if (message.phase === 'floor' && floor) floorEdges.push(floor.cpuMs());
        if (message.phase !== 'floor' && message.edge === 'start') stopProfile = startCpuProfile(`api-${message.phase}`);
        if (message.phase !== 'floor' && message.edge === 'end') void stopProfile?.then((stop) => stop());
      } else if (message.type === 'result') {
        resultRead = true;
        const result = message.result!;
        void Promise.all(floorEdges).then(
          ([before, after]) =>
            resolve({
              registration: withCpuSplit(result.registration, spent.get('registration')),
              sessions: withCpuSplit(result.sessions, spent.get('sessions')),
              reports: { ...withCpuSplit(result.reports, spent.get('reports')), states: result.reports.states },
              ...(result.offered ? { offered: { ...result.offered, ...withCpuSplit(result.offered, spent.get('offered')) } } : {}),
              // The server's CPU in the API's column; no database.
              ...(result.floor && after !== undefined ? { floor: withCpuSplit(result.floor, { api: after - before, postgres: 0 }) } : {}),
            }),
          reject,
        );
      } else reject(new Error(`the device fleet failed: ${message.message}`));
    });
    // Exiting without its result (0 included) fails the part rather than leaving it waiting.
    child.once('exit', (code) => {
      if (!resultRead) reject(new Error(`the device fleet exited with ${code} before its result came`));
    });
    // The job (10,000 devices, about 1.5 MB) goes through a file, the IPC message only names it.
    const jobFile = join(mkdtempSync(join(tmpdir(), 'bench-fleet-')), 'job.json');
    writeFileSync(jobFile, JSON.stringify(job));
    child.send({ jobFile } satisfies FleetJobFile);
  });
}

/**
 * The open loop's failures that are errors: a report not sent because too many were unanswered, or
 * shed with a 503, is the server falling behind the rate (the figure says so), not a fault.
 */
function withoutFallingBehind(figures: LoadFigures): LoadFigures {
  const failures = Object.fromEntries(Object.entries(figures.failures).filter(([code]) => !/^(not sent|503 )/.test(code)));
  return { ...figures, failures };
}

/** CPU spent between two readings; a backend that appeared meanwhile counts from its start. */
function cpuBetween(
  before: ReturnType<typeof driverAndPostgresCpu>,
  after: ReturnType<typeof driverAndPostgresCpu>,
): { api: number; postgres: number } {
  let postgres = 0;
  for (const [pid, ms] of after.postgres) postgres += ms - (before.postgres.get(pid) ?? 0);
  return { api: after.api - before.api, postgres };
}

/** A Smart Account with M VAs, each pool holding twice what its devices will use (all Authorized), and a token per VA. */
async function seedFleet(stack: BenchStack, options: LicensingOptions): Promise<{ accountId: string; devices: FleetJob['devices'] }> {
  const world = await createTestWorld(stack.db, `lic-${options.runId}`);
  const perVa = Math.ceil(options.instances / options.virtualAccounts);
  const devices: FleetJob['devices'] = [];
  const pools: Parameters<typeof seedPurchase>[2] = [];
  for (let v = 0; v < options.virtualAccounts; v++) {
    const vaId = String(await createVirtualAccountPath(stack.db, world.smartAccountId, `Fleet-${v}`));
    // The pool row as provisioning leaves it, with the purchase behind it (below): the SKU exists.
    await stack.db('license_pools').insert({ virtual_account_id: vaId, sku: SKU, account_id: world.smartAccountId, purchased: 2 * perVa });
    pools.push({ virtual_account_id: vaId, sku: SKU, used: perVa });
    const { token } = await createRegistrationToken(
      stack.db,
      { accountId: world.smartAccountId, virtualAccountId: vaId },
      { expiresInDays: 1, maxUses: perVa, description: 'bench', exportControlled: false },
      'operator',
    );
    for (let i = 0; i < perVa && devices.length < options.instances; i++) {
      devices.push({ token, productId: 'BENCH-9300', serialNumber: `B-${options.runId}-${v}-${i}`, hostname: `d${v}-${i}`, sku: SKU });
    }
  }
  await seedPurchase(stack.db, { prefix: `fleet-${options.runId}`, accountId: world.smartAccountId, partnerId: world.partnerId }, pools);
  return { accountId: world.smartAccountId, devices };
}

/**
 * The reports in-process for `seconds`, `concurrency` in flight, over the registered fleet: through
 * the API's group commit when `batchSize` > 1, else one transaction each. `label` keeps report IDs apart.
 */
async function directLimit(
  stack: BenchStack,
  accountId: string,
  signingKeys: string,
  options: LicensingOptions,
  batchSize: number,
  label: string,
): Promise<LoadFigures> {
  const keys = parseSigningKeys(signingKeys);
  const db = createDb(stack.databaseUrl, stack.config.databasePoolMax);
  const batcher = batchSize > 1 ? new UsageReportBatcher(db, keys, { batchSize, batchesInFlight: REPORT_BATCHES_IN_FLIGHT }) : undefined;
  const report = (caller: DeviceCaller, body: { reportId: string; usage: Record<string, number> }) =>
    batcher ? batcher.submit(caller, body) : reportUsage(db, keys, caller, body);
  try {
    const rows: FleetInstanceRow[] = await stack
      .db('product_instances')
      .where({ account_id: accountId })
      .select('id', 'public_key', 'account_id', 'virtual_account_id', 'credential_serial');
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    const until = Date.now() + options.reportSeconds * 1000;
    let turn = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (Date.now() < until && rows.length > 0) {
          const i = turn++;
          const t0 = process.hrtime.bigint();
          try {
            await report(deviceCallerOf(keys, rows[i % rows.length]), {
              reportId: `${label}-${i}`,
              usage: { [SKU]: 2 - (Math.floor(i / rows.length) % 2) },
            });
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          } catch (err) {
            const code = (err as Error).message.slice(0, 80);
            failures[code] = (failures[code] ?? 0) + 1;
          }
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { requests: latencies.length, seconds, perSecond: latencies.length / seconds, latencyMs: summarize(latencies), failures };
  } finally {
    await db.destroy();
  }
}

/** Every pool's counters equal the use its instances were told: the check that nothing was lost. */
async function inconsistentPools(stack: BenchStack, accountId: string): Promise<string[]> {
  const rows: Array<{ virtual_account_id: string; sku: string; authorized: string; told: string | null }> = await stack
    .db('license_pools as p')
    .where('p.account_id', accountId)
    .select(
      'p.virtual_account_id',
      'p.sku',
      'p.authorized',
      stack.db.raw(
        `(SELECT SUM(count) FROM instance_usage u WHERE u.virtual_account_id = p.virtual_account_id AND u.sku = p.sku AND u.state = 'Authorized') AS told`,
      ),
    );
  // Both bigint (the counter and SUM of int), read as strings: compared as numbers (far below 2^53).
  return rows
    .filter((r) => Number(r.authorized) !== Number(r.told ?? 0))
    .map((r) => `pool ${r.virtual_account_id}/${r.sku}: ${r.authorized} vs ${r.told}`);
}

export async function runLicensing(stack: BenchStack, options: LicensingOptions): Promise<LicensingResult & { failures: string[] }> {
  const failures: string[] = [];
  const { accountId, devices } = await seedFleet(stack, options);
  const licenseSigningKeys = generateSigningKey('bench');
  // The API's own session timeouts, as workers/api.ts sets them: a stalled report fails with 503 rather than hang.
  const db = createDb(stack.databaseUrl, stack.config.databasePoolMax, undefined, stack.config.apiDatabaseTimeouts);
  const app = await buildApi({
    db,
    client: stack.client,
    config: { ...stack.config, licenseSigningKeys },
    logger: createLogger('bench-api', 'ERROR'),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const floor = await startFloorServer(licenseSigningKeys);
  let fleet: FleetResult;
  try {
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    options.log(
      `   registering ${devices.length} instances over ${options.virtualAccounts} VAs, then reporting for ${options.reportSeconds} s, ${options.concurrency} in flight`,
    );
    fleet = await runFleetChild(
      {
        url,
        devices,
        concurrency: options.concurrency,
        reportSeconds: options.reportSeconds,
        offeredPerSecond: options.offeredPerSecond,
        offeredSeconds: options.offeredSeconds,
        floorUrl: floor.url,
      },
      stack.databaseName,
      options.log,
      floor,
    );
  } finally {
    floor.stop();
    await app.close();
    await db.destroy();
  }
  for (const [part, figures] of [
    ['registration', fleet.registration],
    ['sessions', fleet.sessions],
    ['reports', fleet.reports],
    ...(fleet.offered ? [[`reports offered at ${fleet.offered.offeredPerSecond}/s`, withoutFallingBehind(fleet.offered)] as const] : []),
    ...(fleet.floor ? [['floor (no framework, no database)', fleet.floor] as const] : []),
  ] as const) {
    const total = Object.values(figures.failures).reduce((a, b) => a + b, 0);
    if (total > 0) failures.push(`licensing ${part}: ${total} failed (${JSON.stringify(figures.failures)})`);
  }
  if (fleet.registration.requests !== devices.length)
    failures.push(`licensing: ${fleet.registration.requests} of ${devices.length} registered`);
  if (fleet.reports.states.OutOfCompliance || fleet.reports.states.Overage)
    failures.push(`licensing: devices told ${JSON.stringify(fleet.reports.states)}; all should be Authorized`);
  options.log(`   the same reports straight against Postgres for ${options.reportSeconds} s, group commit then one transaction each`);
  const direct = await directLimit(stack, accountId, licenseSigningKeys, options, stack.config.usageReportBatchSize, 'direct');
  if (Object.keys(direct.failures).length) failures.push(`licensing direct: ${JSON.stringify(direct.failures)}`);
  const directAlone = await directLimit(stack, accountId, licenseSigningKeys, options, 1, 'alone');
  if (Object.keys(directAlone.failures).length) failures.push(`licensing direct alone: ${JSON.stringify(directAlone.failures)}`);
  failures.push(...(await inconsistentPools(stack, accountId)));
  return {
    instances: devices.length,
    virtualAccounts: options.virtualAccounts,
    concurrency: options.concurrency,
    databasePoolMax: stack.config.databasePoolMax,
    reportBatchSize: stack.config.usageReportBatchSize,
    registration: fleet.registration,
    sessions: fleet.sessions,
    reports: fleet.reports,
    ...(fleet.offered ? { offered: fleet.offered } : {}),
    ...(fleet.floor ? { floor: fleet.floor } : {}),
    direct,
    directAlone,
    failures,
  };
}
