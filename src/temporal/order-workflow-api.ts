import { defineQuery } from '@temporalio/workflow';
import type { OrderStatus } from '../domain/order-status';

/**
 * Names shared by the workflow, the worker, the client, the CLI and tests, so none of them
 * repeats a string. Safe to import from workflow code (no Node built-ins).
 */
export const ORDER_WORKFLOW_TYPE = 'orderFulfillment';

export function orderWorkflowId(orderId: string): string {
  return `order-${orderId}`;
}

/** The full, readable status of one order (per line state, account, what it waits for, emails). */
export const orderStatusQuery = defineQuery<OrderStatus>('orderStatus');
