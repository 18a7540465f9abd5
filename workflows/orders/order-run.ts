/**
 * The state of one orderFulfillment run and the small steps every part of it shares: changing
 * the state, keying side effects, sending an order email. The handlers, the placement phase,
 * the progress step and the reminders all work on one OrderRun, so the workflow's state lives
 * in one place and each part reads it live.
 */
import { ActivityFailure, ApplicationFailure, getExternalWorkflowHandle, log, workflowInfo } from '@temporalio/workflow';
import type { Audience } from '../../activities/shared/email';
import type { StatusProjection } from '../../activities/orders/records';
import type { OrderFulfillmentInput } from '../../src/orders/order';
import { deriveOrderPhase, initialOrderState, orderStatusOf, recordEmail, type OrderState } from '../../src/orders/order-lifecycle';
import type { EmailTemplate } from '../../src/orders/email-templates';
import { activationWorkflowId, withdrawWaitingOrderSignal, type LineShipped } from '../../src/orders/workflow-api';
import { activities } from '../shared/activity-proxies';
import { Serializer } from '../shared/serializer';

/**
 * Patch IDs: changes made after release, each guarded by patched() so the runs started before
 * it replay unchanged. Listed here so deprecatePatched() can follow once no old run is left.
 */
export const TELL_PARTNER_OF_UNANSWERED_DELEGATION = 'tell-partner-of-unanswered-delegation';
/**
 * Two changes shipped together, so one ID: a placement or provisioning and the email announcing
 * it in one activity (activities/orders/phases.ts), and reminders moved past the cadence by the order's
 * own offset (src/orders/reminder-schedule.ts). One ID because each patch ID costs every new run
 * a TemporalChangeVersion search-attribute upsert, a billed action (docs/EVOLVING-WORKFLOWS.md).
 */
export const ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS = 'one-activity-per-phase-and-spread-reminders';
/**
 * A partner's assignment Update places the lines in a local activity (order-placement.ts), so
 * one workflow task accepts and answers it: what a batch transfer of held orders costs per order.
 */
export const PLACE_IN_THE_UPDATE_TASK = 'place-in-the-update-task';
/**
 * Reminders missed while no worker ran (over two intervals) are caught up by one reminder,
 * numbered as the last one due, instead of one each a few seconds apart. Asked for only when
 * three or more are due at once, so a run that never falls that far behind records no marker.
 */
export const ONE_REMINDER_FOR_MISSED_ONES = 'one-reminder-for-missed-ones';

/** What a run hands to the next one when it continues as new. */
export interface OrderCarryOver {
  state: OrderState;
  pendingShipments: LineShipped[];
  activatedAccountId?: string;
  /** The last status version handed to an activity (absent from runs before the projection). */
  statusVersion?: number;
}

export type EmailExtras = { reminderNumber?: number; heldSinceMs?: number; refusalReason?: string; requestedDomain?: string };

export class OrderRun {
  readonly workflowId = workflowInfo().workflowId;
  state: OrderState;
  readonly pendingShipments: LineShipped[];
  activatedAccountId: string | undefined;
  /** Bumped on every state change so the main loop wakes up for what a handler did. */
  version = 0;
  /** Handlers and the main loop change the state one at a time, each change with its activity. */
  readonly serializer = new Serializer();
  /** A cancellation waits for the booking step, even one delivered with the very first task. */
  booked: boolean;
  /** The last status version handed to an activity: each state change's projection is newer. */
  private statusVersion: number;

  constructor(
    readonly input: OrderFulfillmentInput,
    carried?: OrderCarryOver,
  ) {
    this.state = carried?.state ?? initialOrderState(input);
    this.pendingShipments = [...(carried?.pendingShipments ?? [])];
    this.activatedAccountId = carried?.activatedAccountId;
    this.booked = carried !== undefined;
    this.statusVersion = carried?.statusVersion ?? 0;
  }

  /**
   * The status `next` will show, for the activity whose write produces it to store (Postgres is
   * what callers read: src/orders/order-status.ts). Activity arguments are not part of the
   * commands a replay compares, so carrying it needs no patch.
   */
  statusAfter(next: OrderState): StatusProjection {
    this.statusVersion++;
    return { version: this.statusVersion, status: orderStatusOf(next) };
  }

  /** The idempotency key of this order's side effect `purpose`. */
  key(purpose: string): string {
    return `${this.workflowId}:${purpose}`;
  }

  setState(next: OrderState): void {
    this.state = next;
    this.version++;
  }

  /** In the booking step: nothing placed yet (an Update then waits for the step rather than failing). */
  stillBooking(): boolean {
    return !this.booked && deriveOrderPhase(this.state) === 'Booked';
  }

  carryOver(): OrderCarryOver {
    return {
      state: this.state,
      pendingShipments: this.pendingShipments,
      activatedAccountId: this.activatedAccountId,
      statusVersion: this.statusVersion,
    };
  }

  /** The order email of `purpose` (its idempotency key) to `audiences`, sent from state `from`. */
  emailRequest(template: EmailTemplate, audiences: Audience[], purpose: string, extra: EmailExtras = {}, from = this.state) {
    const status = this.statusAfter(recordEmail(from, purpose));
    return { orderId: this.state.orderId, template, audiences, idempotencyKey: this.key(purpose), ...extra, status };
  }

  async sendEmail(template: EmailTemplate, audiences: Audience[], purpose: string, extra: EmailExtras = {}): Promise<void> {
    await activities.sendOrderEmail(this.emailRequest(template, audiences, purpose, extra));
    this.setState(recordEmail(this.state, purpose));
  }

  /** An order that stops waiting for a Smart Account's activation tells that account's workflow. */
  async leaveActivationWait(): Promise<void> {
    if (this.state.waiting?.kind !== 'activation') return;
    try {
      await getExternalWorkflowHandle(activationWorkflowId(this.state.waiting.accountId)).signal(withdrawWaitingOrderSignal, {
        workflowId: this.workflowId,
      });
    } catch (err) {
      // Already finished: nothing waits on our behalf any more.
      log.info('activation workflow not running', { error: String(err) });
    }
  }
}

/** A business refusal from an activity becomes the caller's own failure, with the same type and reason. */
export function asRefusal(err: unknown): never {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) {
    throw ApplicationFailure.nonRetryable(err.cause.message, err.cause.type, ...(err.cause.details ?? []));
  }
  throw err;
}
