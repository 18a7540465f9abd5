import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { ValidationError, validateBookOrderInput, type BookOrderInput, type OrderFulfillmentInput } from './order';
import { ORDER_WORKFLOW_TYPE, orderWorkflowId } from './workflow-api';
import { ExternalReferenceKey, OrderIdKey, OrderStatusKey, PartnerIdKey } from '../temporal/search-attributes';

export interface BookedOrder {
  orderId: string;
  workflowId: string;
  /** True when this external reference was booked before: nothing new was started (S9). */
  alreadyBooked: boolean;
}

/**
 * The order ID is derived from who booked it and their reference, so a re-sent booking maps to
 * the same workflow ID and Temporal's duplicate rejection guarantees one order, one workflow.
 */
export function deriveOrderId(bookedByPartnerId: string, externalReference: string): string {
  // JSON keeps the two parts apart whatever characters they contain.
  return createHash('sha256')
    .update(JSON.stringify([bookedByPartnerId, externalReference]))
    .digest('hex')
    .slice(0, 20);
}

/** Validates a booking and starts its workflow; bad input throws ValidationError and starts nothing. */
export async function bookOrder(client: Client, taskQueue: string, booking: BookOrderInput): Promise<BookedOrder> {
  const errors = validateBookOrderInput(booking);
  if (errors.length > 0) throw new ValidationError(errors);
  return startOrderWorkflow(client, taskQueue, booking, deriveOrderId(booking.bookedByPartnerId, booking.externalReference));
}

/**
 * Starts the workflow of a booking already validated, under its derived `orderId` (the API's
 * route has done both before it checks the Idempotency-Key, so it does not do them twice).
 */
export async function startOrderWorkflow(
  client: Client,
  taskQueue: string,
  booking: BookOrderInput,
  orderId: string,
): Promise<BookedOrder> {
  const workflowId = orderWorkflowId(orderId);
  const input: OrderFulfillmentInput = { ...booking, orderId, partnerId: booking.partnerId ?? booking.bookedByPartnerId };
  try {
    await client.workflow.start(ORDER_WORKFLOW_TYPE, {
      workflowId,
      taskQueue,
      args: [input],
      // A booked order keeps its ID: re-sending its reference must not book it again. Only a
      // booking that failed (say, an unknown partner, since fixed) may be sent again.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      workflowIdConflictPolicy: 'FAIL',
      typedSearchAttributes: new TypedSearchAttributes([
        { key: OrderIdKey, value: orderId },
        { key: ExternalReferenceKey, value: booking.externalReference },
        { key: PartnerIdKey, value: input.partnerId },
        { key: OrderStatusKey, value: 'Booked' },
      ]),
      staticSummary: `Order ${booking.externalReference} for partner ${input.partnerId} (${booking.lines.length} lines, ${booking.assignment.kind.replace(/_/g, ' ')})`,
    });
    return { orderId, workflowId, alreadyBooked: false };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { orderId, workflowId, alreadyBooked: true };
    throw err;
  }
}
