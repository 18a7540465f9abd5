/**
 * The license-use path of a fault run (part two), next to the orders: each fault gets the work
 * it can hurt most. worker-kill: true-ups killed between their steps; postgres-stop: devices
 * reporting through the outage; smtp-stop: the license clock's alerts raised while SMTP is down.
 * Each part prepares its world before the run, drives it while the fault hits (through the
 * project's own code: the device client over the real HTTP API, the Temporal Updates the API
 * sends), and checks at the end that nothing was lost or done twice.
 */
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { buildApi } from '../../src/api/server';
import type { Config } from '../../src/config';
import { createDb, type Db } from '../../src/db/knex';
import { LICENSE_CLOCK_SCHEDULE_ID } from '../../src/licensing/workflow-api';
import { createLogger } from '../../src/logging';
import { withGenerousApiLimits } from '../../test/helpers/api-limits';
import type { FaultKind } from './options';

/** What the license-use part of one fault run found. */
export interface LicenseUseResult {
  /** What was checked, in a few words (the table's column); empty when the run has no license-use part. */
  checked: string;
  /** Each loss or duplicate found; any one fails the run. */
  problems: string[];
  notes: string[];
}

export interface LicenseUseContext {
  fault: FaultKind;
  db: Db;
  client: Client;
  config: Config;
  taskQueue: string;
  /** The run's directory (logs). */
  dir: string;
  later: (name: string, run: () => Promise<void>) => void;
}

/** The hooks a fault run calls; each part implements the ones it needs. */
export interface LicenseUsePart {
  /** Before the run starts: its world (accounts, devices, agreements). */
  prepare(): Promise<void>;
  /** While the orders are driven: what devices and people do (resolves when they are done). */
  drive(times: { runStartedAt: number; faultAt: number; cleared: Promise<number> }): Promise<void>;
  /** Just before the fault (worker-kill: waits until a true-up is between its steps). */
  beforeFault(): Promise<void>;
  /** Right after the service went down (outage faults). */
  duringFault(): Promise<void>;
  /** After the stack went quiet: what it finds, read from Postgres and the mail received. */
  verify(input: { received: Array<{ key: string | undefined; messageId: string }> }): Promise<LicenseUseResult>;
}

/** A part that does nothing (temporal-restart has no license-use work of its own). */
export const NO_LICENSE_USE: LicenseUsePart = {
  prepare: async () => undefined,
  drive: async () => undefined,
  beforeFault: async () => undefined,
  duringFault: async () => undefined,
  verify: async () => ({ checked: '', problems: [], notes: [] }),
};

/** The runner's own HTTP API (devices talk HTTP), on its own pool of the run's database; knex's complaints go to api.log. */
export async function startFaultApi(ctx: LicenseUseContext): Promise<string> {
  const log = pino.destination({ dest: `${ctx.dir}/api.log`, sync: false });
  const logger = createLogger('faults-api', 'WARN', log);
  const db = createDb(ctx.config.databaseUrl, 5, logger);
  // Devices retry through an outage: no per-credential limit may count those retries against them.
  const config = withGenerousApiLimits({ ...ctx.config, temporal: { ...ctx.config.temporal, taskQueue: ctx.taskQueue } });
  const app = await buildApi({ db, client: ctx.client, config, logger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  ctx.later('API', async () => {
    await app.close();
    await db.destroy();
    log.flushSync();
  });
  const address = app.server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/** Stops the license clock's Schedule at the end, so the verdict reads a stack that has stopped moving. */
export async function pauseLicenseClock(client: Client): Promise<void> {
  await client.schedule
    .getHandle(LICENSE_CLOCK_SCHEDULE_ID)
    .pause('fault run over')
    .catch(() => undefined);
}

/** Copies of each idempotency key received (the catcher's messages). */
export function copiesByKey(received: Array<{ key: string | undefined }>): Map<string, number> {
  const copies = new Map<string, number>();
  for (const m of received) if (m.key) copies.set(m.key, (copies.get(m.key) ?? 0) + 1);
  return copies;
}

/**
 * Each outbox row of `keys` sent and received: none missing. Copies beyond one are left to the
 * run's mail accounting (a re-delivery with the row's Message-ID, or a real duplicate).
 */
export async function checkSentOnce(db: Db, keys: string[], copies: Map<string, number>, what: string): Promise<string[]> {
  if (keys.length === 0) return [`${what}: no email queued at all`];
  const rows: Array<{ idempotency_key: string; status: string }> = await db('email_outbox')
    .whereIn('idempotency_key', keys)
    .select('idempotency_key', 'status');
  const problems: string[] = [];
  for (const key of keys) {
    const row = rows.find((r) => r.idempotency_key === key);
    if (!row) problems.push(`${what}: no outbox row ${key}`);
    else if (row.status !== 'sent') problems.push(`${what}: outbox row ${key} is ${row.status}`);
    else if (!copies.get(key)) problems.push(`${what}: ${key} marked sent, never received`);
  }
  return problems;
}

/** Calls `call` until it answers or `deadline` passes (the fault may be in the way); returns the last error on giving up. */
export async function retrying<T>(call: () => Promise<T>, deadline: number, pauseMs = 500): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}
