/**
 * The production shape on this machine, no Docker (`npm start -- --production`, i.e. scripts/up.sh
 * after scripts/ensure-production-binaries.sh): what docker-compose.yml describes, with the same
 * versions, config files from deploy/ and ports (src/dev/production-shape.ts):
 *   1. Postgres: the app database (DATABASE_URL, default license_fulfillment_production) migrated
 *      and seeded, this start's API keys minted; Temporal's two databases created and migrated
 *      with Temporal's SQL tool (deploy/temporal/setup-schema.sh);
 *   2. temporal-server v1.29.1 on Postgres, the namespace and search attributes registered;
 *   3. the Temporal UI server and Mailpit (the inbox);
 *   4. two order workers and two API processes, each on its own port;
 *   5. the demo orders booked through the first API, read back through the second.
 * Ctrl-C stops everything in reverse order. `--once` stops after checking that both workers poll
 * the task queue and every part answers (CI).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../src/config';
import { runDemo } from '../src/dev/demo-orders';
import { productionSummary, type ProductionChecks } from '../src/dev/production-summary';
import {
  NAMESPACE_RETENTION_HOURS,
  PRODUCTION_COMMANDS,
  PRODUCTION_DATABASE_URL,
  PRODUCTION_PORTS,
  apiListenEnv,
  productionAppEnv,
  temporalServerEnv,
  temporalUiEnv,
  workerListenEnv,
} from '../src/dev/production-shape';
import { callApi, expectStatus, localUrl, waitUntil } from '../src/dev/stack-api';
import { StackProcesses } from '../src/dev/stack-processes';
import {
  checkApi,
  licenseSigningKeys,
  payloadKeys,
  preparePostgres,
  runStackMain,
  step,
  workflowPollersSince,
  type Supervise,
} from '../src/dev/stack-steps';
import {
  ensureNamespace,
  setupTemporalDatabases,
  whenNamespaceKnown,
  startTemporalServer,
  startTemporalUi,
} from '../src/dev/temporal-server';
import { connectTemporal } from '../src/temporal/connect';
import { ensureSearchAttributes } from '../src/temporal/register-search-attributes';
import { workerMemoryEnv } from '../src/temporal/worker-memory';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';

const ROOT = resolve(__dirname, '..');
const DATA = join(ROOT, '.data');
const LOGS = join(DATA, 'production');
const once = process.argv.includes('--once');
const stack = new StackProcesses(ROOT);

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

/** The binaries scripts/ensure-production-binaries.sh printed (scripts/up.sh exports them). */
function binaries(): { server: string; sqlTool: string; schemaDir: string; ui: string; mailpit: string } {
  const read = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set: start the production shape with npm start -- --production (scripts/up.sh sets it)`);
    return value;
  };
  return {
    server: read('TEMPORAL_SERVER_BIN'),
    sqlTool: read('TEMPORAL_SQL_TOOL_BIN'),
    schemaDir: read('TEMPORAL_SCHEMA_DIR'),
    ui: read('TEMPORAL_UI_SERVER_BIN'),
    mailpit: read('MAILPIT_BIN'),
  };
}

/** Temporal's databases, the server, the namespace and search attributes; returns a client connection. */
async function startTemporal(config: Config, bins: ReturnType<typeof binaries>, supervise: Supervise): Promise<Connection> {
  const env = temporalServerEnv(config.databaseUrl, ROOT);
  step(`Temporal: databases ${env.DBNAME} and ${env.VISIBILITY_DBNAME} (temporal-sql-tool; log .data/production/temporal-sql-tool.log)`);
  await setupTemporalDatabases({
    root: ROOT,
    sqlTool: bins.sqlTool,
    schemaDir: bins.schemaDir,
    env,
    logFile: join(LOGS, 'temporal-sql-tool.log'),
  });
  step(`Temporal: starting temporal-server on ${config.temporal.address} (log .data/production/temporal-server.log)`);
  const started = Date.now();
  const server = await startTemporalServer({
    stack,
    binary: bins.server,
    root: ROOT,
    env,
    temporal: config.temporal,
    logFile: join(LOGS, 'temporal-server.log'),
  });
  supervise('temporal-server', server);
  step(`Temporal: serving after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const connection = await connectTemporal(config.temporal);
  stack.add({ name: 'Temporal client', stop: () => connection.close() });
  const registered = await ensureNamespace(connection, config.temporal.namespace, NAMESPACE_RETENTION_HOURS);
  const added = await whenNamespaceKnown(() => ensureSearchAttributes(connection, config.temporal.namespace));
  step(
    `Temporal: namespace "${config.temporal.namespace}" ${registered ? `registered (retention ${NAMESPACE_RETENTION_HOURS} h)` : 'found'}, search attributes ${added.length ? `registered (${added.join(', ')})` : 'found'}`,
  );
  return connection;
}

/** The UI server (its codec endpoint carries this start's UI key) and Mailpit. */
function startUiAndInbox(config: Config, bins: ReturnType<typeof binaries>, uiCodecKey: string, supervise: Supervise): void {
  step(`Temporal UI: starting on :${PRODUCTION_PORTS.temporalUi} (log .data/production/temporal-ui.log)`);
  const ui = startTemporalUi({
    stack,
    binary: bins.ui,
    root: ROOT,
    env: temporalUiEnv(`${config.publicBaseUrl}/codec/ui/${uiCodecKey}`),
    logFile: join(LOGS, 'temporal-ui.log'),
  });
  supervise('temporal-ui', ui);
  step(`Mailpit: SMTP on :${PRODUCTION_PORTS.smtp}, inbox on :${PRODUCTION_PORTS.inbox}`);
  const args = [
    '--smtp',
    `127.0.0.1:${PRODUCTION_PORTS.smtp}`,
    '--listen',
    `127.0.0.1:${PRODUCTION_PORTS.inbox}`,
    '--database',
    join(LOGS, 'mailpit.db'),
  ];
  supervise('mailpit', stack.spawnChild('mailpit', bins.mailpit, args, process.env, { logFile: join(LOGS, 'mailpit.log') }));
}

/** Two workers and two APIs; waits until both APIs answer and both workers poll. Returns the workers' poller identities. */
async function startApp(config: Config, connection: Connection, bundlePath: string, supervise: Supervise): Promise<string[]> {
  const env = { ...process.env, WORKFLOW_BUNDLE_PATH: bundlePath, LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN' };
  const spawnedAt = Date.now();
  for (const index of [0, 1]) {
    const { nodeFlags, entry } = PRODUCTION_COMMANDS.worker;
    const listen = workerListenEnv(index);
    step(`Worker ${index + 1}: starting (task queue "${config.temporal.taskQueue}", metrics on ${listen.WORKER_METRICS_LISTEN})`);
    const args = [...nodeFlags, '--import', 'tsx', `${entry}.ts`];
    supervise(
      `worker-${index + 1}`,
      stack.spawnChild(`worker-${index + 1}`, process.execPath, args, { ...env, ...workerMemoryEnv(), ...listen }),
    );
  }
  const apis = [0, 1].map((index) => {
    const listen = apiListenEnv(index);
    step(`API ${index + 1}: starting on ${listen.API_LISTEN}`);
    const args = [...PRODUCTION_COMMANDS.api.nodeFlags, '--import', 'tsx', `${PRODUCTION_COMMANDS.api.entry}.ts`];
    const child = stack.spawnChild(`api-${index + 1}`, process.execPath, args, { ...env, ...listen });
    supervise(`api-${index + 1}`, child);
    return { child, url: localUrl(listen.API_LISTEN) };
  });
  for (const api of apis) await checkApi(api.url, api.child);
  const pollers = await waitUntil(
    () => workflowPollersSince(connection, config.temporal.namespace, config.temporal.taskQueue, spawnedAt).catch(() => [] as string[]),
    (found) => new Set(found).size >= 2,
    180_000,
  );
  if (new Set(pollers).size < 2)
    throw new Error(`only ${pollers.length} of 2 workers poll task queue "${config.temporal.taskQueue}" after 180 s`);
  step(`Workers: both poll (${[...new Set(pollers)].join(', ')}) after ${Math.round((Date.now() - spawnedAt) / 1000)} s`);
  return [...new Set(pollers)];
}

/** Every part answers: the UI server lists the namespace's workflows, Mailpit's API lists messages, the second API reads the first's orders. */
async function checkParts(config: Config, orderIds: string[], partnerKey: string): Promise<ProductionChecks> {
  const ui = localUrl(`127.0.0.1:${PRODUCTION_PORTS.temporalUi}`);
  const listed = expectStatus<{ executions?: unknown[] }>(
    await callApi(
      ui,
      'GET',
      `/api/v1/namespaces/${config.temporal.namespace}/workflows?query=${encodeURIComponent('WorkflowType="orderFulfillment"')}`,
    ),
    [200],
    'Temporal UI server: list of order workflows',
  );
  const inbox = localUrl(`127.0.0.1:${PRODUCTION_PORTS.inbox}`);
  const messages = expectStatus<{ total?: number }>(await callApi(inbox, 'GET', '/api/v1/messages'), [200], 'Mailpit: /api/v1/messages');
  const secondApi = localUrl(apiListenEnv(1).API_LISTEN);
  for (const id of orderIds)
    expectStatus(await callApi(secondApi, 'GET', `/v1/orders/${id}`, { key: partnerKey }), [200], `API 2: GET /v1/orders/${id}`);
  return { uiWorkflows: listed.executions?.length ?? 0, mails: messages.total ?? 0, readBack: orderIds.length };
}

async function runProduction(config: Config, supervise: Supervise): Promise<void> {
  const bins = binaries();
  const bundleStarted = Date.now();
  const bundle = writeWorkflowBundle(join(LOGS, 'workflow-bundle.js'));
  bundle.catch(() => undefined); // awaited below
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const { keys } = await preparePostgres(config, stamp, stack);
  const connection = await startTemporal(config, bins, supervise);
  startUiAndInbox(config, bins, keys.uiCodec.key, supervise);
  const bundlePath = await bundle;
  step(`Workers: workflow code bundled in ${((Date.now() - bundleStarted) / 1000).toFixed(1)} s`);
  const pollers = await startApp(config, connection, bundlePath, supervise);
  const demo = await runDemo(localUrl(apiListenEnv(0).API_LISTEN), keys.partner.key, { progress: step });
  const checks = await checkParts(config, [demo.direct.orderId, demo.held.orderId], keys.partner.key);
  process.stdout.write(
    productionSummary({ config, demo, pollers, checks, operatorKey: keys.operator.key, partnerKey: keys.partner.key, once }),
  );
}

async function main(): Promise<void> {
  mkdirSync(LOGS, { recursive: true });
  process.env.DATABASE_URL ||= PRODUCTION_DATABASE_URL;
  // The shape's own addresses win over a developer's dev-stack settings.
  Object.assign(process.env, productionAppEnv());
  process.env.PAYLOAD_ENCRYPTION_KEYS = payloadKeys(DATA);
  process.env.LICENSE_SIGNING_KEYS = licenseSigningKeys(DATA);
  const config = loadConfig();
  await runStackMain(stack, (supervise) => runProduction(config, supervise), once);
}

void main();
