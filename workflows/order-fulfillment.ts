/**
 * orderFulfillment: one durable workflow per order (`order-<orderId>`). Deterministic code only:
 * every side effect is an activity, every business fact comes from the input or a message.
 *
 * The order's lifecycle reads top to bottom here: record the booking, put the licenses where
 * the assignment says, tell the people concerned.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { OrderActivities } from '../activities';
import type { OrderFulfillmentInput } from '../src/domain/order';
import { deriveOrderPhase, type LineStatus, type OrderStatus } from '../src/domain/order-status';
import { orderStatusQuery } from '../src/temporal/order-workflow-api';
import { CustomerDomainKey, HoldingAccountIdKey, OrderStatusKey } from '../src/temporal/search-attributes';

// Writes must eventually happen: retry outages without limit; refusals are non-retryable.
const { recordBooking, depositLines } = proxyActivities<OrderActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
const { sendOrderEmail } = proxyActivities<OrderActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

export async function orderFulfillment(input: OrderFulfillmentInput): Promise<OrderStatus> {
  const { workflowId } = workflowInfo();
  const lines: LineStatus[] = input.lines.map((line) => ({
    lineNumber: line.lineNumber,
    sku: line.sku,
    quantity: line.quantity,
    licenseType: line.licenseType,
    ...(line.termMonths !== undefined ? { termMonths: line.termMonths } : {}),
    smartAccountMandatory: line.smartAccountMandatory,
    state: 'booked',
  }));
  const emailsSent: string[] = [];
  const status = (): OrderStatus => ({
    orderId: input.orderId,
    externalReference: input.externalReference,
    partnerId: input.partnerId,
    assignment: input.assignment,
    phase: deriveOrderPhase(lines),
    lines: lines.map((line) => ({ ...line })),
    emailsSent: [...emailsSent],
  });
  setHandler(orderStatusQuery, status);

  await recordBooking(input, workflowId);

  const assignment = input.assignment;
  if (assignment.kind !== 'smart_account' && assignment.kind !== 'holding_account') {
    throw ApplicationFailure.nonRetryable(
      `assignment "${assignment.kind}" is not handled by this version of the workflow`,
      'AssignmentNotSupported',
    );
  }

  const deposit = await depositLines({
    orderId: input.orderId,
    target: assignment,
    idempotencyKey: `${workflowId}:deposit:${assignment.accountId}`,
  }).catch(surfaceRefusal);
  for (const line of lines) {
    const after = deposit.lines.find((l) => l.lineNumber === line.lineNumber);
    if (after) {
      line.state = after.state;
      line.accountId = deposit.accountId;
      if (deposit.virtualAccountPath) line.virtualAccountPath = deposit.virtualAccountPath;
    }
  }
  upsertSearchAttributes([
    { key: OrderStatusKey, value: deriveOrderPhase(lines) },
    assignment.kind === 'holding_account'
      ? { key: HoldingAccountIdKey, value: deposit.accountId }
      : { key: CustomerDomainKey, value: deposit.accountDomain ?? null },
  ]);

  if (assignment.kind === 'smart_account') {
    await sendOrderEmail({
      orderId: input.orderId,
      template: 'deposit-confirmation',
      audiences: ['partner', 'customer'],
      idempotencyKey: `${workflowId}:deposit-confirmation`,
    });
    emailsSent.push('deposit-confirmation');
  }
  return status();
}

/** A business refusal from an activity becomes the order's own failure, with the same type and reason. */
function surfaceRefusal(err: unknown): never {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) {
    throw ApplicationFailure.nonRetryable(err.cause.message, err.cause.type, ...(err.cause.details ?? []));
  }
  throw err;
}
