/**
 * The whole stack on its embedded defaults (run through `npm start`, i.e. scripts/up.sh):
 *   1. Postgres: the database of DATABASE_URL created if missing, migrated, demo accounts seeded,
 *      this start's API keys minted (only their SHA-256 is stored, the keys are printed once);
 *   2. Temporal: the server at TEMPORAL_ADDRESS if one answers, else `temporal server start-dev`
 *      with a persistent SQLite file under .data/ and the Web UI on :8233, whose codec endpoint
 *      carries this start's UI codec key (so the UI shows payloads with no sign-in);
 *   3. SMTP: SMTP_URL if set, else Mailpit if installed, else an in-process SMTP server that
 *      stores mail under .data/mail/, either listening on DEV_SMTP_LISTEN;
 *   4. the worker process (Prometheus metrics on WORKER_METRICS_LISTEN);
 *   5. the API process (API_LISTEN), once /readyz answers 200;
 *   6. the two demo orders (fixed references: a restart finds them again) through the HTTP API
 *      with the partner key, and where to look at them.
 * Ctrl-C (or SIGTERM) stops everything it started, in reverse order. `--once` stops after the demo,
 * having also checked that /readyz and /openapi.json answer (CI's smoke test of the API).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig, redact, type Config } from '../src/config';
import { generateEncryptionKey } from '../src/temporal/payload-codec';
import { generateSigningKey } from '../src/licensing/signing';
import { createDb, ensureDatabase, type Db } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrate';
import { DEMO, seedDemoData } from '../src/dev/demo-data';
import { runLicenseUseDemo } from '../src/dev/demo-license-use';
import { runDemo } from '../src/dev/demo-orders';
import { findMailpit, startDevSmtp } from '../src/dev/dev-smtp';
import { mintQuickStartKeys, revokeKeys, type QuickStartKeys } from '../src/dev/quick-start-keys';
import { callApi, expectStatus, localUrl, shownApiUrl, waitUntil } from '../src/dev/stack-api';
import { StackProcesses } from '../src/dev/stack-processes';
import { summaryText } from '../src/dev/stack-summary';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import { ensureSearchAttributes } from '../src/temporal/register-search-attributes';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';
import { WORKER_NODE_FLAGS, workerMemoryEnv } from '../src/temporal/worker-memory';

const ROOT = resolve(__dirname, '..');
const DATA = join(ROOT, '.data');
const once = process.argv.includes('--once');
const stack = new StackProcesses(ROOT);

// A closed terminal or a dead pipe (`npm start | tee log` after Ctrl-C) must not turn the
// shutdown's progress lines into an exception that leaves the children running: such writes are dropped.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

function step(message: string): void {
  process.stdout.write(`\x1b[1m==>\x1b[0m ${message}\n`);
}

async function temporalAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1_500 });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** Starts the dev server unless one answers; true when its UI decodes with this start's codec key. */
async function startTemporal(config: Config, uiCodecKey: string): Promise<boolean> {
  if (await temporalAnswers(config.temporal.address)) {
    step(`Temporal: using the server already answering at ${config.temporal.address}`);
    return false;
  }
  const [host, port] = [config.temporal.address.replace(/:\d+$/, ''), Number(config.temporal.address.split(':').pop())];
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) {
    throw new Error(
      `TEMPORAL_ADDRESS: nothing answers at ${config.temporal.address}, and a dev server can only be started on this machine`,
    );
  }
  const uiPort = Number(new URL(config.temporal.uiUrl).port || 8233);
  step(`Temporal: starting the dev server on :${port} (Web UI :${uiPort}, data .data/temporal.db, log .data/temporal.log)`);
  const server = await startTemporalDevServer({
    binary: process.env.TEMPORAL_CLI ?? 'temporal',
    port,
    uiPort,
    uiCodecEndpoint: `${config.publicBaseUrl}/codec/ui/${uiCodecKey}`,
    dbFile: join(DATA, 'temporal.db'),
    sqlitePragmas: ['journal_mode=wal', 'synchronous=normal'],
    logFile: join(DATA, 'temporal.log'),
    namespace: config.temporal.namespace,
    detached: true,
  });
  stack.add({ name: 'Temporal dev server', stop: () => server.stop(), pid: server.pid });
  return true;
}

async function startSmtp(config: Config): Promise<{ smtpUrl: string; inbox: string }> {
  const smtpUrlSet = Boolean(process.env.SMTP_URL?.trim());
  const mailpit = smtpUrlSet ? undefined : findMailpit();
  const smtp = await startDevSmtp(config, { dataDir: DATA, smtpUrlSet, mailpit });
  if (smtp.kind === 'smtp-url') step(`SMTP: using SMTP_URL ${redact(config.smtpUrl)}`);
  if (smtp.kind === 'catcher') {
    step(
      `SMTP: no SMTP_URL and no Mailpit; the in-process SMTP server listens on ${config.devSmtpListen} (DEV_SMTP_LISTEN), mail in .data/mail/`,
    );
    stack.add({ name: 'SMTP server', stop: smtp.stop! });
  }
  if (smtp.kind === 'mailpit') {
    step(`SMTP: starting Mailpit (${mailpit}) on ${config.devSmtpListen} (DEV_SMTP_LISTEN), web inbox on :8025`);
    const child = stack.spawnChild('mailpit', mailpit!, smtp.mailpitArgs!);
    await new Promise((r) => setTimeout(r, 1_000));
    if (child.exitCode !== null) throw new Error('Mailpit exited at start; see its output above');
  }
  return smtp;
}

/**
 * True once a worker started at or after `since` polls the task queue for workflow tasks: only
 * then can the API answer a query about a fresh order (a shipment report asks the workflow first).
 */
async function workerPolls(connection: Connection, namespace: string, taskQueue: string, since: number): Promise<boolean> {
  const { pollers } = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  // Whole seconds: a poll that began in the same second as the spawn counts.
  return (pollers ?? []).some((poller) => Number(poller.lastAccessTime?.seconds ?? 0) >= Math.floor(since / 1000));
}

/**
 * R14: the quick start seals Temporal payloads like production. Its key lives in
 * .data/payload-encryption-keys (0600, never committed), so a restarted stack still opens the
 * workflows it started before; PAYLOAD_ENCRYPTION_KEYS in the environment wins.
 */
function payloadKeys(): string {
  if (process.env.PAYLOAD_ENCRYPTION_KEYS) return process.env.PAYLOAD_ENCRYPTION_KEYS;
  const file = join(DATA, 'payload-encryption-keys');
  if (!existsSync(file)) writeFileSync(file, generateEncryptionKey('quickstart-1') + '\n', { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** The quick start's license signing key (device credentials, usage answers), kept like the payload key. */
function licenseSigningKeys(): string {
  if (process.env.LICENSE_SIGNING_KEYS) return process.env.LICENSE_SIGNING_KEYS;
  const file = join(DATA, 'license-signing-keys');
  if (!existsSync(file)) writeFileSync(file, generateSigningKey('quickstart-1') + '\n', { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** Postgres ready (created, migrated, seeded) and this start's keys minted. */
async function preparePostgres(config: Config, stamp: string): Promise<{ db: Db; keys: QuickStartKeys }> {
  step(`Postgres: ${redact(config.databaseUrl)}`);
  const { created } = await ensureDatabase(config.databaseUrl);
  const db = createDb(config.databaseUrl, 2);
  stack.add({ name: 'Postgres pool', stop: () => db.destroy() });
  const applied = await migrateLatest(db);
  await seedDemoData(db);
  step(
    `Postgres: ${created ? 'database created, ' : ''}${applied.length ? `migrated (${applied.join(', ')})` : 'schema up to date'}, demo accounts seeded`,
  );
  const keys = await mintQuickStartKeys(db, stamp);
  // Registered after the pool, so it runs before the pool closes.
  const ids = [keys.operator.id, keys.partner.id, keys.uiCodec.id];
  stack.add({ name: 'quick-start API keys (revoking)', stop: () => revokeKeys(db, ids) });
  step(
    `API keys: minted an operator key, a ${DEMO.partnerId} key and the Temporal UI's codec key (stored as SHA-256 only)${keys.revokedLeftovers ? `; revoked ${keys.revokedLeftovers} from earlier starts` : ''}`,
  );
  return { db, keys };
}

/** GET /readyz, /openapi.json and /docs must answer: a quick start without them is broken. */
async function checkApi(apiBase: string, api: ChildProcess): Promise<string> {
  step(`API: waiting for GET ${apiBase}/readyz to answer 200`);
  const ready = await waitUntil(
    () => callApi(apiBase, 'GET', '/readyz', { timeoutMs: 3_000 }),
    (answer) => answer.status === 200 || api.exitCode !== null,
    60_000,
  );
  if (api.exitCode !== null) throw new Error(`the API process exited (${api.exitCode}) before it was ready; see its output above`);
  expectStatus(ready, [200], `GET ${apiBase}/readyz (waited 60 s)`);
  const openapi = expectStatus<{ openapi?: unknown; paths?: Record<string, unknown> } | null>(
    await callApi(apiBase, 'GET', '/openapi.json'),
    [200],
    `GET ${apiBase}/openapi.json`,
  );
  const paths = Object.keys(openapi?.paths ?? {});
  if (typeof openapi?.openapi !== 'string' || !paths.includes('/v1/orders')) {
    throw new Error(`API: ${apiBase}/openapi.json is not this API's OpenAPI document (no /v1/orders path)`);
  }
  expectStatus(await callApi(apiBase, 'GET', '/docs'), [200], `GET ${apiBase}/docs`);
  const apiCheck = `/readyz 200, /openapi.json 200 (OpenAPI ${String(openapi.openapi)}, ${paths.length} paths), /docs 200`;
  step(`API: ready (${apiCheck})`);
  return apiCheck;
}

/** The worker and the API, with the same environment; the listen addresses passed explicitly so what is printed is what they bind. */
async function startProcesses(
  config: Config,
  connection: Connection,
  env: NodeJS.ProcessEnv,
  supervise: (name: string, child: ChildProcess) => void,
): Promise<string> {
  step(`Worker: starting (task queue "${config.temporal.taskQueue}", metrics on ${config.workerMetricsListen})`);
  const workerSpawnedAt = Date.now();
  const worker = stack.spawnChild('worker', process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', 'workers/main.ts'], {
    ...env,
    ...workerMemoryEnv(),
  });
  supervise('worker', worker);
  step(`API: starting on ${config.apiListen}`);
  const api = stack.spawnChild('api', process.execPath, ['--import', 'tsx', 'workers/api.ts'], env);
  supervise('api', api);
  const apiCheck = await checkApi(localUrl(config.apiListen), api);
  // A worker takes a while to start polling (longer on a busy machine); the demo needs it polling, or the API's first query about a new order would wait for it.
  const polling = await waitUntil(
    () => workerPolls(connection, config.temporal.namespace, config.temporal.taskQueue, workerSpawnedAt).catch(() => false),
    (yes) => yes || worker.exitCode !== null,
    180_000,
  );
  if (!polling)
    throw new Error(`the worker did not start polling task queue "${config.temporal.taskQueue}" within 180 s; see its output above`);
  step(`Worker: polling after ${Math.round((Date.now() - workerSpawnedAt) / 1000)} s`);
  return apiCheck;
}

async function runStack(config: Config, supervise: (name: string, child: ChildProcess) => void): Promise<void> {
  // The workflow code is bundled here, while the rest starts, and handed to the worker as a
  // file (WORKFLOW_BUNDLE_PATH), as the image does: a worker that bundles keeps webpack in memory.
  const bundleStarted = Date.now();
  const workflowBundle: Promise<string> = config.workflowBundlePath
    ? Promise.resolve(config.workflowBundlePath)
    : writeWorkflowBundle(join(DATA, 'workflow-bundle.js'));
  workflowBundle.catch(() => undefined); // awaited below; an early failure must not go unhandled meanwhile
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const { keys } = await preparePostgres(config, stamp);
  const uiDecodes = await startTemporal(config, keys.uiCodec.key);
  const connection = await Connection.connect({ address: config.temporal.address });
  stack.add({ name: 'Temporal client', stop: () => connection.close() });
  const added = await ensureSearchAttributes(connection, config.temporal.namespace);
  if (added.length) step(`Temporal: registered search attributes ${added.join(', ')}`);
  const { smtpUrl, inbox } = await startSmtp(config);
  const bundlePath = await workflowBundle;
  step(
    `Worker: workflow code ${config.workflowBundlePath ? 'pre-built' : `bundled in ${((Date.now() - bundleStarted) / 1000).toFixed(1)} s`} (${bundlePath.replace(ROOT + '/', '')})`,
  );
  const apiCheck = await startProcesses(
    config,
    connection,
    {
      ...process.env,
      WORKFLOW_BUNDLE_PATH: bundlePath,
      SMTP_URL: smtpUrl,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
      API_LISTEN: config.apiListen,
      WORKER_METRICS_LISTEN: config.workerMetricsListen,
      PUBLIC_BASE_URL: config.publicBaseUrl,
    },
    supervise,
  );
  const demo = await runDemo(localUrl(config.apiListen), keys.partner.key, { progress: step });
  const licenseUse = await runLicenseUseDemo(
    localUrl(config.apiListen),
    { partnerKey: keys.partner.key, operatorKey: keys.operator.key },
    { stateDir: join(DATA, 'demo-devices'), progress: step },
  );
  const metricsUrl = `${localUrl(config.workerMetricsListen)}/metrics`;
  const metrics = await callApi(localUrl(config.workerMetricsListen), 'GET', '/metrics', { timeoutMs: 3_000 });
  const metricsNote =
    metrics.status === 200 ? 'worker, Prometheus text format' : `not answering yet (${metrics.status || String(metrics.body)})`;
  process.stdout.write(
    summaryText({
      config,
      uiUrl: config.temporal.uiUrl,
      shown: shownApiUrl(config),
      inbox,
      metricsUrl,
      metricsNote,
      demo,
      licenseUse,
      operatorKey: keys.operator.key,
      partnerKey: keys.partner.key,
      uiDecodes,
      stamp,
      once,
      apiCheck,
    }),
  );
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  process.env.PAYLOAD_ENCRYPTION_KEYS = payloadKeys();
  process.env.LICENSE_SIGNING_KEYS = licenseSigningKeys();
  const config = loadConfig();
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    step('Stopping');
    await stack.stopAll();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0));
  /** A child that dies on its own takes the stack down: a half-running quick start would mislead. */
  const supervise = (name: string, child: ChildProcess) =>
    child.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`${name} exited unexpectedly (${signal ?? code})\n`);
        void shutdown(1);
      }
    });
  try {
    await runStack(config, supervise);
    if (once) await shutdown(0);
  } catch (err) {
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
    await shutdown(1);
  }
}

void main();
