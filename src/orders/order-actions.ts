import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { provisionedRefusal, type OrderStatus } from './order-lifecycle';
import {
  assignSmartAccountUpdate,
  cancelOrderUpdate,
  lineShippedSignal,
  orderStatusQuery,
  orderWorkflowId,
  type AssignSmartAccountRequest,
  type CancelOrderRequest,
  type LineShipped,
} from './workflow-api';

/** What ordering systems, the API and the CLI do to a booked order, by order ID. */

export async function getOrderStatus(client: Client, orderId: string): Promise<OrderStatus> {
  return client.workflow.getHandle(orderWorkflowId(orderId)).query(orderStatusQuery);
}

/**
 * A finished order's workflow has closed and takes no message: Temporal says "not found", but the
 * order exists. The refusal the workflow would have given, from its final status (a 409, not a 404).
 */
async function finishedOrderRefusal(client: Client, orderId: string, err: unknown): Promise<never> {
  if (!(err instanceof WorkflowNotFoundError)) throw err;
  const final = await client.workflow
    .getHandle(orderWorkflowId(orderId))
    .query(orderStatusQuery)
    .catch(() => Promise.reject(err));
  const reason =
    final.phase === 'Cancelled'
      ? 'the order is cancelled'
      : final.phase === 'Fulfilled'
        ? 'the order is already fulfilled'
        : 'the order is finished';
  throw new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.nonRetryable(reason, 'InvalidState'));
}

/** R7: a line shipped on a business date; fire and forget. */
export async function reportShipment(client: Client, orderId: string, shipment: LineShipped): Promise<void> {
  try {
    await client.workflow.getHandle(orderWorkflowId(orderId)).signal(lineShippedSignal, shipment);
  } catch (err) {
    await finishedOrderRefusal(client, orderId, err);
  }
}

/**
 * R6: assigns the customer's active Smart Account; resolves with the new status or rejects with
 * the reason. An `updateId` makes a resent call (a batch retried after a crash) the same Update.
 */
export async function assignSmartAccount(
  client: Client,
  orderId: string,
  request: AssignSmartAccountRequest,
  options: { updateId?: string } = {},
): Promise<OrderStatus> {
  try {
    return await client.workflow
      .getHandle(orderWorkflowId(orderId))
      .executeUpdate(assignSmartAccountUpdate, { args: [request], ...(options.updateId ? { updateId: options.updateId } : {}) });
  } catch (err) {
    return finishedOrderRefusal(client, orderId, err);
  }
}

/** R13: cancels before provisioning; resolves with the new status or rejects with the reason. */
export async function cancelOrder(client: Client, orderId: string, request: CancelOrderRequest = {}): Promise<OrderStatus> {
  const handle = client.workflow.getHandle(orderWorkflowId(orderId));
  try {
    return await handle.executeUpdate(cancelOrderUpdate, { args: [request] });
  } catch (err) {
    // A finished order takes no Update; answer from its final status as the workflow would have.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const final = await handle.query(orderStatusQuery).catch(() => Promise.reject(err));
    if (final.phase === 'Cancelled') return final;
    const provisioned = final.lines.filter((l) => l.state === 'provisioned').map((l) => l.lineNumber);
    const reason = provisionedRefusal(provisioned);
    throw new WorkflowUpdateFailedError(
      'Workflow Update failed',
      ApplicationFailure.nonRetryable(reason ?? 'the order is finished', 'InvalidState'),
    );
  }
}
