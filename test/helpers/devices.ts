import type { Client } from '@temporalio/client';
import { DeviceApiError, DeviceClient } from '../../src/device-client';
import type { Db } from '../../src/db/knex';
import type { OrderLineInput } from '../../src/orders/order';
import type { TestApi } from './api';
import { createTestWorld, type TestWorld } from './fixtures';
import { book, shipLines } from './orders';
import { uniqueSuffix, type TestStack } from './stack';

/** The status and code a device call was refused with; fails the test when it was not refused. */
export async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DeviceApiError) return { status: err.status, code: err.code };
    throw err;
  }
  throw new Error('expected a refusal');
}

/** A fresh device (its own key pair) talking to the test API, with a UDI unique to `name`. */
export function newDevice(
  api: TestApi,
  world: TestWorld,
  name: string,
): { client: DeviceClient; identity: { productId: string; serialNumber: string; hostname: string } } {
  return {
    client: DeviceClient.create(api.baseUrl, { attempts: 1 }),
    identity: { productId: 'C9300-48P', serialNumber: `FOC-${world.suffix}-${name}`, hostname: `${name}.acme-${world.suffix}.test` },
  };
}

/** Creates a registration token through the API and returns the token and its ID. */
export async function createToken(
  api: TestApi,
  key: string,
  accountId: string,
  body: { virtualAccountPath: string; expiresInDays?: number; maxUses?: number; description?: string },
): Promise<{ token: string; tokenId: string }> {
  const created = await api.call('POST', `/v1/accounts/${accountId}/registration-tokens`, {
    key,
    body: { expiresInDays: 30, maxUses: 1000, ...body },
  });
  if (created.status !== 201) throw new Error(`token not created: ${created.status} ${JSON.stringify(created.body)}`);
  return { token: created.body.token, tokenId: created.body.tokenId };
}

/** A smart line of `quantity` of `sku` (perpetual). */
export function smartLine(sku: string, quantity: number, lineNumber = 1): OrderLineInput {
  return { lineNumber, sku, quantity, licenseType: 'smart', smartAccountMandatory: true };
}

/**
 * Books an order of `lines` straight into the world's Smart Account VA `path` (as in S1), ships every
 * line and waits until the workflow has provisioned it: its licenses are then in the VA's pool.
 */
export async function provisionLicenses(
  client: Client,
  taskQueue: string,
  world: TestWorld,
  path: string,
  lines: OrderLineInput[],
  reference: string,
): Promise<string> {
  const booked = await book(client, taskQueue, {
    externalReference: reference,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: path },
    lines,
  });
  await shipLines(
    client,
    booked.orderId,
    '2026-12-01',
    lines.map((l) => l.lineNumber),
  );
  await client.workflow.getHandle(booked.workflowId).result();
  return booked.orderId;
}

/**
 * Deposits one license of `sku` in a new world's account: the SKU then exists (a report naming a
 * SKU no license exists of is refused, U9), yet no VA of any other world holds it (R18).
 */
export async function depositElsewhere(stack: Pick<TestStack, 'db' | 'client' | 'taskQueue'>, sku: string): Promise<void> {
  const stranger = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, stranger, 'Finance', [smartLine(sku, 1)], `PO-${stranger.suffix}`);
}

export async function vaIdOf(db: Db, accountId: string, path: string): Promise<string> {
  const row: { id: string } = await db('virtual_accounts').where({ account_id: accountId, path }).first('id');
  return String(row.id);
}

/** The pool row of (VA, SKU) as plain numbers. */
export async function poolOf(db: Db, accountId: string, path: string, sku: string) {
  const row = await db('license_pools')
    .where({ virtual_account_id: await vaIdOf(db, accountId, path), sku })
    .first('purchased', 'authorized', 'overage', 'unserved');
  // bigint columns: node-postgres reads them as strings.
  return row
    ? { purchased: Number(row.purchased), authorized: Number(row.authorized), overage: Number(row.overage), unserved: Number(row.unserved) }
    : undefined;
}

/**
 * R18: the pool's counters equal the use its instances were told (Authorized, Overage and
 * unserved by state), and it never authorizes more than it holds.
 */
export async function expectPoolCountersAgree(db: Db, accountId: string, path: string, sku: string): Promise<void> {
  const rows = await db('instance_usage').where({ virtual_account_id: await vaIdOf(db, accountId, path), sku });
  const sum = (state: string) => rows.filter((r) => r.state === state).reduce((n, r) => n + r.count, 0);
  const pool = await poolOf(db, accountId, path, sku);
  expect(pool).toEqual({
    purchased: pool!.purchased,
    authorized: sum('Authorized'),
    overage: sum('Overage'),
    unserved: sum('OutOfCompliance'),
  });
  expect(pool!.authorized).toBeLessThanOrEqual(pool!.purchased);
}
