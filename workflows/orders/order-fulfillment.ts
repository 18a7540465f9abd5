/**
 * orderFulfillment: one durable workflow per order (`order-<orderId>`), from booking until every
 * line is provisioned or the order is cancelled — minutes, or many months. Deterministic code
 * only: every side effect is an activity; business facts come from the input and messages.
 *
 * The lifecycle, top to bottom:
 *   1. record the booking;
 *   2. place the licenses as the assignment says: the customer's Smart Account, a holding
 *      account (partner reminded, then escalated), a Smart Account requested for the customer
 *      (wait for its activation), or the customer's own choice through a delegation link;
 *   3. then, as messages arrive: shipments fix subscription terms; assignments transfer held
 *      licenses; shipped lines in an active customer account are provisioned;
 *   4. tell partner, customer and holding-account members; finish when fulfilled or cancelled.
 * State transitions and everything derived from them live in src/orders/order-lifecycle.ts.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { FulfillmentSettings } from '../../activities';
import type { Audience } from '../../activities/shared/email';
import type { PlacementActor } from '../../activities/orders/placement';
import { isIsoDate } from '../../src/common/dates';
import type { OrderFulfillmentInput } from '../../src/orders/order';
import { validateAssignmentRequest } from '../../src/orders/order';
import {
  assignmentRefusal,
  cancelOrder,
  cancellationRefusal,
  deriveOrderPhase,
  deriveWaitingFor,
  holdInHoldingAccount,
  initialOrderState,
  linesReadyToProvision,
  listStatusOf,
  markProvisioned,
  orderStatusOf,
  placeInCustomerAccount,
  recordEmail,
  shipLine,
  shipmentRefusal,
  waitFor,
  type OrderState,
  type OrderStatus,
} from '../../src/orders/order-lifecycle';
import type { EmailTemplate } from '../../src/orders/email-templates';

/**
 * Patch IDs: changes made after release, each guarded by patched() so the runs started before
 * it replay unchanged. Listed here so deprecatePatched() can follow once no old run is left.
 */
const TELL_PARTNER_OF_UNANSWERED_DELEGATION = 'tell-partner-of-unanswered-delegation';
/**
 * Two changes shipped together, so one ID: a placement or provisioning and the email announcing
 * it in one activity (activities/orders/phases.ts), and reminders moved past the cadence by the order's
 * own offset (src/orders/reminder-schedule.ts). One ID because each patch ID costs every new run
 * a TemporalChangeVersion search-attribute upsert, a billed action (docs/EVOLVING-WORKFLOWS.md).
 */
const ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS = 'one-activity-per-phase-and-spread-reminders';
import {
  assignSmartAccountUpdate,
  cancelOrderUpdate,
  lineShippedSignal,
  orderStatusQuery,
  smartAccountActivatedSignal,
  submitCustomerChoiceUpdate,
  activationWorkflowId,
  withdrawWaitingOrderSignal,
  type LineShipped,
  type CancelOrderRequest,
  type SubmitCustomerChoiceRequest,
} from '../../src/orders/workflow-api';
import { CustomerDomainKey, HoldingAccountIdKey, OrderStatusKey, WaitingForKey } from '../../src/temporal/search-attributes';
import { reminderDueAtMs, reminderOffsetMs } from '../../src/orders/reminder-schedule';
import { activities, loadFulfillmentSettings } from '../shared/activity-proxies';
import { Serializer } from '../shared/serializer';

/** What a run hands to the next one when it continues as new. */
export interface OrderCarryOver {
  state: OrderState;
  pendingShipments: LineShipped[];
  activatedAccountId?: string;
}

export async function orderFulfillment(input: OrderFulfillmentInput, carried?: OrderCarryOver): Promise<OrderStatus> {
  const { workflowId } = workflowInfo();
  const key = (purpose: string) => `${workflowId}:${purpose}`;
  let state: OrderState = carried?.state ?? initialOrderState(input);
  const pendingShipments: LineShipped[] = [...(carried?.pendingShipments ?? [])];
  let activatedAccountId = carried?.activatedAccountId;
  // Bumped on every state change so the main loop wakes up for what a handler did.
  let version = 0;
  // Handlers and the main loop change the state one at a time, each change with its activity.
  const serializer = new Serializer();
  // A cancellation waits for the booking step, even one delivered with the very first task.
  let booked = carried !== undefined;

  setHandler(orderStatusQuery, () => orderStatusOf(state));
  /** In the booking step: nothing placed yet (an Update then waits for the step rather than failing). */
  const stillBooking = () => !booked && deriveOrderPhase(state) === 'Booked';

  setHandler(lineShippedSignal, (shipment) => {
    const refusal = shipmentRefusal(state, shipment?.lineNumber, shipment?.shippedOn, isIsoDate);
    if (refusal) {
      log.info('shipment ignored', { refusal, lineNumber: shipment?.lineNumber });
      return;
    }
    pendingShipments.push({ lineNumber: shipment.lineNumber, shippedOn: shipment.shippedOn });
    version++;
  });

  setHandler(smartAccountActivatedSignal, ({ accountId }) => {
    if (state.waiting?.kind === 'activation' && state.waiting.accountId === accountId) {
      activatedAccountId = accountId;
      version++;
    }
  });

  setHandler(
    assignSmartAccountUpdate,
    async (request) => {
      // Accepted while the booking step still runs (see the validator): judged once it is done.
      if (stillBooking()) await condition(() => booked);
      return serializer.run(async () => {
        const refusal = assignmentRefusal(state);
        if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'InvalidState');
        await placeInCustomerAccountWith(
          { accountId: request.accountId, virtualAccountPath: request.virtualAccountPath },
          { kind: 'partner', partnerId: request.actingPartnerId },
          `assignment:${request.accountId}`,
        );
        return orderStatusOf(state);
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
        const refusal = assignmentRefusal(state);
        if (refusal && !stillBooking()) throw new Error(refusal);
      },
    },
  );

  setHandler(
    cancelOrderUpdate,
    async (request) => {
      await condition(() => booked);
      return serializer.run(async () => {
        if (state.cancelled) return orderStatusOf(state);
        const refusal = cancellationRefusal(state);
        if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'InvalidState');
        const next = cancelOrder(state);
        await leaveActivationWait();
        await activities.withdrawOrder({
          orderId: state.orderId,
          reason: request?.reason,
          idempotencyKey: key('cancelled'),
          listStatus: listStatusOf(next),
        });
        setState(next);
        await sendEmail('order-cancelled', ['partner'], 'order-cancelled');
        return orderStatusOf(state);
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
        const refusal = cancellationRefusal(state);
        if (refusal) throw new Error(refusal);
      },
    },
  );

  setHandler(
    submitCustomerChoiceUpdate,
    (request) =>
      serializer.run(async () => {
        if (state.waiting?.kind !== 'customer-choice')
          throw ApplicationFailure.nonRetryable('the order no longer waits for a choice', 'InvalidState');
        const chosen = await activities
          .redeemCustomerChoice({ orderId: state.orderId, tokenHash: request.tokenHash, choice: request.choice })
          .catch(asRefusal);
        if (chosen.kind === 'active') {
          await placeInCustomerAccountWith(
            { accountId: chosen.accountId, virtualAccountPath: chosen.virtualAccountPath },
            { kind: 'customer' },
            `customer-choice:${chosen.accountId}`,
          );
        } else {
          await awaitActivation(chosen.accountId, chosen.domain, chosen.virtualAccountPath);
        }
        return orderStatusOf(state);
      }),
    {
      validator: (request: SubmitCustomerChoiceRequest | undefined) => {
        if (typeof request?.tokenHash !== 'string' || !/^[0-9a-f]{64}$/.test(request.tokenHash))
          throw new Error('tokenHash: must be 64 hex digits');
        const choice = request.choice as { kind?: unknown; accountId?: unknown; accountName?: unknown } | undefined;
        if (
          choice?.kind === 'existing'
            ? typeof choice.accountId !== 'string'
            : choice?.kind !== 'create' || typeof choice.accountName !== 'string'
        ) {
          throw new Error('choice: must be {kind: "existing", accountId} or {kind: "create", accountName}');
        }
        if (state.waiting?.kind !== 'customer-choice') throw new Error("the order does not wait for the customer's choice");
      },
    },
  );

  function setState(next: OrderState): void {
    state = next;
    version++;
  }

  type EmailExtras = { reminderNumber?: number; heldSinceMs?: number; refusalReason?: string; requestedDomain?: string };
  /** The order email of `purpose` (its idempotency key) to `audiences`. */
  function emailRequest(template: EmailTemplate, audiences: Audience[], purpose: string, extra: EmailExtras = {}) {
    return { orderId: state.orderId, template, audiences, idempotencyKey: key(purpose), ...extra };
  }

  async function sendEmail(template: EmailTemplate, audiences: Audience[], purpose: string, extra: EmailExtras = {}): Promise<void> {
    await activities.sendOrderEmail(emailRequest(template, audiences, purpose, extra));
    setState(recordEmail(state, purpose));
  }

  /** An order that stops waiting for a Smart Account's activation tells that account's workflow. */
  async function leaveActivationWait(): Promise<void> {
    if (state.waiting?.kind !== 'activation') return;
    try {
      await getExternalWorkflowHandle(activationWorkflowId(state.waiting.accountId)).signal(withdrawWaitingOrderSignal, { workflowId });
    } catch (err) {
      // Already finished: nothing waits on our behalf any more.
      log.info('activation workflow not running', { error: String(err) });
    }
  }

  /** Deposit into, or transfer to, the customer's active Smart Account (R6). Refusals reach the caller. */
  async function placeInCustomerAccountWith(
    target: { accountId: string; virtualAccountPath?: string },
    actor: PlacementActor,
    purpose: string,
  ): Promise<void> {
    const projected = placeInCustomerAccount(state, { ...target, domain: '' });
    const placement = {
      orderId: state.orderId,
      target: { kind: 'smart_account' as const, ...target },
      actor,
      idempotencyKey: key(purpose),
      listStatus: listStatusOf(projected),
    };
    // Patched (added after release): the deposit and its confirmation in one activity.
    const confirmation = `deposit-confirmation:${target.accountId}`;
    const together = patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS);
    const placed = await (
      together
        ? activities.placeLinesAndAnnounce({
            ...placement,
            email: emailRequest('deposit-confirmation', ['partner', 'customer'], confirmation),
          })
        : activities.placeLines(placement)
    ).catch(asRefusal);
    if (state.waiting?.kind === 'activation' && state.waiting.accountId !== placed.accountId) await leaveActivationWait();
    setState(placeInCustomerAccount(state, { ...target, domain: placed.accountDomain ?? '' }));
    if (together) setState(recordEmail(state, confirmation));
    else await sendEmail('deposit-confirmation', ['partner', 'customer'], `deposit-confirmation:${placed.accountId}`);
  }

  async function awaitActivation(accountId: string, domain: string, virtualAccountPath?: string): Promise<void> {
    // Wait first, register second: an account that is already active answers at once, and its
    // signal must find the order waiting for it.
    setState(waitFor(state, { kind: 'activation', accountId, domain, ...(virtualAccountPath ? { virtualAccountPath } : {}) }));
    await activities.registerForActivation({
      orderId: state.orderId,
      accountId,
      domain,
      orderWorkflowId: workflowId,
      listStatus: listStatusOf(state),
    });
  }

  /** A refusal does not drop the order: it waits for a valid assignment (S10), and the partner is told why. */
  async function waitForAssignment(reason: string): Promise<void> {
    const earlier = state.emailsSent.filter((purpose) => purpose.startsWith('assignment-refused')).length;
    const purpose = earlier === 0 ? 'assignment-refused' : `assignment-refused:${earlier + 1}`;
    const next = waitFor(state, { kind: 'assignment', reason });
    await activities.recordAssignmentRefused({
      orderId: state.orderId,
      reason,
      idempotencyKey: key(purpose),
      listStatus: listStatusOf(next),
    });
    setState(next);
    await sendEmail('assignment-refused', ['partner'], purpose, { refusalReason: reason });
  }

  async function placeAsBooked(): Promise<void> {
    const assignment = state.assignment;
    const bookingPartner: PlacementActor = { kind: 'partner', partnerId: state.bookedByPartnerId };
    try {
      switch (assignment.kind) {
        case 'smart_account':
          await placeInCustomerAccountWith(assignment, bookingPartner, `deposit:${assignment.accountId}`);
          return;
        case 'holding_account': {
          const projected = holdInHoldingAccount(state, assignment.accountId, assignment.virtualAccountPath, Date.now());
          const hold = {
            orderId: state.orderId,
            target: assignment,
            actor: bookingPartner,
            idempotencyKey: key(`hold:${assignment.accountId}`),
            listStatus: listStatusOf(projected),
          };
          // R5: only Smart Account-mandatory orders must be moved; the partner is told so.
          const mustMove = state.lines.some((line) => line.smartAccountMandatory);
          if (mustMove && patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS)) {
            // Patched (added after release): the hold and "transfer needed" in one activity.
            await activities
              .placeLinesAndAnnounce({ ...hold, email: emailRequest('transfer-needed', ['partner'], 'transfer-needed') })
              .catch(asRefusal);
            setState(recordEmail(projected, 'transfer-needed'));
            return;
          }
          await activities.placeLines(hold).catch(asRefusal);
          setState(projected);
          if (mustMove) await sendEmail('transfer-needed', ['partner'], 'transfer-needed');
          return;
        }
        case 'request_smart_account': {
          const requested = await activities
            .requestSmartAccount({
              orderId: state.orderId,
              domain: assignment.domain,
              ...(input.endCustomerContact?.registeredId ? { claimedRegisteredId: input.endCustomerContact.registeredId } : {}),
            })
            .catch(asRefusal);
          if (requested.status === 'active') {
            // Requested and activated before, for an earlier order of the same contact.
            await placeInCustomerAccountWith({ accountId: requested.accountId }, { kind: 'customer' }, `deposit:${requested.accountId}`);
          } else {
            await awaitActivation(requested.accountId, requested.domain);
          }
          return;
        }
        case 'delegate': {
          // Waiting before the link leaves, so a quick answer finds the order ready for it.
          setState(waitFor(state, { kind: 'customer-choice', sinceMs: Date.now(), remindersSent: 0 }));
          await activities.sendDelegationRequest({
            orderId: state.orderId,
            idempotencyKey: key('delegation-request'),
            listStatus: listStatusOf(state),
          });
          setState(recordEmail(state, 'delegation-request'));
          return;
        }
      }
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) return waitForAssignment(err.message);
      throw err;
    }
  }

  /** Shipments, an activated account, provisioning: whatever the latest messages made possible. */
  async function advance(): Promise<void> {
    if (state.cancelled) return;
    while (pendingShipments.length > 0) {
      const shipment = pendingShipments.shift()!;
      const line = state.lines.find((l) => l.lineNumber === shipment.lineNumber)!;
      if (line.shippedOn || line.cancelled) continue; // a repeated report of the same shipment
      const next = shipLine(state, shipment.lineNumber, shipment.shippedOn);
      const shipped = next.lines.find((l) => l.lineNumber === shipment.lineNumber)!;
      await activities.recordShipment({
        orderId: state.orderId,
        lineNumber: shipment.lineNumber,
        shippedOn: shipment.shippedOn,
        ...(shipped.subscription ? { subscription: { termMonths: shipped.termMonths!, ...shipped.subscription } } : {}),
        idempotencyKey: key(`shipped:${shipment.lineNumber}`),
        listStatus: listStatusOf(next),
      });
      setState(next);
    }

    if (activatedAccountId && state.waiting?.kind === 'activation' && state.waiting.accountId === activatedAccountId) {
      const { accountId, virtualAccountPath } = state.waiting;
      activatedAccountId = undefined;
      try {
        await placeInCustomerAccountWith({ accountId, virtualAccountPath }, { kind: 'customer' }, `activated:${accountId}`);
      } catch (err) {
        if (err instanceof ApplicationFailure && err.nonRetryable) await waitForAssignment(err.message);
        else throw err;
      }
    }

    const ready = linesReadyToProvision(state);
    if (ready.length > 0) {
      const lineNumbers = ready.map((line) => line.lineNumber);
      const next = markProvisioned(state, lineNumbers);
      const provisioning = {
        orderId: state.orderId,
        lineNumbers,
        idempotencyKey: key(`provisioned:${lineNumbers.join(',')}`),
        listStatus: listStatusOf(next),
      };
      const fulfils = deriveOrderPhase(next) === 'Fulfilled';
      if (fulfils && patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS)) {
        // Patched (added after release): the last provisioning and "fulfilled" in one activity.
        const fulfilled = emailRequest('order-fulfilled', ['partner', 'customer', 'holding-members'], 'order-fulfilled');
        await activities.provisionLinesAndAnnounce({ ...provisioning, email: fulfilled });
        setState(recordEmail(next, 'order-fulfilled'));
        return;
      }
      await activities.provisionLines(provisioning);
      setState(next);
      if (fulfils) await sendEmail('order-fulfilled', ['partner', 'customer', 'holding-members'], 'order-fulfilled');
    }
  }

  function hasWork(): boolean {
    return (
      pendingShipments.length > 0 ||
      (activatedAccountId !== undefined && state.waiting?.kind === 'activation') ||
      linesReadyToProvision(state).length > 0
    );
  }

  /** R5: reminders on the configured cadence while held, and one escalation after the configured time. */
  async function remindIfDue(settings: FulfillmentSettings): Promise<void> {
    const waiting = state.waiting;
    const now = Date.now();
    if (waiting?.kind === 'customer-choice') {
      // Patched (added after release): the partner hears once that the customer has not chosen,
      // so an unanswered delegation never waits unnoticed. Runs started before the change
      // replay without it (docs/EVOLVING-WORKFLOWS.md).
      if (!waiting.partnerTold && now >= waiting.sinceMs + settings.escalationAfterMs && patched(TELL_PARTNER_OF_UNANSWERED_DELEGATION)) {
        await sendEmail('delegation-unanswered', ['partner'], 'delegation-unanswered', {
          heldSinceMs: waiting.sinceMs,
          ...(waiting.remindersSent ? { reminderNumber: waiting.remindersSent } : {}),
        });
        setState(waitFor(state, { ...waiting, partnerTold: true }));
        return;
      }
      // A fresh link each time: an expired or lost one is never the end of the order.
      const reminderNumber = waiting.remindersSent + 1;
      if (now < reminderDueAt(waiting.sinceMs, reminderNumber, settings)) return;
      await activities.sendDelegationRequest({
        orderId: state.orderId,
        idempotencyKey: key(`delegation-reminder:${reminderNumber}`),
        listStatus: listStatusOf(state),
        reminderNumber,
      });
      setState(recordEmail(waitFor(state, { ...waiting, remindersSent: reminderNumber }), `delegation-reminder:${reminderNumber}`));
      return;
    }
    if (waiting?.kind !== 'partner-transfer') return;
    if (!waiting.escalated && now >= waiting.heldSinceMs + settings.escalationAfterMs) {
      await sendEmail('escalation', ['escalation'], 'escalation', { heldSinceMs: waiting.heldSinceMs });
      setState(waitFor(state, { ...waiting, escalated: true }));
    }
    const current = state.waiting as typeof waiting;
    const reminderNumber = current.remindersSent + 1;
    if (now >= reminderDueAt(current.heldSinceMs, reminderNumber, settings)) {
      await sendEmail('transfer-reminder', ['partner'], `transfer-reminder:${reminderNumber}`, {
        reminderNumber,
        heldSinceMs: current.heldSinceMs,
      });
      setState(waitFor(state, { ...current, remindersSent: reminderNumber }));
    }
  }

  /**
   * When reminder `reminderNumber` of a wait that began at `sinceMs` is due. Patched (added after
   * release): each order's reminders come at its own offset past the cadence, so orders booked
   * together are not reminded together; runs started before keep their timers.
   */
  function reminderDueAt(sinceMs: number, reminderNumber: number, settings: FulfillmentSettings): number {
    const offset = patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS)
      ? reminderOffsetMs(state.orderId, settings.reminderIntervalMs, settings.reminderJitterMs ?? 0)
      : 0;
    return reminderDueAtMs(sinceMs, reminderNumber, settings.reminderIntervalMs, offset);
  }

  /**
   * When the next reminder is due: to the partner for a held, Smart Account-mandatory order
   * (then one escalation), or to the customer contact who has not chosen yet.
   */
  function nextReminderAt(settings: FulfillmentSettings): number | undefined {
    const waiting = state.waiting;
    if (waiting?.kind === 'customer-choice') {
      const reminder = reminderDueAt(waiting.sinceMs, waiting.remindersSent + 1, settings);
      const tellPartner = waiting.sinceMs + settings.escalationAfterMs;
      // Only a run that knows the patch wakes up for the partner notice (an old one keeps its timers).
      return !waiting.partnerTold && tellPartner < reminder && patched(TELL_PARTNER_OF_UNANSWERED_DELEGATION) ? tellPartner : reminder;
    }
    if (waiting?.kind !== 'partner-transfer' || !state.lines.some((l) => l.smartAccountMandatory && !l.cancelled)) return undefined;
    const reminder = reminderDueAt(waiting.heldSinceMs, waiting.remindersSent + 1, settings);
    return waiting.escalated ? reminder : Math.min(reminder, waiting.heldSinceMs + settings.escalationAfterMs);
  }

  let published: Record<string, string | undefined> = {};
  /** Keeps the search attributes operators filter on in step with the state (only what changed). */
  function publishSearchAttributes(): void {
    const current: Record<string, string | undefined> = {
      OrderStatus: deriveOrderPhase(state),
      WaitingFor: deriveWaitingFor(state),
      CustomerDomain: state.customerAccount?.domain || (state.waiting?.kind === 'activation' ? state.waiting.domain : undefined),
      HoldingAccountId: state.holdingAccountId,
    };
    const keys = {
      OrderStatus: OrderStatusKey,
      WaitingFor: WaitingForKey,
      CustomerDomain: CustomerDomainKey,
      HoldingAccountId: HoldingAccountIdKey,
    };
    const updates = (Object.keys(keys) as Array<keyof typeof keys>)
      .filter((name) => current[name] !== published[name] && current[name] !== undefined)
      .map((name) => ({ key: keys[name], value: current[name]! }));
    if (updates.length > 0) upsertSearchAttributes(updates);
    published = current;
    setCurrentDetails(describeForOperators(orderStatusOf(state)));
  }

  // ---- the run ----
  const settings = await loadFulfillmentSettings();
  if (!carried) {
    // One step: a cancellation that arrives meanwhile waits for the booking to be written.
    await serializer.run(async () => {
      // A booking refused (unknown partner, not a reseller) fails the order with the reason;
      // the same reference can then be booked again once corrected.
      await activities.recordBooking(input, workflowId).catch(asRefusal);
      await placeAsBooked();
    });
    booked = true;
  }

  for (;;) {
    await serializer.run(advance);
    publishSearchAttributes();
    const phase = deriveOrderPhase(state);
    if (phase === 'Fulfilled' || phase === 'Cancelled') break;

    // Wake on any state change, and on work that arrived while the last step ran (a signal
    // during an activity bumps the version before `seen` is taken, so check the work itself).
    const seen = version;
    const changed = () => version !== seen || hasWork();
    const dueAt = nextReminderAt(settings);
    if (dueAt === undefined) {
      await condition(changed);
    } else if (!(await condition(changed, Math.max(dueAt - Date.now(), 1)))) {
      await serializer.run(() => remindIfDue(settings));
    }

    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= settings.historyEventLimit) {
      // Keep the history bounded over months of waiting; the state travels whole.
      await condition(allHandlersFinished);
      await continueAsNew<typeof orderFulfillment>(input, { state, pendingShipments, activatedAccountId });
    }
  }
  await condition(allHandlersFinished);
  return orderStatusOf(state);
}

/** A business refusal from an activity becomes the caller's own failure, with the same type and reason. */
function asRefusal(err: unknown): never {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) {
    throw ApplicationFailure.nonRetryable(err.cause.message, err.cause.type, ...(err.cause.details ?? []));
  }
  throw err;
}

/** The "current details" the Temporal UI shows on the workflow page (no history events). */
function describeForOperators(status: OrderStatus): string {
  const lines = status.lines.map(
    (l) =>
      `- line ${l.lineNumber}: ${l.sku} x ${l.quantity}, **${l.state}**` +
      (l.accountId ? ` in ${l.accountId}${l.virtualAccountPath ? `/${l.virtualAccountPath}` : ''}` : '') +
      (l.subscription
        ? `, subscription ${l.subscription.startsOn} to ${l.subscription.endsOn}`
        : l.shippedOn
          ? `, shipped ${l.shippedOn}`
          : ''),
  );
  return [
    `**${status.phase}** (waiting for ${status.waitingFor}) — order ${status.externalReference} of ${status.partnerId}`,
    ...(status.pendingAction ? [`Next: ${status.pendingAction}`] : []),
    ...lines,
  ].join('\n');
}
