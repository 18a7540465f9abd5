/**
 * Part 8: the license views at scale (R23). One virtual account holds N product instances using
 * M SKUs (bulk-seeded, bench/licensing-seed.ts); a user with the least role that sees it
 * (va_viewer on that VA) reads the routes the pages and the API read, through the product's
 * buildApi, with autocannon in a child process (bench/api-load.ts): the licenses view (one line
 * per pool) and the instances list (its capped first page). Each answer is checked once first.
 * Per answer: the API's CPU (this process), the bench database's backends' and the statements
 * sent; BENCH_API_CPU_PROF=<dir> profiles the API per route (bench/cpu-profile.ts).
 */
import { createUserApiKey } from '../src/api/auth';
import { buildApi } from '../src/api/server';
import { createVirtualAccountPath } from '../src/dev/demo-data';
import { INSTANCES_PAGE } from '../src/licensing/views-licenses';
import { createLogger } from '../src/logging';
import { createTestWorld } from '../test/helpers/fixtures';
import type { LoadJob } from './api-load';
import { runLoad, toResult } from './api';
import { cpuBetween } from './cpu';
import { startCpuProfile } from './cpu-profile';
import { seedInstances } from './licensing-seed';
import type { LicenseViewResult } from './licensing-scale-report';
import type { BenchStack } from './stack';

export interface LicenseViewOptions {
  instances: number;
  skus: number;
  connections: number;
  durationS: number;
  runId: string;
  log: (line: string) => void;
}

const VA_PATH = 'Fleet';

async function seedView(stack: BenchStack, options: LicenseViewOptions): Promise<{ accountId: string; key: string }> {
  const world = await createTestWorld(stack.db, `view-${options.runId}`);
  const vaId = String(await createVirtualAccountPath(stack.db, world.smartAccountId, VA_PATH));
  const skus = Array.from({ length: options.skus }, (_, i) => `BENCH-VIEW-${String(i).padStart(3, '0')}`);
  await seedInstances(stack.db, {
    prefix: `view-${options.runId}`,
    accountId: world.smartAccountId,
    partnerId: world.partnerId,
    vaIds: [vaId],
    skus,
    count: options.instances,
    silence: 'recent',
  });
  await stack.db.raw('ANALYZE product_instances, instance_usage, license_pools, virtual_accounts');
  const [user] = await stack
    .db('users')
    .insert({ email: `viewer@view-${options.runId}.test`, full_name: 'Vera Viewer', email_verified_at: stack.db.fn.now() })
    .returning<Array<{ id: string }>>('id');
  await stack
    .db('role_grants')
    .insert({ account_id: world.smartAccountId, virtual_account_id: vaId, user_id: user.id, role: 'va_viewer', granted_by: 'bench' });
  const { key } = await createUserApiKey(stack.db, String(user.id), 'bench viewer');
  return { accountId: world.smartAccountId, key };
}

export async function runLicenseView(stack: BenchStack, options: LicenseViewOptions): Promise<LicenseViewResult & { failures: string[] }> {
  const failures: string[] = [];
  const { accountId, key } = await seedView(stack, options);
  const app = await buildApi({ db: stack.db, client: stack.client, config: stack.config, logger: createLogger('bench-api', 'ERROR') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const headers = { authorization: `Bearer ${key}` };
    const base = `/v1/accounts/${encodeURIComponent(accountId)}`;
    const routes = [
      { name: 'GET licenses', path: `${base}/licenses`, field: 'licenses', expected: options.skus },
      {
        name: 'GET instances (first page)',
        path: `${base}/instances`,
        field: 'instances',
        expected: Math.min(INSTANCES_PAGE, options.instances),
      },
    ];
    const results = [];
    for (const route of routes) {
      const response = await fetch(`${url}${route.path}`, { headers });
      const body = (await response.json()) as Record<string, unknown[]>;
      if (response.status !== 200 || body[route.field]?.length !== route.expected) {
        failures.push(`license view ${route.name}: ${response.status}, ${body[route.field]?.length} rows, expected ${route.expected}`);
      }
      const job: LoadJob = {
        name: route.name,
        url,
        connections: options.connections,
        durationS: options.durationS,
        headers,
        paths: [route.path],
      };
      // The API runs in this process (autocannon in its own), the bench database's backends in
      // theirs: their CPU per answer does not depend on the machine's load as req/s and p99 do.
      let statements = 0;
      const count = () => statements++;
      stack.db.on('query', count);
      const stopProfile = await startCpuProfile(`api-${route.name.replace(/[^A-Za-z0-9]+/g, '-')}`);
      const cpuBefore = stack.cpu([]);
      let run;
      try {
        run = await runLoad(job);
      } finally {
        stack.db.off('query', count);
      }
      const cpu = cpuBetween(cpuBefore, stack.cpu([]));
      await stopProfile();
      const result = toResult(route.name, job, run);
      const answers = Math.max(1, result.requests);
      Object.assign(result, {
        apiCpuMsPerRequest: cpu.driver / answers,
        postgresCpuMsPerRequest: cpu.postgres / answers,
        statementsPerRequest: statements / answers,
      });
      options.log(
        `   ${route.name}: ${result.requestsPerSecond.toFixed(1)} req/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms; ` +
          `per answer: API CPU ${(cpu.driver / answers).toFixed(2)} ms, Postgres CPU ${(cpu.postgres / answers).toFixed(2)} ms, ` +
          `${(statements / answers).toFixed(2)} statements`,
      );
      if (result.non2xx || result.errors)
        failures.push(
          `license view ${route.name}: ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodes)}), ${result.errors} errors`,
        );
      results.push(result);
    }
    return {
      instances: options.instances,
      skus: options.skus,
      caller: "a user's own API key, va_viewer on the VA",
      routes: results,
      failures,
    };
  } finally {
    await app.close();
  }
}
