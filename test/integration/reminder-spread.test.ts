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
import { mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const INTERVAL_MS = 12_000;
const JITTER_MS = 1_200; // a tenth of the interval: the largest window the rule allows
const stack = useTestStack(__filename, { reminderIntervalMs: INTERVAL_MS, reminderJitterMs: JITTER_MS, escalationAfterMs: 60 * 60_000 });

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
