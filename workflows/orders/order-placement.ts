/**
 * The placement phase of an order: where its licenses go as the assignment says (the customer's
 * Smart Account, a holding account, a Smart Account requested for the customer, or the customer's
 * own choice through a delegation link), and what happens when a placement is refused (S10).
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { PlacementActor } from '../../activities/orders/placement';
import { holdInHoldingAccount, listStatusOf, placeInCustomerAccount, recordEmail, waitFor } from '../../src/orders/order-lifecycle';
import { activities, localActivities } from '../shared/activity-proxies';
import { ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS, PLACE_IN_THE_UPDATE_TASK, asRefusal, type OrderRun } from './order-run';

/** Deposit into, or transfer to, the customer's active Smart Account (R6). Refusals reach the caller. */
export async function placeInCustomerAccountWith(
  run: OrderRun,
  target: { accountId: string; virtualAccountPath?: string },
  actor: PlacementActor,
  purpose: string,
  options: { fromUpdate?: boolean } = {},
): Promise<void> {
  const projected = placeInCustomerAccount(run.state, { ...target, domain: '' });
  const placement = {
    orderId: run.state.orderId,
    target: { kind: 'smart_account' as const, ...target },
    actor,
    idempotencyKey: run.key(purpose),
    listStatus: listStatusOf(projected),
    status: run.statusAfter(projected),
  };
  // Patched (added after release): the deposit and its confirmation in one activity.
  const confirmation = `deposit-confirmation:${target.accountId}`;
  const together = patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS);
  // Patched (added after release): an Update's placement as a local activity, so the Update is
  // answered by the one workflow task that accepted it (no activity task, no second task).
  const local = together && options.fromUpdate === true && patched(PLACE_IN_THE_UPDATE_TASK);
  const placed = await (
    together
      ? (local ? localActivities : activities).placeLinesAndAnnounce({
          ...placement,
          email: run.emailRequest('deposit-confirmation', ['partner', 'customer'], confirmation, {}, projected),
        })
      : activities.placeLines(placement)
  ).catch(asRefusal);
  if (run.state.waiting?.kind === 'activation' && run.state.waiting.accountId !== placed.accountId) await run.leaveActivationWait();
  run.setState(placeInCustomerAccount(run.state, { ...target, domain: placed.accountDomain ?? '' }));
  if (together) run.setState(recordEmail(run.state, confirmation));
  else await run.sendEmail('deposit-confirmation', ['partner', 'customer'], `deposit-confirmation:${placed.accountId}`);
}

export async function awaitActivation(run: OrderRun, accountId: string, domain: string, virtualAccountPath?: string): Promise<void> {
  // Wait first, register second: an account that is already active answers at once, and its
  // signal must find the order waiting for it.
  run.setState(waitFor(run.state, { kind: 'activation', accountId, domain, ...(virtualAccountPath ? { virtualAccountPath } : {}) }));
  await activities.registerForActivation({
    orderId: run.state.orderId,
    accountId,
    domain,
    orderWorkflowId: run.workflowId,
    listStatus: listStatusOf(run.state),
    status: run.statusAfter(run.state),
  });
}

/** A refusal does not drop the order: it waits for a valid assignment (S10), and the partner is told why. */
export async function waitForAssignment(run: OrderRun, reason: string): Promise<void> {
  const earlier = run.state.emailsSent.filter((purpose) => purpose.startsWith('assignment-refused')).length;
  const purpose = earlier === 0 ? 'assignment-refused' : `assignment-refused:${earlier + 1}`;
  const next = waitFor(run.state, { kind: 'assignment', reason });
  await activities.recordAssignmentRefused({
    orderId: run.state.orderId,
    reason,
    idempotencyKey: run.key(purpose),
    listStatus: listStatusOf(next),
    status: run.statusAfter(next),
  });
  run.setState(next);
  await run.sendEmail('assignment-refused', ['partner'], purpose, { refusalReason: reason });
}

/** The placement the booking asked for; a refusal leaves the order waiting for an assignment. */
export async function placeAsBooked(run: OrderRun): Promise<void> {
  const assignment = run.state.assignment;
  const bookingPartner: PlacementActor = { kind: 'partner', partnerId: run.state.bookedByPartnerId };
  try {
    switch (assignment.kind) {
      case 'smart_account':
        await placeInCustomerAccountWith(run, assignment, bookingPartner, `deposit:${assignment.accountId}`);
        return;
      case 'holding_account': {
        const projected = holdInHoldingAccount(run.state, assignment.accountId, assignment.virtualAccountPath, Date.now());
        const hold = {
          orderId: run.state.orderId,
          target: assignment,
          actor: bookingPartner,
          idempotencyKey: run.key(`hold:${assignment.accountId}`),
          listStatus: listStatusOf(projected),
          status: run.statusAfter(projected),
        };
        // R5: only Smart Account-mandatory orders must be moved; the partner is told so.
        const mustMove = run.state.lines.some((line) => line.smartAccountMandatory);
        if (mustMove && patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS)) {
          // Patched (added after release): the hold and "transfer needed" in one activity.
          await activities
            .placeLinesAndAnnounce({ ...hold, email: run.emailRequest('transfer-needed', ['partner'], 'transfer-needed', {}, projected) })
            .catch(asRefusal);
          run.setState(recordEmail(projected, 'transfer-needed'));
          return;
        }
        await activities.placeLines(hold).catch(asRefusal);
        run.setState(projected);
        if (mustMove) await run.sendEmail('transfer-needed', ['partner'], 'transfer-needed');
        return;
      }
      case 'request_smart_account': {
        const requested = await activities
          .requestSmartAccount({
            orderId: run.state.orderId,
            domain: assignment.domain,
            ...(run.input.endCustomerContact?.registeredId ? { claimedRegisteredId: run.input.endCustomerContact.registeredId } : {}),
          })
          .catch(asRefusal);
        if (requested.status === 'active') {
          // Requested and activated before, for an earlier order of the same contact.
          await placeInCustomerAccountWith(run, { accountId: requested.accountId }, { kind: 'customer' }, `deposit:${requested.accountId}`);
        } else {
          await awaitActivation(run, requested.accountId, requested.domain);
        }
        return;
      }
      case 'delegate': {
        // Waiting before the link leaves, so a quick answer finds the order ready for it.
        run.setState(waitFor(run.state, { kind: 'customer-choice', sinceMs: Date.now(), remindersSent: 0 }));
        await activities.sendDelegationRequest({
          orderId: run.state.orderId,
          idempotencyKey: run.key('delegation-request'),
          listStatus: listStatusOf(run.state),
          status: run.statusAfter(recordEmail(run.state, 'delegation-request')),
        });
        run.setState(recordEmail(run.state, 'delegation-request'));
        return;
      }
    }
  } catch (err) {
    if (err instanceof ApplicationFailure && err.nonRetryable) return waitForAssignment(run, err.message);
    throw err;
  }
}
