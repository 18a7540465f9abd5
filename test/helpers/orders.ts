import type { Client } from '@temporalio/client';
import { bookOrder, type BookedOrder } from '../../src/client/book-order';
import type { Db } from '../../src/db/knex';
import type { BookOrderInput, OrderLineInput } from '../../src/domain/order';
import type { OrderPhase, OrderStatus } from '../../src/domain/order-lifecycle';
import { orderStatusQuery } from '../../src/temporal/order-workflow-api';

export const PERPETUAL_LINE: OrderLineInput = { lineNumber: 1, sku: 'ISR4K-SEC-PERP', quantity: 2, licenseType: 'smart', smartAccountMandatory: true };
export const TERM_LINE: OrderLineInput = { lineNumber: 2, sku: 'C9300-DNA-E-3Y', quantity: 10, licenseType: 'smart', termMonths: 36, smartAccountMandatory: true };
export const CLASSIC_LINE: OrderLineInput = { lineNumber: 3, sku: 'ASA5506-SEC-BUN', quantity: 1, licenseType: 'classic', smartAccountMandatory: false };

export async function book(client: Client, taskQueue: string, booking: BookOrderInput): Promise<BookedOrder> {
  return bookOrder(client, taskQueue, booking);
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
    if (Date.now() > deadline) throw new Error(`order ${workflowId} did not reach the expected state; last status: ${JSON.stringify(last)}`);
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
