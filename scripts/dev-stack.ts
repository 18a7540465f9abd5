/**
 * The whole stack on its embedded defaults (run through `npm start`, i.e. scripts/up.sh):
 *   1. Temporal: the server at TEMPORAL_ADDRESS if one answers, else `temporal server start-dev`
 *      with a persistent SQLite file under .data/ and the Web UI on :8233;
 *   2. Postgres: the database of DATABASE_URL created if missing, migrated, demo accounts seeded;
 *   3. SMTP: SMTP_URL if set, else Mailpit if installed, else an in-process SMTP server that
 *      stores mail under .data/mail/;
 *   4. the worker process (Prometheus metrics on WORKER_METRICS_LISTEN);
 *   5. the API process (API_LISTEN), once /readyz answers 200; two fresh API keys (an operator's and
 *      the demo partner's; only their SHA-256 is stored, the keys are printed once);
 *   6. two demo orders booked through the HTTP API with the partner key, and where to look at them.
 * Ctrl-C (or SIGTERM) stops everything it started, in reverse order. `--once` stops after the demo,
 * having also checked that /readyz and /openapi.json answer (CI's smoke test of the API).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { createApiKey } from '../src/api/auth';
import { loadConfig, redact, type Config } from '../src/config';
import { dataConverterFor } from '../src/temporal/connect';
import { generateEncryptionKey } from '../src/temporal/payload-codec';
import { generateSigningKey } from '../src/licensing/signing';
import { deriveOrderId } from '../src/orders/book-order';
import { createDb, ensureDatabase, type Db } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrate';
import { DEMO, demoHeldOrder, demoOrder, seedDemoData } from '../src/dev/demo-data';
import type { BookOrderInput } from '../src/orders/order';
import { startMailCatcher } from '../src/dev/mail-catcher';
import { startTemporalDevServer } from '../src/dev/temporal-dev-server';
import type { OrderStatus } from '../src/orders/order-lifecycle';
import { ensureSearchAttributes } from '../src/temporal/register-search-attributes';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';
import { WORKER_NODE_FLAGS, workerMemoryEnv } from '../src/temporal/worker-memory';
import type { ApiKeyRow } from '../src/db/rows';

const ROOT = resolve(__dirname, '..');
const DATA = join(ROOT, '.data');
const once = process.argv.includes('--once');
const stops: Array<{ name: string; stop: () => Promise<void>; pid?: number }> = [];

// If this process dies without the orderly shutdown (an exception, a closed pipe), its children
// must not outlive it: the last thing it does is SIGTERM each one still registered.
process.on('exit', () => {
  for (const { pid } of stops) {
    if (pid) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
});

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

async function startTemporal(config: Config): Promise<string> {
  if (await temporalAnswers(config.temporal.address)) {
    step(`Temporal: using the server already answering at ${config.temporal.address}`);
    return config.temporal.uiUrl;
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
    uiCodecEndpoint: `${config.publicBaseUrl}/codec`,
    dbFile: join(DATA, 'temporal.db'),
    sqlitePragmas: ['journal_mode=wal', 'synchronous=normal'],
    logFile: join(DATA, 'temporal.log'),
    namespace: config.temporal.namespace,
    detached: true,
  });
  stops.push({ name: 'Temporal dev server', stop: () => server.stop(), pid: server.pid });
  return config.temporal.uiUrl;
}

async function startSmtp(config: Config): Promise<{ smtpUrl: string; inbox: string }> {
  if (process.env.SMTP_URL?.trim()) {
    step(`SMTP: using SMTP_URL ${redact(config.smtpUrl)}`);
    return { smtpUrl: config.smtpUrl, inbox: `the inbox behind ${redact(config.smtpUrl)}` };
  }
  const smtpPort = Number(new URL(config.smtpUrl).port || 1025);
  const mailpit = spawnSync('sh', ['-c', 'command -v mailpit'], { encoding: 'utf8' }).stdout.trim();
  if (mailpit) {
    step(`SMTP: starting Mailpit (${mailpit}) on :${smtpPort}, web inbox on :8025`);
    const child = spawnChild('mailpit', mailpit, [
      '--smtp',
      `127.0.0.1:${smtpPort}`,
      '--listen',
      '127.0.0.1:8025',
      '--database',
      join(DATA, 'mailpit.db'),
    ]);
    await new Promise((r) => setTimeout(r, 1_000));
    if (child.exitCode !== null) throw new Error('Mailpit exited at start; see its output above');
    return { smtpUrl: `smtp://127.0.0.1:${smtpPort}`, inbox: 'http://localhost:8025' };
  }
  const dir = join(DATA, 'mail');
  step(`SMTP: no SMTP_URL and no Mailpit; starting the in-process SMTP server on :${smtpPort}, storing mail in .data/mail/`);
  const catcher = await startMailCatcher({ dir, port: smtpPort });
  stops.push({ name: 'SMTP server', stop: () => catcher.stop() });
  return { smtpUrl: `smtp://127.0.0.1:${catcher.port}`, inbox: `${dir}/ (one .eml and one .json per message)` };
}

/** A child in its own process group, so Ctrl-C reaches only us and we stop children in order. */
function spawnChild(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(command, args, { cwd: ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const prefix = (chunk: Buffer) =>
    chunk
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((line) => `[${name}] ${line}\n`)
      .join('');
  child.stdout.on('data', (chunk: Buffer) => process.stdout.write(prefix(chunk)));
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(prefix(chunk)));
  stops.push({
    name,
    pid: child.pid,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }),
  });
  return child;
}

async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function stopAll(): Promise<void> {
  // One at a time off the end, so if this process dies mid-way the exit handler above still
  // signals every child not stopped yet.
  for (let entry = stops.pop(); entry; entry = stops.pop()) {
    const { name, stop } = entry;
    process.stdout.write(`    stopping ${name}\n`);
    await stop().catch((err) => process.stderr.write(`    ${name}: ${(err as Error).message}\n`));
  }
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

/** Where this process reaches a server listening on `host:port` (a wildcard host means loopback). */
function localUrl(listen: string): string {
  const at = listen.lastIndexOf(':');
  let host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.slice(at + 1)}`;
}

/**
 * The base URL to print for the API: PUBLIC_BASE_URL when it points at this machine's API_LISTEN
 * port (so Swagger UI's "Try it out", which calls the OpenAPI document's server, is same-origin),
 * else the listen address itself.
 */
function shownApiUrl(config: Config): string {
  const listenPort = config.apiListen.slice(config.apiListen.lastIndexOf(':') + 1);
  const pub = new URL(config.publicBaseUrl);
  const pubPort = pub.port || (pub.protocol === 'https:' ? '443' : '80');
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(pub.hostname);
  return local && pubPort === listenPort && pub.pathname.replace(/\/+$/, '') === '' ? config.publicBaseUrl : localUrl(config.apiListen);
}

interface ApiAnswer {
  status: number;
  body: unknown;
}

/** One JSON request to the API. No answer at all (refused, timed out) is status 0 with the reason as body. */
async function callApi(
  base: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // an HTML page (Swagger UI) or plain text: kept as text
    }
    return { status: response.status, body };
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    return { status: 0, body: cause?.message ?? (err as Error).message };
  }
}

/** The answer's body when its status is expected; otherwise stops the quick start with what the API said. */
function expectStatus<T = unknown>(answer: ApiAnswer, expected: number[], what: string): T {
  if (expected.includes(answer.status)) return answer.body as T;
  const said = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  throw new Error(`API: ${what} answered ${answer.status === 0 ? 'nothing' : answer.status}${said ? `: ${said.slice(0, 600)}` : ''}`);
}

/**
 * Quick-start keys are labelled "quick start ..." so that the next start can revoke any a crashed
 * run left valid: a key printed on a terminal works only while the stack that printed it runs.
 */
const QUICK_START_LABEL = 'quick start';

async function revokeLeftoverQuickStartKeys(db: Db): Promise<number> {
  return db<ApiKeyRow>('api_keys')
    .where('label', 'like', `${QUICK_START_LABEL} %`)
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() });
}

async function revokeKeys(db: Db, ids: string[]): Promise<void> {
  await db<ApiKeyRow>('api_keys').whereIn('id', ids).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
}

/** The booking as an ordering system sends it: the partner comes from the API key, not the body. */
function bookingBody(order: BookOrderInput): Omit<BookOrderInput, 'bookedByPartnerId'> {
  const { bookedByPartnerId: _fromTheKey, ...body } = order;
  return body;
}

/** A ready-to-paste example: the booking the reader can send themselves, with a reference of its own. */
function tryItOrder(externalReference: string): Omit<BookOrderInput, 'bookedByPartnerId'> {
  return {
    externalReference,
    assignment: { kind: 'smart_account', accountId: DEMO.smartAccountId, virtualAccountPath: 'Finance' },
    lines: [{ lineNumber: 1, sku: 'C9300-DNA-E-1Y', quantity: 5, licenseType: 'smart', termMonths: 12, smartAccountMandatory: true }],
  };
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
    await stopAll();
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
    // The workflow code is bundled here, while the rest starts, and handed to the worker as a
    // file (WORKFLOW_BUNDLE_PATH), as the image does: a worker that bundles keeps webpack in memory.
    const bundleStarted = Date.now();
    const workflowBundle: Promise<string> = config.workflowBundlePath
      ? Promise.resolve(config.workflowBundlePath)
      : (mkdirSync(DATA, { recursive: true }), writeWorkflowBundle(join(DATA, 'workflow-bundle.js')));
    workflowBundle.catch(() => undefined); // awaited below; an early failure must not go unhandled meanwhile
    const uiUrl = await startTemporal(config);
    const connection = await Connection.connect({ address: config.temporal.address });
    stops.push({ name: 'Temporal client', stop: () => connection.close() });
    const added = await ensureSearchAttributes(connection, config.temporal.namespace);
    if (added.length) step(`Temporal: registered search attributes ${added.join(', ')}`);

    step(`Postgres: ${redact(config.databaseUrl)}`);
    const { created } = await ensureDatabase(config.databaseUrl);
    const db = createDb(config.databaseUrl, 2);
    stops.push({ name: 'Postgres pool', stop: () => db.destroy() });
    const applied = await migrateLatest(db);
    await seedDemoData(db);
    step(
      `Postgres: ${created ? 'database created, ' : ''}${applied.length ? `migrated (${applied.join(', ')})` : 'schema up to date'}, demo accounts seeded`,
    );

    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    const leftover = await revokeLeftoverQuickStartKeys(db);
    const operatorKey = await createApiKey(db, { role: 'operator', label: `${QUICK_START_LABEL} operator key (npm start ${stamp})` });
    const partnerKey = await createApiKey(db, {
      role: 'partner',
      partnerId: DEMO.partnerId,
      label: `${QUICK_START_LABEL} partner key ${DEMO.partnerId} (npm start ${stamp})`,
    });
    // Registered after the pool, so it runs before the pool closes.
    stops.push({ name: 'quick-start API keys (revoking)', stop: () => revokeKeys(db, [operatorKey.id, partnerKey.id]) });
    step(
      `API keys: minted an operator key and a ${DEMO.partnerId} key (stored as SHA-256 only)${leftover ? `; revoked ${leftover} from earlier starts` : ''}`,
    );

    const { smtpUrl, inbox } = await startSmtp(config);

    // The worker and the API see the same environment; the listen addresses are passed explicitly
    // so what is printed below is what they bind.
    const bundlePath = await workflowBundle;
    step(
      `Worker: workflow code ${config.workflowBundlePath ? 'pre-built' : `bundled in ${((Date.now() - bundleStarted) / 1000).toFixed(1)} s`} (${bundlePath.replace(ROOT + '/', '')})`,
    );
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      WORKFLOW_BUNDLE_PATH: bundlePath,
      SMTP_URL: smtpUrl,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
      API_LISTEN: config.apiListen,
      WORKER_METRICS_LISTEN: config.workerMetricsListen,
      PUBLIC_BASE_URL: config.publicBaseUrl,
    };
    step(`Worker: starting (task queue "${config.temporal.taskQueue}", metrics on ${config.workerMetricsListen})`);
    const workerSpawnedAt = Date.now();
    const worker = spawnChild('worker', process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', 'workers/main.ts'], {
      ...childEnv,
      ...workerMemoryEnv(),
    });
    supervise('worker', worker);

    const apiBase = localUrl(config.apiListen);
    step(`API: starting on ${config.apiListen}, waiting for GET /readyz to answer 200`);
    const api = spawnChild('api', process.execPath, ['--import', 'tsx', 'workers/api.ts'], childEnv);
    supervise('api', api);
    const ready = await waitUntil(
      () => callApi(apiBase, 'GET', '/readyz', { timeoutMs: 3_000 }),
      (answer) => answer.status === 200 || api.exitCode !== null,
      60_000,
    );
    if (api.exitCode !== null) throw new Error(`the API process exited (${api.exitCode}) before it was ready; see its output above`);
    expectStatus(ready, [200], `GET ${apiBase}/readyz (waited 60 s)`);
    // The OpenAPI document is what integrators start from: a quick start without it is broken.
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
    const apiCheck = `/readyz 200, /openapi.json 200 (OpenAPI ${openapi.openapi}, ${paths.length} paths), /docs 200`;
    step(`API: ready (${apiCheck})`);

    // A worker takes a while to start polling (longer on a busy machine); the demo needs it polling, or the API's first query about a new order would wait for it.
    const polling = await waitUntil(
      () => workerPolls(connection, config.temporal.namespace, config.temporal.taskQueue, workerSpawnedAt).catch(() => false),
      (yes) => yes || worker.exitCode !== null,
      180_000,
    );
    if (!polling)
      throw new Error(`the worker did not start polling task queue "${config.temporal.taskQueue}" within 180 s; see its output above`);
    step(`Worker: polling after ${Math.round((Date.now() - workerSpawnedAt) / 1000)} s`);

    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterFor(config) });
    const today = new Date().toISOString().slice(0, 10);
    // Generous: the first workflow tasks of a fresh worker can be slow on a loaded machine.
    const asPartner = { key: partnerKey.key, timeoutMs: 60_000 };
    const book = async (order: BookOrderInput): Promise<{ orderId: string; workflowId: string }> =>
      expectStatus<{ orderId: string; workflowId: string }>(
        await callApi(apiBase, 'POST', '/v1/orders', { ...asPartner, body: bookingBody(order) }),
        [200, 201],
        `POST /v1/orders (${order.externalReference})`,
      );

    const direct = demoOrder(`DEMO-${stamp}`);
    step(
      `Demo: booking order ${direct.externalReference} through the API (2 lines into Smart Account acme.com, virtual account Finance) and shipping it`,
    );
    const booked = await book(direct);
    for (const line of direct.lines) {
      expectStatus(
        await callApi(apiBase, 'POST', `/v1/orders/${booked.orderId}/shipments`, {
          ...asPartner,
          body: { lineNumber: line.lineNumber, shippedOn: today },
        }),
        [202],
        `POST /v1/orders/${booked.orderId}/shipments (line ${line.lineNumber})`,
      );
    }
    const result: OrderStatus = await Promise.race([
      client.workflow.getHandle(booked.workflowId).result() as Promise<OrderStatus>,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the demo order did not finish within 120 s')), 120_000)),
    ]);
    const held = demoHeldOrder(`DEMO-HELD-${stamp}`);
    step(`Demo: booking order ${held.externalReference} through the API into the partner's holding account (customer unknown)`);
    const heldBooked = await book(held);
    const heldAnswer = await waitUntil(
      () => callApi(apiBase, 'GET', `/v1/orders/${heldBooked.orderId}`, asPartner),
      (answer) => answer.status === 200 && (answer.body as { phase?: string }).phase !== 'Booked',
    );
    const heldStatus = expectStatus<OrderStatus>(heldAnswer, [200], `GET /v1/orders/${heldBooked.orderId}`);

    const metricsUrl = `${localUrl(config.workerMetricsListen)}/metrics`;
    const metrics = await callApi(localUrl(config.workerMetricsListen), 'GET', '/metrics', { timeoutMs: 3_000 });
    const metricsNote =
      metrics.status === 200 ? 'worker, Prometheus text format' : `not answering yet (${metrics.status || String(metrics.body)})`;

    const ui = `${uiUrl}/namespaces/${config.temporal.namespace}/workflows`;
    const describe = (s: OrderStatus) =>
      s.lines
        .map(
          (l) =>
            `line ${l.lineNumber} ${l.state}${l.accountId ? ` in ${l.accountId}${l.virtualAccountPath ? `/${l.virtualAccountPath}` : ''}` : ''}`,
        )
        .join(', ');
    const shown = shownApiUrl(config);
    const tryRef = `TRY-${stamp}`;
    const tryId = deriveOrderId(DEMO.partnerId, tryRef);
    const bearer = (key: string) => `-H 'Authorization: Bearer ${key}'`;
    process.stdout.write(
      [
        '',
        `Order ${direct.externalReference} (ID ${booked.orderId}) is ${result.phase}: ${describe(result)}`,
        `  Temporal UI   ${ui}/${booked.workflowId}`,
        `Order ${held.externalReference} (ID ${heldBooked.orderId}) is ${heldStatus.phase}, waiting for ${heldStatus.waitingFor}: ${describe(heldStatus)}`,
        `  Temporal UI   ${ui}/${heldBooked.workflowId}`,
        '',
        `  All orders    ${ui}?query=${encodeURIComponent('WorkflowType="orderFulfillment"')}`,
        `  Held orders   ${ui}?query=${encodeURIComponent('OrderStatus="AwaitingSmartAccount"')}`,
        `  Emails        ${inbox}`,
        `  Database      psql ${redact(config.databaseUrl)} -c "select id, external_reference, status, waiting_for from orders"`,
        '',
        `  API           ${shown}`,
        ...(shown === config.publicBaseUrl ? [] : [`                (email links use PUBLIC_BASE_URL ${config.publicBaseUrl})`]),
        `  OpenAPI       ${shown}/openapi.json`,
        `  Swagger UI    ${shown}/docs`,
        `  Metrics       ${metricsUrl}   (${metricsNote})`,
        `  Payloads      encrypted in Temporal (R14, key in .data/payload-encryption-keys). To read them in the UI,`,
        `                sign in at ${shown}/codec/session with the operator key below, then tick`,
        `                "Include cross-origin credentials" in the UI's codec settings (endpoint ${config.publicBaseUrl}/codec).`,
        '',
        `  API keys, shown only now (only their SHA-256 is stored; revoked when this stack stops):`,
        `    operator              ${operatorKey.key}`,
        `    ${DEMO.partnerId.padEnd(20)}  ${partnerKey.key}`,
        '',
        `  Book an order as ${DEMO.partnerId} (into ${DEMO.smartAccountId} / Finance), then read it back:`,
        `    curl -sS -w '\\n' -X POST ${shown}/v1/orders ${bearer(partnerKey.key)} \\`,
        `      -H 'Content-Type: application/json' -d '${JSON.stringify(tryItOrder(tryRef))}'`,
        `    curl -sS -w '\\n' ${shown}/v1/orders/${tryId} ${bearer(partnerKey.key)}`,
        '',
        once ? `Done (--once; API checked: ${apiCheck}).` : 'The stack is running. Press Ctrl-C to stop everything.',
        '',
      ].join('\n'),
    );
    if (once) await shutdown(0);
  } catch (err) {
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
    await shutdown(1);
  }
}

void main();
