/**
 * R5 reminders while an order waits: to the partner for a held, Smart Account-mandatory order
 * (then one escalation), or to the customer contact who has not chosen yet (then the partner is
 * told once). The main loop sleeps until nextReminderAt() and then runs remindIfDue().
 */
import { patched } from '@temporalio/workflow';
import type { FulfillmentSettings } from '../../activities';
import { listStatusOf, recordEmail, waitFor } from '../../src/orders/order-lifecycle';
import { reminderDueAtMs, reminderOffsetMs } from '../../src/orders/reminder-schedule';
import { activities } from '../shared/activity-proxies';
import {
  ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS,
  ONE_REMINDER_FOR_MISSED_ONES,
  TELL_PARTNER_OF_UNANSWERED_DELEGATION,
  type OrderRun,
} from './order-run';

/** R5: reminders on the configured cadence while held, and one escalation after the configured time. */
export async function remindIfDue(run: OrderRun, settings: FulfillmentSettings): Promise<void> {
  const waiting = run.state.waiting;
  const now = Date.now();
  if (waiting?.kind === 'customer-choice') {
    // Patched (added after release): the partner hears once that the customer has not chosen,
    // so an unanswered delegation never waits unnoticed. Runs started before the change
    // replay without it (docs/EVOLVING-WORKFLOWS.md).
    if (!waiting.partnerTold && now >= waiting.sinceMs + settings.escalationAfterMs && patched(TELL_PARTNER_OF_UNANSWERED_DELEGATION)) {
      await run.sendEmail('delegation-unanswered', ['partner'], 'delegation-unanswered', {
        heldSinceMs: waiting.sinceMs,
        ...(waiting.remindersSent ? { reminderNumber: waiting.remindersSent } : {}),
      });
      run.setState(waitFor(run.state, { ...waiting, partnerTold: true }));
      return;
    }
    // A fresh link each time: an expired or lost one is never the end of the order.
    if (now < reminderDueAt(run, waiting.sinceMs, waiting.remindersSent + 1, settings)) return;
    const reminderNumber = dueReminderNumber(run, waiting.sinceMs, waiting.remindersSent, now, settings);
    await activities.sendDelegationRequest({
      orderId: run.state.orderId,
      idempotencyKey: run.key(`delegation-reminder:${reminderNumber}`),
      listStatus: listStatusOf(run.state),
      status: run.statusAfter(recordEmail(run.state, `delegation-reminder:${reminderNumber}`)),
      reminderNumber,
    });
    run.setState(recordEmail(waitFor(run.state, { ...waiting, remindersSent: reminderNumber }), `delegation-reminder:${reminderNumber}`));
    return;
  }
  if (waiting?.kind !== 'partner-transfer') return;
  if (!waiting.escalated && now >= waiting.heldSinceMs + settings.escalationAfterMs) {
    await run.sendEmail('escalation', ['escalation'], 'escalation', { heldSinceMs: waiting.heldSinceMs });
    run.setState(waitFor(run.state, { ...waiting, escalated: true }));
  }
  const current = run.state.waiting as typeof waiting;
  if (now >= reminderDueAt(run, current.heldSinceMs, current.remindersSent + 1, settings)) {
    const reminderNumber = dueReminderNumber(run, current.heldSinceMs, current.remindersSent, now, settings);
    await run.sendEmail('transfer-reminder', ['partner'], `transfer-reminder:${reminderNumber}`, {
      reminderNumber,
      heldSinceMs: current.heldSinceMs,
    });
    run.setState(waitFor(run.state, { ...current, remindersSent: reminderNumber }));
  }
}

/**
 * When the next reminder is due: to the partner for a held, Smart Account-mandatory order
 * (then one escalation), or to the customer contact who has not chosen yet.
 */
export function nextReminderAt(run: OrderRun, settings: FulfillmentSettings): number | undefined {
  const { state } = run;
  const waiting = state.waiting;
  if (waiting?.kind === 'customer-choice') {
    const reminder = reminderDueAt(run, waiting.sinceMs, waiting.remindersSent + 1, settings);
    const tellPartner = waiting.sinceMs + settings.escalationAfterMs;
    // Only a run that knows the patch wakes up for the partner notice (an old one keeps its timers).
    return !waiting.partnerTold && tellPartner < reminder && patched(TELL_PARTNER_OF_UNANSWERED_DELEGATION) ? tellPartner : reminder;
  }
  if (waiting?.kind !== 'partner-transfer' || !state.lines.some((l) => l.smartAccountMandatory && !l.cancelled)) return undefined;
  const reminder = reminderDueAt(run, waiting.heldSinceMs, waiting.remindersSent + 1, settings);
  return waiting.escalated ? reminder : Math.min(reminder, waiting.heldSinceMs + settings.escalationAfterMs);
}

/**
 * The number of the reminder to send now, the one after `sent` being due: when three or more are
 * due at once (no worker ran for over two intervals), the last one, so the missed ones become one
 * email. Two due (a late worker) still go one after the other. Patched: a run started before
 * keeps sending each, and only a run that far behind asks for the patch.
 */
function dueReminderNumber(run: OrderRun, sinceMs: number, sent: number, now: number, settings: FulfillmentSettings): number {
  let last = sent + 1;
  while (now >= reminderDueAt(run, sinceMs, last + 1, settings)) last++;
  return last >= sent + 3 && patched(ONE_REMINDER_FOR_MISSED_ONES) ? last : sent + 1;
}

/**
 * When reminder `reminderNumber` of a wait that began at `sinceMs` is due. Patched (added after
 * release): each order's reminders come at its own offset past the cadence, so orders booked
 * together are not reminded together; runs started before keep their timers.
 */
function reminderDueAt(run: OrderRun, sinceMs: number, reminderNumber: number, settings: FulfillmentSettings): number {
  const offset = patched(ONE_ACTIVITY_PER_PHASE_AND_SPREAD_REMINDERS)
    ? reminderOffsetMs(run.state.orderId, settings.reminderIntervalMs, settings.reminderJitterMs ?? 0)
    : 0;
  return reminderDueAtMs(sinceMs, reminderNumber, settings.reminderIntervalMs, offset);
}
