/**
 * trueUp: one workflow per account and period (`true-up-<accountId>-<period>`), started by the
 * license clock at the agreed date (R20). It writes the period's report once (the true_ups row),
 * emails it to the SA admins and the partner of record, books one true-up order per virtual
 * account through the normal order pipeline (orderFulfillment children, abandoned so they live on
 * their own), then waits for approval; approved, it ships the orders' lines so they provision
 * and the pool holds the licenses. A worker killed anywhere replays to the same point: every
 * step is an idempotent activity or a child start whose workflow ID refuses a second order.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { isoDateOf } from '../../src/common/dates';
import type { TrueUpOrder } from '../../src/licensing/true-ups';
import {
  approveTrueUpUpdate,
  trueUpStatusQuery,
  type ApproveTrueUpRequest,
  type TrueUpInput,
  type TrueUpPhase,
  type TrueUpStatusView,
} from '../../src/licensing/workflow-api';
import { ORDER_WORKFLOW_TYPE, lineShippedSignal } from '../../src/orders/workflow-api';
import {
  CustomerDomainKey,
  ExternalReferenceKey,
  OrderIdKey,
  OrderStatusKey,
  PartnerIdKey,
  TrueUpStatusKey,
} from '../../src/temporal/search-attributes';
import { activities } from '../shared/activity-proxies';

export async function trueUp(input: TrueUpInput): Promise<TrueUpStatusView> {
  const { workflowId } = workflowInfo();
  let phase: TrueUpPhase = 'Preparing';
  let orders: TrueUpOrder[] = [];
  let approval: ApproveTrueUpRequest | undefined;
  const view = (): TrueUpStatusView => ({
    phase,
    orderIds: orders.map((o) => o.orderId),
    ...(approval ? { approvedBy: approval.approvedBy } : {}),
  });
  const setPhase = (next: TrueUpPhase) => {
    phase = next;
    upsertSearchAttributes([{ key: TrueUpStatusKey, value: next }]);
  };

  setHandler(trueUpStatusQuery, view);
  setHandler(
    approveTrueUpUpdate,
    (request) => {
      approval = request;
      return view();
    },
    {
      validator: (request) => {
        if (phase !== 'AwaitingApproval' || approval)
          throw ApplicationFailure.nonRetryable(`the true-up is ${approval ? 'approved' : phase}, not awaiting approval`, 'InvalidState');
        const approvedBy: unknown = (request as Partial<ApproveTrueUpRequest> | undefined)?.approvedBy;
        if (typeof approvedBy !== 'string' || approvedBy === '')
          throw ApplicationFailure.nonRetryable('approvedBy is required', 'InvalidRequest');
      },
    },
  );

  const prepared = await activities.prepareTrueUp(input);
  orders = prepared.report.orders;
  upsertSearchAttributes([
    ...(prepared.report.partnerId ? [{ key: PartnerIdKey, value: prepared.report.partnerId }] : []),
    ...(prepared.accountDomain ? [{ key: CustomerDomainKey, value: prepared.accountDomain }] : []),
  ]);
  if (prepared.status === 'nothing_to_reconcile' || prepared.status === 'approved') {
    setPhase(prepared.status === 'approved' ? 'Approved' : 'NothingToReconcile');
    return view();
  }
  if (prepared.status === 'reported') {
    await activities.sendTrueUpReport({ ...input, workflowId });
    for (const order of orders) await bookTrueUpOrder(order);
  }
  // Awaiting before the row says so: an approval that follows the row never finds the workflow behind it.
  setPhase('AwaitingApproval');
  if (prepared.status === 'reported') await activities.markTrueUpBooked(input);
  await condition(() => approval !== undefined);

  const shippedOn = isoDateOf(Date.now());
  for (const order of orders) {
    const handle = getExternalWorkflowHandle(order.workflowId);
    for (const line of order.input.lines) await handle.signal(lineShippedSignal, { lineNumber: line.lineNumber, shippedOn });
  }
  await activities.markTrueUpApproved({ ...input, approvedBy: approval!.approvedBy });
  setPhase('Approved');
  await condition(allHandlersFinished);
  return view();
}

/** Books one true-up order as a child orderFulfillment; a second start of its ID books nothing. */
async function bookTrueUpOrder(order: TrueUpOrder): Promise<void> {
  try {
    await startChild(ORDER_WORKFLOW_TYPE, {
      workflowId: order.workflowId,
      args: [order.input],
      taskQueue: workflowInfo().taskQueue,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      typedSearchAttributes: [
        { key: OrderIdKey, value: order.orderId },
        { key: ExternalReferenceKey, value: order.input.externalReference },
        { key: PartnerIdKey, value: order.input.partnerId },
        { key: OrderStatusKey, value: 'Booked' },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
