/**
 * The messages an order answers: its status query, the shipment and activation signals (facts,
 * queued for the main loop), and the assignment, cancellation and customer-choice Updates (a
 * caller needs an answer; validators judge on the state alone, so a rejection writes no history).
 */
import { ApplicationFailure, condition, log, setHandler } from '@temporalio/workflow';
import { isIsoDate } from '../../src/common/dates';
import { validateAssignmentRequest } from '../../src/orders/order';
import {
  assignmentRefusal,
  cancelOrder,
  cancellationRefusal,
  listStatusOf,
  orderStatusOf,
  shipmentRefusal,
} from '../../src/orders/order-lifecycle';
import {
  assignSmartAccountUpdate,
  cancelOrderUpdate,
  lineShippedSignal,
  orderStatusQuery,
  smartAccountActivatedSignal,
  submitCustomerChoiceUpdate,
  type CancelOrderRequest,
  type SubmitCustomerChoiceRequest,
} from '../../src/orders/workflow-api';
import { activities } from '../shared/activity-proxies';
import { awaitActivation, placeInCustomerAccountWith } from './order-placement';
import { asRefusal, type OrderRun } from './order-run';

/** Registers every handler, in the order the workflow always has (before its first await). */
export function installOrderHandlers(run: OrderRun): void {
  setHandler(orderStatusQuery, () => orderStatusOf(run.state));
  installSignals(run);
  installAssignmentUpdate(run);
  installCancellationUpdate(run);
  installCustomerChoiceUpdate(run);
}

function installSignals(run: OrderRun): void {
  setHandler(lineShippedSignal, (shipment) => {
    const refusal = shipmentRefusal(run.state, shipment?.lineNumber, shipment?.shippedOn, isIsoDate);
    if (refusal) {
      log.info('shipment ignored', { refusal, lineNumber: shipment?.lineNumber });
      return;
    }
    run.pendingShipments.push({ lineNumber: shipment.lineNumber, shippedOn: shipment.shippedOn });
    run.version++;
  });

  setHandler(smartAccountActivatedSignal, ({ accountId }) => {
    if (run.state.waiting?.kind === 'activation' && run.state.waiting.accountId === accountId) {
      run.activatedAccountId = accountId;
      run.version++;
    }
  });
}

function installAssignmentUpdate(run: OrderRun): void {
  setHandler(
    assignSmartAccountUpdate,
    async (request) => {
      // Accepted while the booking step still runs (see the validator): judged once it is done.
      if (run.stillBooking()) await condition(() => run.booked);
      return run.serializer.run(async () => {
        const refusal = assignmentRefusal(run.state);
        if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'InvalidState');
        await placeInCustomerAccountWith(
          run,
          { accountId: request.accountId, virtualAccountPath: request.virtualAccountPath },
          { kind: 'partner', partnerId: request.actingPartnerId },
          `assignment:${request.accountId}`,
          { fromUpdate: true },
        );
        return orderStatusOf(run.state);
      });
    },
    {
      // Judged on the workflow's state alone: a rejection here writes nothing to history. An
      // order still in its booking step is not refused: the "transfer needed" email leaves with
      // the hold, so a quick partner can answer before the step has returned; the handler
      // waits for it instead.
      validator: (request) => {
        const errors = validateAssignmentRequest(request);
        if (errors.length) throw new Error(errors.map((e) => `${e.field}: ${e.reason}`).join('; '));
        const refusal = assignmentRefusal(run.state);
        if (refusal && !run.stillBooking()) throw new Error(refusal);
      },
    },
  );
}

function installCancellationUpdate(run: OrderRun): void {
  setHandler(
    cancelOrderUpdate,
    async (request) => {
      await condition(() => run.booked);
      return run.serializer.run(async () => {
        if (run.state.cancelled) return orderStatusOf(run.state);
        const refusal = cancellationRefusal(run.state);
        if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'InvalidState');
        const next = cancelOrder(run.state);
        await run.leaveActivationWait();
        await activities.withdrawOrder({
          orderId: run.state.orderId,
          reason: request?.reason,
          idempotencyKey: run.key('cancelled'),
          listStatus: listStatusOf(next),
          status: run.statusAfter(next),
        });
        run.setState(next);
        await run.sendEmail('order-cancelled', ['partner'], 'order-cancelled');
        return orderStatusOf(run.state);
      });
    },
    {
      validator: (request: CancelOrderRequest | undefined) => {
        if (request !== undefined && (typeof request !== 'object' || request === null)) throw new Error('the request must be an object');
        // Validators do not run on replay, so tightening one needs no patch.
        if (
          request?.reason !== undefined &&
          (typeof request.reason !== 'string' || request.reason.length > 500 || /[\u0000-\u001f\u007f]/.test(request.reason))
        ) {
          throw new Error('reason: must be text of at most 500 characters');
        }
        const refusal = cancellationRefusal(run.state);
        if (refusal) throw new Error(refusal);
      },
    },
  );
}

function installCustomerChoiceUpdate(run: OrderRun): void {
  setHandler(
    submitCustomerChoiceUpdate,
    (request) =>
      run.serializer.run(async () => {
        if (run.state.waiting?.kind !== 'customer-choice')
          throw ApplicationFailure.nonRetryable('the order no longer waits for a choice', 'InvalidState');
        const chosen = await activities
          .redeemCustomerChoice({ orderId: run.state.orderId, tokenHash: request.tokenHash, choice: request.choice })
          .catch(asRefusal);
        if (chosen.kind === 'active') {
          await placeInCustomerAccountWith(
            run,
            { accountId: chosen.accountId, virtualAccountPath: chosen.virtualAccountPath },
            { kind: 'customer' },
            `customer-choice:${chosen.accountId}`,
          );
        } else {
          await awaitActivation(run, chosen.accountId, chosen.domain, chosen.virtualAccountPath);
        }
        return orderStatusOf(run.state);
      }),
    { validator: (request: SubmitCustomerChoiceRequest | undefined) => validateCustomerChoice(run, request) },
  );
}

function validateCustomerChoice(run: OrderRun, request: SubmitCustomerChoiceRequest | undefined): void {
  if (typeof request?.tokenHash !== 'string' || !/^[0-9a-f]{64}$/.test(request.tokenHash))
    throw new Error('tokenHash: must be 64 hex digits');
  const choice = request.choice as { kind?: unknown; accountId?: unknown; accountName?: unknown } | undefined;
  if (
    choice?.kind === 'existing' ? typeof choice.accountId !== 'string' : choice?.kind !== 'create' || typeof choice.accountName !== 'string'
  ) {
    throw new Error('choice: must be {kind: "existing", accountId} or {kind: "create", accountName}');
  }
  if (run.state.waiting?.kind !== 'customer-choice') throw new Error("the order does not wait for the customer's choice");
}
