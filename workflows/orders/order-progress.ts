/**
 * The progress step the main loop runs after every message: shipments fix subscription terms, an
 * activated Smart Account receives the licenses waiting for it, shipped lines in an active
 * customer account are provisioned (and the last provisioning fulfils the order).
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import {
  deriveOrderPhase,
  linesReadyToProvision,
  listStatusOf,
  markProvisioned,
  recordEmail,
  shipLine,
} from '../../src/orders/order-lifecycle';
import { activities } from '../shared/activity-proxies';
import { placeInCustomerAccountWith, waitForAssignment } from './order-placement';
import { ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS, type OrderRun } from './order-run';

/** Shipments, an activated account, provisioning: whatever the latest messages made possible. */
export async function advance(run: OrderRun): Promise<void> {
  if (run.state.cancelled) return;
  while (run.pendingShipments.length > 0) {
    const shipment = run.pendingShipments.shift()!;
    const line = run.state.lines.find((l) => l.lineNumber === shipment.lineNumber)!;
    if (line.shippedOn || line.cancelled) continue; // a repeated report of the same shipment
    const next = shipLine(run.state, shipment.lineNumber, shipment.shippedOn);
    const shipped = next.lines.find((l) => l.lineNumber === shipment.lineNumber)!;
    await activities.recordShipment({
      orderId: run.state.orderId,
      lineNumber: shipment.lineNumber,
      shippedOn: shipment.shippedOn,
      ...(shipped.subscription ? { subscription: { termMonths: shipped.termMonths!, ...shipped.subscription } } : {}),
      idempotencyKey: run.key(`shipped:${shipment.lineNumber}`),
      listStatus: listStatusOf(next),
      status: run.statusAfter(next),
    });
    run.setState(next);
  }

  if (run.activatedAccountId && run.state.waiting?.kind === 'activation' && run.state.waiting.accountId === run.activatedAccountId) {
    const { accountId, virtualAccountPath } = run.state.waiting;
    run.activatedAccountId = undefined;
    try {
      await placeInCustomerAccountWith(run, { accountId, virtualAccountPath }, { kind: 'customer' }, `activated:${accountId}`);
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) await waitForAssignment(run, err.message);
      else throw err;
    }
  }

  const ready = linesReadyToProvision(run.state);
  if (ready.length > 0) {
    const lineNumbers = ready.map((line) => line.lineNumber);
    const next = markProvisioned(run.state, lineNumbers);
    const provisioning = {
      orderId: run.state.orderId,
      lineNumbers,
      idempotencyKey: run.key(`provisioned:${lineNumbers.join(',')}`),
      listStatus: listStatusOf(next),
      status: run.statusAfter(next),
    };
    const fulfils = deriveOrderPhase(next) === 'Fulfilled';
    if (fulfils && patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS)) {
      // Patched (added after release): the last provisioning and "fulfilled" in one activity.
      const fulfilled = run.emailRequest('order-fulfilled', ['partner', 'customer', 'holding-members'], 'order-fulfilled', {}, next);
      await activities.provisionLinesAndAnnounce({ ...provisioning, email: fulfilled });
      run.setState(recordEmail(next, 'order-fulfilled'));
      return;
    }
    await activities.provisionLines(provisioning);
    run.setState(next);
    if (fulfils) await run.sendEmail('order-fulfilled', ['partner', 'customer', 'holding-members'], 'order-fulfilled');
  }
}

/** Whether a message left work for advance() (checked as well as the version: see the main loop). */
export function hasWork(run: OrderRun): boolean {
  return (
    run.pendingShipments.length > 0 ||
    (run.activatedAccountId !== undefined && run.state.waiting?.kind === 'activation') ||
    linesReadyToProvision(run.state).length > 0
  );
}
