import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { bookOrder, type BookedOrder } from '../../src/orders/book-order';
import { reportShipment } from '../../src/orders/order-actions';
import type { Db } from '../../src/db/knex';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import type { TestWorld } from './fixtures';
import type { BookOrderInput, OrderLineInput } from '../../src/orders/order';
import type { OrderPhase, OrderStatus } from '../../src/orders/order-lifecycle';
import { orderStatusQuery } from '../../src/orders/workflow-api';

export const PERPETUAL_LINE: OrderLineInput = {
  lineNumber: 1,
  sku: 'ISR4K-SEC-PERP',
  quantity: 2,
  licenseType: 'smart',
  smartAccountMandatory: true,
};
export const TERM_LINE: OrderLineInput = {
  lineNumber: 2,
  sku: 'C9300-DNA-E-3Y',
  quantity: 10,
  licenseType: 'smart',
  termMonths: 36,
  smartAccountMandatory: true,
};
export const CLASSIC_LINE: OrderLineInput = {
  lineNumber: 3,
  sku: 'ASA5506-SEC-BUN',
  quantity: 1,
  licenseType: 'classic',
  smartAccountMandatory: false,
};

export async function book(client: Client, taskQueue: string, booking: BookOrderInput): Promise<BookedOrder> {
  return bookOrder(client, taskQueue, booking);
}

/** A booking body as an ordering system sends it to the API: no bookedByPartnerId, the key says who books. */
export function apiBody(booking: BookOrderInput): Record<string, unknown> {
  const { bookedByPartnerId: _ignored, ...rest } = booking;
  return rest;
}

/**
 * A booking by the world's partner, reference PO-<suffix>, a perpetual and a term line, held in
 * the partner's holding account, virtual account EMEA; `overrides` replace any of these.
 */
export function heldBooking(world: TestWorld, overrides: Partial<BookOrderInput> = {}): BookOrderInput {
  return {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: world.holdingAccountId, virtualAccountPath: 'EMEA' },
    lines: [PERPETUAL_LINE, TERM_LINE],
    ...overrides,
  };
}

/**
 * A booking by the world's partner, reference PO-<suffix>, a perpetual and a term line, straight
 * into the customer's active Smart Account (no virtual account); `overrides` replace any of these.
 */
export function directBooking(world: TestWorld, overrides: Partial<BookOrderInput> = {}): BookOrderInput {
  return {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId },
    lines: [PERPETUAL_LINE, TERM_LINE],
    ...overrides,
  };
}

/** Polls the order's status query until `until` holds (or the time runs out), and returns the last status. */
export async function waitForStatus(
  client: Client,
  workflowId: string,
  until: (status: OrderStatus) => boolean,
  timeoutMs = 20_000,
): Promise<OrderStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: OrderStatus | undefined;
  for (;;) {
    try {
      last = await client.workflow.getHandle(workflowId).query(orderStatusQuery);
      if (until(last)) return last;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline)
      throw new Error(`order ${workflowId} did not reach the expected state; last status: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

export function waitForPhase(client: Client, workflowId: string, phase: OrderPhase, timeoutMs?: number): Promise<OrderStatus> {
  return waitForStatus(client, workflowId, (s) => s.phase === phase, timeoutMs);
}

/** The order's entitlements, one per line, with where they sit. */
export async function entitlementsOf(db: Db, orderId: string) {
  return db('entitlements as e')
    .join('order_lines as l', 'l.id', 'e.order_line_id')
    .leftJoin('virtual_accounts as va', 'va.id', 'e.virtual_account_id')
    .where('l.order_id', orderId)
    .orderBy('l.line_number')
    .select('l.line_number', 'e.account_id', 'va.path', 'e.status', 'e.quantity');
}

export async function eventTypes(db: Db, orderId: string): Promise<string[]> {
  return db('order_events').where({ order_id: orderId }).orderBy('id').pluck('type');
}

/** Reports the shipment of each of `lineNumbers` (one after the other) on `shippedOn`. */
export async function shipLines(client: Client, orderId: string, shippedOn: string, lineNumbers: number[] = [1, 2]): Promise<void> {
  for (const lineNumber of lineNumbers) await reportShipment(client, orderId, { lineNumber, shippedOn });
}

/** Calls `read` until `until` holds, and returns that value; throws with the last value and error when the time runs out. */
export async function pollUntil<T>(read: () => Promise<T>, until: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (until(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen in ${timeoutMs} ms; last value: ${JSON.stringify(last)}; last error: ${String(lastError)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The executions (every run) a visibility list query finds right now. */
export async function listExecutions(client: Client, query: string): Promise<WorkflowExecutionInfo[]> {
  const executions: WorkflowExecutionInfo[] = [];
  for await (const execution of client.workflow.list({ query })) executions.push(execution);
  return executions;
}

export async function listWorkflowIds(client: Client, query: string): Promise<string[]> {
  return (await listExecutions(client, query)).map((execution) => execution.workflowId);
}

/** The idempotency keys of the order's email outbox rows (one per email and recipient) for a template, and status if given. */
export async function outboxKeys(db: Db, orderId: string, template: string, status?: 'pending' | 'sent'): Promise<string[]> {
  return db('email_outbox')
    .where({ order_id: orderId, template, ...(status ? { status } : {}) })
    .orderBy('id')
    .pluck('idempotency_key');
}

/** The number N of a received transfer reminder, from its idempotency key `…:transfer-reminder:N:…`. */
export function reminderNumberOf(mail: CaughtMail): number {
  const match = /:transfer-reminder:(\d+):/.exec(mail.headers['x-idempotency-key'] ?? '');
  if (!match) throw new Error(`not a reminder key: ${mail.headers['x-idempotency-key']}`);
  return Number(match[1]);
}

/** The transfer reminders an order's status says it sent (`transfer-reminder:N`). */
export function remindersIn(status: OrderStatus): string[] {
  return status.emailsSent.filter((purpose) => purpose.startsWith('transfer-reminder:'));
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    const value = await promise;
    throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('expected a rejection')) throw err;
    return err as Error;
  }
}
