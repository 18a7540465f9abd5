/**
 * Steps both stacks take (`npm start`: scripts/dev-stack.ts; `npm start -- --production`:
 * scripts/production-stack.ts): progress lines, the local keys, Postgres ready with this start's
 * API keys, the API answering, the workers polling.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { redact, type Config } from '../config';
import { createDb, ensureDatabase, type Db } from '../db/knex';
import { migrateLatest } from '../db/migrate';
import { generateSigningKey } from '../licensing/signing';
import { generateEncryptionKey } from '../temporal/payload-codec';
import { DEMO, seedDemoData } from './demo-data';
import { mintQuickStartKeys, revokeKeys, type QuickStartKeys } from './quick-start-keys';
import { callApi, expectStatus, waitUntil } from './stack-api';
import type { StackProcesses } from './stack-processes';

export function step(message: string): void {
  process.stdout.write(`\x1b[1m==>\x1b[0m ${message}\n`);
}

/**
 * The pollers of the task queue's workflow tasks seen at or after `since` (whole seconds: a poll
 * that began in the same second as the spawn counts), by identity. A worker polling is what lets
 * the API answer a query about a fresh order (a shipment report asks the workflow first).
 */
export async function workflowPollersSince(connection: Connection, namespace: string, taskQueue: string, since: number): Promise<string[]> {
  const { pollers } = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (pollers ?? [])
    .filter((poller) => Number(poller.lastAccessTime?.seconds ?? 0) >= Math.floor(since / 1000))
    .map((poller) => poller.identity ?? '');
}

/** A key kept in `<dataDir>/<file>` (0600, never committed) so a restarted stack opens what it sealed or signed before; the variable wins. */
function keptKey(dataDir: string, variable: string, file: string, generate: () => string): string {
  if (process.env[variable]) return process.env[variable];
  const path = join(dataDir, file);
  if (!existsSync(path)) writeFileSync(path, generate() + '\n', { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

/** R14: the stacks seal Temporal payloads like production, with a key kept under the data folder. */
export function payloadKeys(dataDir: string): string {
  return keptKey(dataDir, 'PAYLOAD_ENCRYPTION_KEYS', 'payload-encryption-keys', () => generateEncryptionKey('quickstart-1'));
}

/** The license signing key (device credentials, usage answers), kept like the payload key. */
export function licenseSigningKeys(dataDir: string): string {
  return keptKey(dataDir, 'LICENSE_SIGNING_KEYS', 'license-signing-keys', () => generateSigningKey('quickstart-1'));
}

/** Postgres ready (created, migrated, seeded) and this start's keys minted. */
export async function preparePostgres(config: Config, stamp: string, stack: StackProcesses): Promise<{ db: Db; keys: QuickStartKeys }> {
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
export async function checkApi(apiBase: string, api: ChildProcess): Promise<string> {
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

/** Called with each child a stack must not run without: one that exits on its own takes the stack down. */
export type Supervise = (name: string, child: ChildProcess) => void;

/**
 * Runs a stack: `run` starts everything (supervising the children it cannot lose); Ctrl-C,
 * SIGTERM or SIGHUP stop everything in reverse order, and so does the end of `run` with `once`.
 * Exits 1 with the error when `run` fails or a supervised child dies.
 */
export async function runStackMain(stack: StackProcesses, run: (supervise: Supervise) => Promise<void>, once: boolean): Promise<void> {
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    step('Stopping');
    await stack.stopAll();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0));
  /** A half-running stack would mislead. */
  const supervise: Supervise = (name, child) =>
    child.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`${name} exited unexpectedly (${signal ?? code})\n`);
        void shutdown(1);
      }
    });
  try {
    await run(supervise);
    if (once) await shutdown(0);
  } catch (err) {
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
    await shutdown(1);
  }
}
