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
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Connection } from '@temporalio/client';
import { loadConfig, redact, type Config } from '../src/config';
import { runLicenseUseDemo } from '../src/dev/demo-license-use';
import { runDemo } from '../src/dev/demo-orders';
import { findMailpit, startDevSmtp } from '../src/dev/dev-smtp';
import { callApi, localUrl, shownApiUrl, waitUntil } from '../src/dev/stack-api';
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
import { summaryText } from '../src/dev/stack-summary';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import { connectTemporal } from '../src/temporal/connect';
import { ensureSearchAttributes } from '../src/temporal/register-search-attributes';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';
import { API_NODE_FLAGS } from '../src/api/node-flags';
import { WORKER_NODE_FLAGS, workerMemoryEnv } from '../src/temporal/worker-memory';

const ROOT = resolve(__dirname, '..');
const DATA = join(ROOT, '.data');
const once = process.argv.includes('--once');
const stack = new StackProcesses(ROOT);

// A closed terminal or a dead pipe (`npm start | tee log` after Ctrl-C) must not turn the
// shutdown's progress lines into an exception that leaves the children running: such writes are dropped.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

async function temporalAnswers(temporal: Config['temporal']): Promise<boolean> {
  try {
    const connection = await connectTemporal(temporal, { connectTimeout: 1_500 });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** Starts the dev server unless one answers; true when its UI decodes with this start's codec key. */
async function startTemporal(config: Config, uiCodecKey: string): Promise<boolean> {
  if (await temporalAnswers(config.temporal)) {
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

/** The worker and the API, with the same environment; the listen addresses passed explicitly so what is printed is what they bind. */
async function startProcesses(config: Config, connection: Connection, env: NodeJS.ProcessEnv, supervise: Supervise): Promise<string> {
  step(`Worker: starting (task queue "${config.temporal.taskQueue}", metrics on ${config.workerMetricsListen})`);
  const workerSpawnedAt = Date.now();
  const worker = stack.spawnChild('worker', process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', 'workers/main.ts'], {
    ...env,
    ...workerMemoryEnv(),
  });
  supervise('worker', worker);
  step(`API: starting on ${config.apiListen}`);
  const api = stack.spawnChild('api', process.execPath, [...API_NODE_FLAGS, '--import', 'tsx', 'workers/api.ts'], env);
  supervise('api', api);
  const apiCheck = await checkApi(localUrl(config.apiListen), api);
  // A worker takes a while to start polling (longer on a busy machine); the demo needs it polling, or the API's first query about a new order would wait for it.
  const polling = await waitUntil(
    () =>
      workflowPollersSince(connection, config.temporal.namespace, config.temporal.taskQueue, workerSpawnedAt).then(
        (pollers) => pollers.length > 0,
        () => false,
      ),
    (yes) => yes || worker.exitCode !== null,
    180_000,
  );
  if (!polling)
    throw new Error(`the worker did not start polling task queue "${config.temporal.taskQueue}" within 180 s; see its output above`);
  step(`Worker: polling after ${Math.round((Date.now() - workerSpawnedAt) / 1000)} s`);
  return apiCheck;
}

async function runStack(config: Config, supervise: Supervise): Promise<void> {
  // The workflow code is bundled here, while the rest starts, and handed to the worker as a
  // file (WORKFLOW_BUNDLE_PATH), as the image does: a worker that bundles keeps webpack in memory.
  const bundleStarted = Date.now();
  const workflowBundle: Promise<string> = config.workflowBundlePath
    ? Promise.resolve(config.workflowBundlePath)
    : writeWorkflowBundle(join(DATA, 'workflow-bundle.js'));
  workflowBundle.catch(() => undefined); // awaited below; an early failure must not go unhandled meanwhile
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const { keys } = await preparePostgres(config, stamp, stack);
  const uiDecodes = await startTemporal(config, keys.uiCodec.key);
  const connection = await connectTemporal(config.temporal);
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
  process.env.PAYLOAD_ENCRYPTION_KEYS = payloadKeys(DATA);
  process.env.LICENSE_SIGNING_KEYS = licenseSigningKeys(DATA);
  const config = loadConfig();
  await runStackMain(stack, (supervise) => runStack(config, supervise), once);
}

void main();
