/**
 * Postgres's CPU per usage report on the group-commit path, alone (issue 15): part 7's "straight
 * against Postgres" phase without HTTP or a Temporal stack, so a loaded, shared machine can still
 * compare two versions of the path by CPU per report rather than by rate. Seeds 10,000 instances
 * over 100 VAs (bench/licensing-seed.ts), warms up, then sends reports through the API's batcher,
 * 32 in flight, and prints one JSON line: reports, batches, statements per batch, CPU ms per
 * report of this process (the API's JS and the driver) and of the database's Postgres backends.
 *
 *   npx tsx bench/report-pg-cpu.ts <database> [seconds=15] [--reseed]
 */
import { readFileSync } from 'node:fs';
import { createDb, withDatabase } from '../src/db/knex';
import { recreateMigratedDatabase } from '../src/db/migrate';
import { createVirtualAccountPath } from '../src/dev/demo-data';
import { REPORT_BATCHES_IN_FLIGHT, UsageReportBatcher } from '../src/licensing/report-queue';
import { generateSigningKey, parseSigningKeys, type SigningKeys } from '../src/licensing/signing';
import { createTestWorld } from '../test/helpers/fixtures';
import { postgresBackendsCpuMs } from './cpu';
import { deviceCallerOf, type FleetInstanceRow } from './licensing-callers';
import { seedInstances } from './licensing-seed';
import { summarize } from './report';

const SKU = 'BENCH-DNA-ADV';
const [database, secondsArg, ...flags] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 15);
const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const url = withDatabase(baseUrl, database);

async function seed(): Promise<void> {
  await recreateMigratedDatabase(url);
  const db = createDb(url, 2);
  try {
    const world = await createTestWorld(db, 'rpc');
    const vaIds: string[] = [];
    for (let v = 0; v < 100; v++) vaIds.push(String(await createVirtualAccountPath(db, world.smartAccountId, `Fleet-${v}`)));
    await seedInstances(db, {
      prefix: 'rpc',
      accountId: world.smartAccountId,
      partnerId: world.partnerId,
      vaIds,
      skus: [SKU],
      count: 10_000,
      silence: 'recent',
    });
    await db.raw('VACUUM ANALYZE');
  } finally {
    await db.destroy();
  }
}

/** System CPU ms of the database's backends (the rest of postgresBackendsCpuMs is user time). */
function postgresSystemMs(): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of postgresBackendsCpuMs(database).keys()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      out.set(pid, (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) * 1000) / 100);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function postgresMs(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, v] of after) ms += v - (before.get(pid) ?? 0);
  return ms;
}

/** A closed loop of 32 reports in flight for `ms`, each instance in turn, its use alternating 2 and 1 per round. */
function loadOf(batcher: UsageReportBatcher, keys: SigningKeys, rows: FleetInstanceRow[]) {
  const run = process.env.RUN_ID ?? String(Date.now());
  let turn = 0;
  return async (ms: number) => {
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    const until = Date.now() + ms;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (Date.now() < until) {
          const i = turn++;
          const t0 = process.hrtime.bigint();
          try {
            await batcher.submit(deviceCallerOf(keys, rows[i % rows.length]), {
              reportId: `${run}-${i}`,
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
    return { latencies, failures };
  };
}

async function main(): Promise<void> {
  const db0 = createDb(baseUrl, 1);
  const exists = (await db0.raw('SELECT 1 FROM pg_database WHERE datname = ?', [database])).rows.length > 0;
  await db0.destroy();
  if (!exists || flags.includes('--reseed')) await seed();

  const keys = parseSigningKeys(generateSigningKey('bench'));
  const db = createDb(url, 10);
  let statements = 0;
  let transactions = 0;
  db.on('query', (q: { sql: string }) => {
    statements++;
    if (/^BEGIN/i.test(q.sql)) transactions++;
  });
  const batcher = new UsageReportBatcher(db, keys, {
    batchSize: Number(process.env.BATCH ?? 64),
    batchesInFlight: REPORT_BATCHES_IN_FLIGHT,
  });
  const rows: FleetInstanceRow[] = await db('product_instances').select(
    'id',
    'public_key',
    'account_id',
    'virtual_account_id',
    'credential_serial',
  );
  const phase = loadOf(batcher, keys, rows);
  await phase(3000);
  const before = {
    own: process.cpuUsage(),
    pg: postgresBackendsCpuMs(database),
    pgSys: postgresSystemMs(),
    statements,
    transactions,
    at: process.hrtime.bigint(),
  };
  const { latencies, failures } = await phase(seconds * 1000);
  const own = process.cpuUsage(before.own);
  const pg = postgresMs(before.pg, postgresBackendsCpuMs(database));
  const pgSys = postgresMs(before.pgSys, postgresSystemMs());
  const elapsed = Number(process.hrtime.bigint() - before.at) / 1e9;
  const n = latencies.length;
  const stmts = statements - before.statements;
  const trxs = transactions - before.transactions;
  const lat = summarize(latencies);
  console.log(
    JSON.stringify({
      database,
      load: (await import('node:os'))
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
      reports: n,
      perSecond: +(n / elapsed).toFixed(1),
      p50: +lat.p50.toFixed(1),
      p99: +lat.p99.toFixed(1),
      reportsPerTransaction: +(n / trxs).toFixed(2),
      statementsPerTransaction: +(stmts / trxs).toFixed(2),
      apiMsPerReport: +((own.user + own.system) / 1000 / n).toFixed(3),
      pgMsPerReport: +(pg / n).toFixed(3),
      pgSystemMsPerReport: +(pgSys / n).toFixed(3),
      failures,
    }),
  );
  await db.destroy();
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
