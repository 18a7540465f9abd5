/**
 * `--temporal-store postgres`: the production shape's Temporal for the benchmark instead of the
 * dev server. temporal-server v1.29.1 (scripts/ensure-production-binaries.sh) from
 * deploy/temporal/config/production.yaml, on two databases of its own on DATABASE_URL's server
 * (`<BENCH_DATABASE>_temporal` and `_temporal_visibility`, dropped and made again with
 * temporal-sql-tool each run), every port free, the namespace and search attributes registered
 * as `npm start -- --production` does (src/dev/temporal-server.ts).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { dropDatabase, withDatabase } from '../src/db/knex';
import type { TemporalDevServer } from '../src/dev/temporal-dev-server';
import { NAMESPACE_RETENTION_HOURS } from '../src/dev/production-shape';
import { StackProcesses } from '../src/dev/stack-processes';
import { ensureNamespace, setupTemporalDatabases, startTemporalServer, whenNamespaceKnown } from '../src/dev/temporal-server';
import { connectTemporal } from '../src/temporal/connect';
import { ensureSearchAttributes } from '../src/temporal/register-search-attributes';
import { productionBinaries, temporalServerEnvOnFreePorts } from '../scripts/faults/production-services';

export interface BenchTemporalServer extends TemporalDevServer {
  /** Temporal's two databases, whose backends count as Temporal's Postgres CPU. */
  databases: string[];
  /** For the report: which server, which version, on what. */
  description: string;
  /** Seconds each step took (the sql tool, the server's start, the namespace), for the log. */
  timings: { schemaS: number; serverS: number; namespaceS: number };
}

/** Temporal's two databases for the bench database `benchDatabase` (BENCH_DATABASE). */
export function benchTemporalDatabases(benchDatabase: string): { DBNAME: string; VISIBILITY_DBNAME: string } {
  return { DBNAME: `${benchDatabase}_temporal`, VISIBILITY_DBNAME: `${benchDatabase}_temporal_visibility` };
}

export async function startBenchTemporalServer(options: {
  root: string;
  dataDir: string;
  /** DATABASE_URL (any database on the server: Temporal's two are named by benchDatabase). */
  baseUrl: string;
  benchDatabase: string;
  namespace: string;
}): Promise<BenchTemporalServer> {
  const { root, dataDir, baseUrl, benchDatabase, namespace } = options;
  const bins = productionBinaries();
  const names = benchTemporalDatabases(benchDatabase);
  for (const name of Object.values(names)) await dropDatabase(withDatabase(baseUrl, name));
  const env = await temporalServerEnvOnFreePorts(baseUrl, names);
  const address = `127.0.0.1:${env.FRONTEND_GRPC_PORT}`;

  const t0 = Date.now();
  await setupTemporalDatabases({
    root,
    sqlTool: bins.sqlTool,
    schemaDir: bins.schemaDir,
    env,
    logFile: join(dataDir, 'temporal-sql-tool.log'),
  });
  const t1 = Date.now();
  const stack = new StackProcesses(root);
  const server = await startTemporalServer({
    stack,
    binary: bins.server,
    root,
    env,
    temporal: { address, namespace },
    logFile: join(dataDir, 'temporal.log'),
  }).catch(async (err: unknown) => {
    await stack.stopAll();
    throw err;
  });
  const t2 = Date.now();
  const connection = await connectTemporal({ address, namespace });
  try {
    await ensureNamespace(connection, namespace, NAMESPACE_RETENTION_HOURS);
    await whenNamespaceKnown(() => ensureSearchAttributes(connection, namespace));
  } catch (err) {
    await stack.stopAll();
    throw err;
  } finally {
    await connection.close();
  }
  const t3 = Date.now();
  return {
    address,
    pid: server.pid!,
    databases: Object.values(names),
    description: `temporal-server ${serverVersion(bins.server)} on PostgreSQL (persistence ${names.DBNAME}, visibility ${names.VISIBILITY_DBNAME}, ${process.env.NUM_HISTORY_SHARDS ?? 4} history shards)`,
    timings: { schemaS: (t1 - t0) / 1000, serverS: (t2 - t1) / 1000, namespaceS: (t3 - t2) / 1000 },
    stop: () => stack.stopAll(),
  };
}

/** `temporal-server --version` (e.g. "1.29.1"), else the release its cache path names. */
function serverVersion(binary: string): string {
  const release = /temporal-server\/(v[0-9.]+)\//.exec(binary)?.[1];
  try {
    const reported = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
    const version = /(\d+\.\d+\.\d+)/.exec(reported)?.[1];
    return version ? `v${version}` : (release ?? reported);
  } catch {
    return release ?? 'unknown version';
  }
}
