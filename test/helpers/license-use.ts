/**
 * License-use helpers for the tests of what takes time (u4-u7). A product instance and its use get
 * there as a device's do: the device client registers with a token of the VA and reports through
 * the test API, so the pools, alerts and answers are the report path's own. Only what no device
 * does is written here directly: a silence (last contact moved into the past).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Worker } from '@temporalio/worker';
import { openHistory } from './payloads';
import type { Db } from '../../src/db/knex';
import type { DeviceClient, SignedUsageAnswer } from '../../src/device-client';
import { LICENSE_CLOCK_WORKFLOW_TYPE, type LicenseClockInput, type LicenseClockResult } from '../../src/licensing/workflow-api';
import type { TestApi } from './api';
import { createToken, newDevice } from './devices';
import type { TestWorld } from './fixtures';
import { book, shipLines } from './orders';
import { startOrderWorkerOn, type TestStack } from './stack';

const DAY_MS = 86_400_000;

export async function virtualAccountId(db: Db, accountId: string, path: string): Promise<string> {
  const row = await db('virtual_accounts').where({ account_id: accountId, path }).first<{ id: string } | undefined>('id');
  if (!row) throw new Error(`no virtual account ${path} in ${accountId}`);
  return String(row.id);
}

/** A registered product instance: its ID, its device client and the answer to its first report. */
export interface TestDevice {
  id: string;
  client: DeviceClient;
  answer: SignedUsageAnswer;
}

/** One registration token per (account, VA) for the file's devices, made by the operator through the API. */
const tokens = new Map<string, Promise<string>>();

function tokenOf(api: TestApi, accountId: string, path: string): Promise<string> {
  const key = `${accountId}/${path}`;
  if (!tokens.has(key)) {
    tokens.set(
      key,
      api.keyFor('operator').then(async (operator) => (await createToken(api, operator, accountId, { virtualAccountPath: path })).token),
    );
  }
  return tokens.get(key)!;
}

/** A new device of the world's VA `path`: it registers with the device client and reports `usage` (SKU -> count) now. */
export async function useLicenses(api: TestApi, world: TestWorld, path: string, usage: Record<string, number>): Promise<TestDevice> {
  const device = newDevice(api, world, `d${randomBytes(4).toString('hex')}`);
  const { instanceId } = await device.client.register(await tokenOf(api, world.smartAccountId, path), device.identity);
  return { id: instanceId, client: device.client, answer: await device.client.report(usage) };
}

/** Moves the instance's last contact `days` days into the past (a silence of that length). */
export async function silenceFor(db: Db, instanceId: string, days: number): Promise<void> {
  await db('product_instances')
    .where({ id: instanceId })
    .update({ last_contact_at: new Date(Date.now() - days * DAY_MS - 60_000) });
}

export interface PoolView {
  purchased: number;
  authorized: number;
  overage: number;
  unserved: number;
  next_expiry_on: string | null;
}

export async function poolOf(db: Db, vaId: string, sku: string): Promise<PoolView | undefined> {
  const row: Record<keyof PoolView, string | null> | undefined = await db('license_pools')
    .where({ virtual_account_id: vaId, sku })
    .first('purchased', 'authorized', 'overage', 'unserved', db.raw(`to_char(next_expiry_on, 'YYYY-MM-DD') AS next_expiry_on`));
  // bigint counters: node-postgres reads them as strings.
  return row
    ? {
        purchased: Number(row.purchased),
        authorized: Number(row.authorized),
        overage: Number(row.overage),
        unserved: Number(row.unserved),
        next_expiry_on: row.next_expiry_on,
      }
    : undefined;
}

export async function usageStates(db: Db, instanceIds: string[]): Promise<Record<string, string>> {
  const rows: Array<{ instance_id: string; state: string }> = await db('instance_usage')
    .whereIn('instance_id', instanceIds)
    .select('instance_id', 'state');
  return Object.fromEntries(rows.map((r) => [r.instance_id, r.state]));
}

/** Runs one licenseClock workflow on the test's task queue (as the Schedule would) and returns its result. */
export async function runClock(stack: TestStack, input: LicenseClockInput = {}): Promise<LicenseClockResult> {
  return stack.client.workflow.execute<(input: LicenseClockInput) => Promise<LicenseClockResult>>(LICENSE_CLOCK_WORKFLOW_TYPE, {
    workflowId: `license-clock-test-${randomBytes(4).toString('hex')}`,
    taskQueue: stack.taskQueue,
    args: [input],
  });
}

/** Books and ships an order of `quantity` `sku` into `path` of the world's Smart Account; resolves once provisioned. */
export async function provisionLicenses(
  stack: TestStack,
  world: TestWorld,
  options: { sku: string; quantity: number; path: string; termMonths?: number; shippedOn?: string; reference?: string },
): Promise<string> {
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: options.reference ?? `PO-${options.sku}-${randomBytes(3).toString('hex')}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: options.path },
    lines: [
      {
        lineNumber: 1,
        sku: options.sku,
        quantity: options.quantity,
        licenseType: 'smart',
        smartAccountMandatory: true,
        ...(options.termMonths ? { termMonths: options.termMonths } : {}),
      },
    ],
  });
  await shipLines(stack.client, booked.orderId, options.shippedOn ?? new Date().toISOString().slice(0, 10), [1]);
  await stack.client.workflow.getHandle(booked.workflowId).result();
  return booked.orderId;
}

/** A user of the world's domain with a role on its Smart Account (and optionally subscribed to its alerts). */
export async function addAccountUser(
  db: Db,
  world: TestWorld,
  options: { name: string; role?: 'sa_admin' | 'sa_user'; subscribed?: boolean },
): Promise<{ id: string; email: string }> {
  const email = `${options.name}@${world.domain}`;
  const [user] = await db('users')
    .insert({ email, full_name: options.name, email_verified_at: db.fn.now() })
    .returning<Array<{ id: string }>>('id');
  if (options.role)
    await db('role_grants').insert({ account_id: world.smartAccountId, user_id: user.id, role: options.role, granted_by: 'test' });
  if (options.subscribed) await db('alert_subscriptions').insert({ account_id: world.smartAccountId, user_id: user.id });
  return { id: String(user.id), email };
}

/**
 * Kills the file's worker, or the `previous` replacement (as a crashed process would stop polling), and starts a new one on the
 * same task queue; returns a function that stops the new one.
 */
export async function replaceWorker(
  stack: TestStack,
  previous?: { worker: Worker; stop: () => Promise<void> },
): Promise<{ worker: Worker; stop: () => Promise<void> }> {
  const killed = previous?.worker ?? stack.worker;
  if (previous) await previous.stop();
  else killed.shutdown();
  for (let i = 0; i < 100 && killed.getState() !== 'STOPPED'; i++) await new Promise((r) => setTimeout(r, 100));
  return startOrderWorkerOn(stack, stack.taskQueue);
}

/**
 * With RECORD_HISTORIES=1, writes the workflow's history (payloads opened) to test/histories/<name>.json,
 * where test/integration/replay.test.ts replays it against the current workflow code.
 */
export async function recordHistoryIfAsked(stack: TestStack, workflowId: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  const dir = join(__dirname, '..', 'histories');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), historyToJSON(await openHistory(history, stack.config.payloadEncryptionKeys)) + '\n');
}
