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
 * State transitions and everything derived from them live in src/orders/order-lifecycle.ts; the
 * run's state in order-run.ts, its messages in order-handlers.ts, step 2 in order-placement.ts,
 * step 3 in order-progress.ts, reminders in order-reminders.ts, what operators see in
 * order-operator-view.ts.
 */
import { allHandlersFinished, condition, continueAsNew, workflowInfo } from '@temporalio/workflow';
import type { OrderFulfillmentInput } from '../../src/orders/order';
import { deriveOrderPhase, orderStatusOf, type OrderStatus } from '../../src/orders/order-lifecycle';
import { activities, loadFulfillmentSettings } from '../shared/activity-proxies';
import { installOrderHandlers } from './order-handlers';
import { OperatorView } from './order-operator-view';
import { placeAsBooked } from './order-placement';
import { advance, hasWork } from './order-progress';
import { nextReminderAt, remindIfDue } from './order-reminders';
import { OrderRun, asRefusal, type OrderCarryOver } from './order-run';

export type { OrderCarryOver } from './order-run';

export async function orderFulfillment(input: OrderFulfillmentInput, carried?: OrderCarryOver): Promise<OrderStatus> {
  const run = new OrderRun(input, carried);
  installOrderHandlers(run);
  const operatorView = new OperatorView();

  const settings = await loadFulfillmentSettings();
  if (!carried) {
    // One step: a cancellation that arrives meanwhile waits for the booking to be written.
    await run.serializer.run(async () => {
      // A booking refused (unknown partner, not a reseller) fails the order with the reason;
      // the same reference can then be booked again once corrected.
      await activities.recordBooking(input, run.workflowId).catch(asRefusal);
      await placeAsBooked(run);
    });
    run.booked = true;
  }

  for (;;) {
    await run.serializer.run(() => advance(run));
    operatorView.publish(run.state);
    const phase = deriveOrderPhase(run.state);
    if (phase === 'Fulfilled' || phase === 'Cancelled') break;

    // Wake on any state change, and on work that arrived while the last step ran (a signal
    // during an activity bumps the version before `seen` is taken, so check the work itself).
    const seen = run.version;
    const changed = () => run.version !== seen || hasWork(run);
    const dueAt = nextReminderAt(run, settings);
    if (dueAt === undefined) {
      await condition(changed);
    } else if (!(await condition(changed, Math.max(dueAt - Date.now(), 1)))) {
      await run.serializer.run(() => remindIfDue(run, settings));
    }

    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= settings.historyEventLimit) {
      // Keep the history bounded over months of waiting; the state travels whole.
      await condition(allHandlersFinished);
      await continueAsNew<typeof orderFulfillment>(input, run.carryOver());
    }
  }
  await condition(allHandlersFinished);
  return orderStatusOf(run.state);
}
