/**
 * Reminders spread by order (R5, patch `one-activity-per-phase-and-spread-reminders`, docs/EVOLVING-WORKFLOWS.md):
 * a held order's reminder falls due at its own fixed offset past the cadence, derived from its
 * order ID, so orders booked in one burst are not reminded in one burst. Checked on the real
 * history: the timer the workflow set for reminder 1 ends exactly at
 * heldSince + REMINDER_INTERVAL + offset, where heldSince is the workflow's clock when it placed
 * the hold. Runs started before the patch replay without it (replay.test.ts, the recorded
 * histories).
 */
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { deriveOrderId } from '../../src/orders/book-order';
import { reminderOffsetMs } from '../../src/orders/reminder-schedule';
import { dataConverterFor } from '../../src/temporal/connect';
import { createTestWorld } from '../helpers/fixtures';
import { book, heldBooking } from '../helpers/orders';
import { patchIdsOf } from '../helpers/patches';
import { mailOf, startOrderWorkerOn, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const INTERVAL_MS = 12_000;
const JITTER_MS = 1_200; // a tenth of the interval: the largest window the rule allows
const stack = useTestStack(__filename, { reminderIntervalMs: INTERVAL_MS, reminderJitterMs: JITTER_MS, escalationAfterMs: 60 * 60_000 });
const CATCH_UP_INTERVAL_MS = 3_000;
const catchingUp = useTestStack(__filename, {
  reminderIntervalMs: CATCH_UP_INTERVAL_MS,
  reminderJitterMs: 0,
  escalationAfterMs: 60 * 60_000,
});

/** The workflow clock of the task that produced `event`: the WorkflowTaskStarted before it. */
function workflowClockAt(events: HistoryEvent[], event: HistoryEvent): number {
  const index = events.indexOf(event);
  const started = events
    .slice(0, index)
    .reverse()
    .find((e) => e.workflowTaskStartedEventAttributes);
  return tsToMs(started!.eventTime);
}

test('a held order is reminded at its own offset past the cadence, the same on every reminder', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  // A reference whose order gets an offset of at least 60% of the window, so the check below
  // cannot pass by the timer merely firing late.
  const reference = Array.from({ length: 200 }, (_, i) => `SPREAD-${world.suffix}-${i}`).find(
    (ref) => reminderOffsetMs(deriveOrderId(world.partnerId, ref), INTERVAL_MS, JITTER_MS) >= 0.6 * JITTER_MS,
  )!;
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world, { externalReference: reference }));
  const offset = reminderOffsetMs(booked.orderId, INTERVAL_MS, JITTER_MS);

  await waitForMail(mailOf(booked.orderId, 'transfer-reminder'), 1, 30_000);
  const history = await stack.client.workflow.getHandle(booked.workflowId).fetchHistory();
  const events = history.events!;

  // heldSince: the workflow's clock when it scheduled the hold (with its "transfer needed" email).
  const hold = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'placeLinesAndAnnounce')!;
  const heldSince = workflowClockAt(events, hold);
  // The first timer after the hold waits for reminder 1.
  const timer = events.find((e) => Number(e.eventId) > Number(hold.eventId) && e.timerStartedEventAttributes)!;
  const dueAt = workflowClockAt(events, timer) + tsToMs(timer.timerStartedEventAttributes!.startToFireTimeout);

  expect(offset).toBeGreaterThanOrEqual(0.6 * JITTER_MS);
  expect(dueAt - heldSince).toBe(INTERVAL_MS + offset);
  expect(patchIdsOf(history)).toEqual(['one-activity-per-phase-and-spread-reminders']);

  // The reminder email went out when the timer fired, not before.
  const reminderSent = events.find(
    (e) => Number(e.eventId) > Number(timer.eventId) && e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendOrderEmail',
  )!;
  expect(workflowClockAt(events, reminderSent)).toBeGreaterThanOrEqual(heldSince + INTERVAL_MS + offset);

  // And the new path replays deterministically.
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! }, dataConverter: dataConverterFor(stack.config) },
    [{ workflowId: booked.workflowId, history }],
  )) {
    expect(result.error?.message).toBeUndefined();
  }
}, 60_000);

/** The number a transfer reminder gives itself ("Reminder 3: order ..."). */
const reminderNumberOf = (mail: { subject: string }) => Number(/^Reminder (\d+):/.exec(mail.subject)?.[1]);

test('reminders missed while no worker ran (three or more due) go out as one, numbered as the last due (patch one-reminder-for-missed-ones)', async () => {
  const world = await createTestWorld(catchingUp.db, uniqueSuffix());
  const taskQueue = `${catchingUp.taskQueue}-outage-${world.suffix}`;
  let worker = await startOrderWorkerOn(catchingUp, taskQueue);
  const booked = await book(catchingUp.client, taskQueue, heldBooking(world, { externalReference: `OUTAGE-${world.suffix}` }));
  try {
    await waitForMail(mailOf(booked.orderId, 'transfer-needed'), 1, 20_000);
    // The outage: no worker for three and a half intervals, so reminders 1-3 fall due unsent.
    await worker.stop();
    await new Promise((resolve) => setTimeout(resolve, 3.5 * CATCH_UP_INTERVAL_MS));
    worker = await startOrderWorkerOn(catchingUp, taskQueue);

    // One reminder for the missed ones, then the cadence goes on from there.
    const [caughtUp, next] = await waitForMail(mailOf(booked.orderId, 'transfer-reminder'), 2, 20_000);
    expect(reminderNumberOf(caughtUp)).toBeGreaterThanOrEqual(3);
    expect(reminderNumberOf(next)).toBe(reminderNumberOf(caughtUp) + 1);
    expect(caughtUp.subject).toBe(`Reminder ${reminderNumberOf(caughtUp)}: order OUTAGE-${world.suffix} is still in your holding account`);

    const history = await catchingUp.client.workflow.getHandle(booked.workflowId).fetchHistory();
    expect(patchIdsOf(history)).toEqual(['one-activity-per-phase-and-spread-reminders', 'one-reminder-for-missed-ones']);
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! }, dataConverter: dataConverterFor(catchingUp.config) },
      [{ workflowId: booked.workflowId, history }],
    )) {
      expect(result.error?.message).toBeUndefined();
    }
  } finally {
    await catchingUp.client.workflow
      .getHandle(booked.workflowId)
      .terminate('test done')
      .catch(() => undefined);
    await worker.stop();
  }
}, 90_000);
