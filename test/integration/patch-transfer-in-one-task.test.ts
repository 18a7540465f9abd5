/**
 * A workflow change made after release, behind patched() (docs/EVOLVING-WORKFLOWS.md): a
 * partner's assignment Update places the lines in a local activity, so the one workflow task that
 * accepts the Update also answers it (no activity task, no second workflow task): what each order
 * of a batch transfer costs. Tested both ways:
 * - old: a history recorded by the code before the change (held, reminded once, assigned by an
 *   Update, shipped) still replays, and takes the old path (the placement an activity task);
 * - new: a run of the current code takes the new path (the marker, the placement a local
 *   activity between the Update's acceptance and its answer), the order still completes with
 *   its deposit confirmation sent once, and its history replays.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { assignSmartAccount } from '../../src/orders/order-actions';
import { dataConverterFor } from '../../src/temporal/connect';
import { createTestWorld } from '../helpers/fixtures';
import { book, heldBooking, shipLines, waitForPhase } from '../helpers/orders';
import { patchIdsOf } from '../helpers/patches';
import { mailOf, receivedNow, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const PATCH_ID = 'place-in-the-update-task';
const PRE_PATCH_HISTORY = join(__dirname, '..', 'histories', 'order-held-assigned-before-update-task.json');

const stack = useTestStack(__filename, { reminderIntervalMs: 1_500, escalationAfterMs: 60 * 60_000 });

async function replayOne(workflowId: string, history: unknown): Promise<void> {
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! }, dataConverter: dataConverterFor(stack.config) },
    [{ workflowId, history }],
  )) {
    expect(result.error?.message).toBeUndefined();
  }
}

/** The events from the Update's acceptance to its answer. */
function updateSpan(events: HistoryEvent[]): HistoryEvent[] {
  const accepted = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
  const completed = events.findIndex((e) => e.workflowExecutionUpdateCompletedEventAttributes);
  expect(accepted).toBeGreaterThan(0);
  return events.slice(accepted, completed + 1);
}

const scheduledActivities = (events: HistoryEvent[]) =>
  events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);

test('old: the pre-patch history of a held order assigned by an Update replays on the new code, its placement an activity', async () => {
  const history = historyFromJSON(JSON.parse(readFileSync(PRE_PATCH_HISTORY, 'utf8')));
  expect(scheduledActivities(updateSpan(history.events!))).toEqual(['placeLinesAndAnnounce']);
  expect(patchIdsOf(history)).toEqual(['one-activity-per-phase-and-spread-reminders']);
  await replayOne('pre-patch', history);
});

test('new: the assignment Update is accepted and answered in one workflow task, its placement a local activity', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world, { externalReference: `ONE-TASK-${world.suffix}` }));
  await waitForMail(mailOf(booked.orderId, 'transfer-reminder'), 1, 30_000);

  const status = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    actingPartnerId: world.partnerId,
  });
  expect(status.phase).toBe('AwaitingShipment');
  expect(status.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['deposited', world.smartAccountId],
    ['deposited', world.smartAccountId],
  ]);
  await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 1, 15_000);

  await shipLines(stack.client, booked.orderId, '2026-11-20');
  await stack.client.workflow.getHandle(booked.workflowId).result();
  // Sent once: one message per recipient (partner, customer), none repeated.
  const confirmations = receivedNow(mailOf(booked.orderId, 'deposit-confirmation'));
  expect(confirmations.length).toBeGreaterThanOrEqual(1);
  expect(new Set(confirmations.map((m) => m.headers['x-idempotency-key'])).size).toBe(confirmations.length);

  const history = await stack.client.workflow.getHandle(booked.workflowId).fetchHistory();
  const span = updateSpan(history.events!);
  expect(scheduledActivities(span)).toEqual([]);
  expect(span.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(1);
  expect(span.filter((e) => e.activityTaskCompletedEventAttributes)).toEqual([]);
  // No task between them but, on a slow machine, the one that heartbeats the task while the
  // local activity runs (the worker asks for it itself, not the server's queue).
  const tasksBetween = span.flatMap((e) => e.workflowTaskStartedEventAttributes?.requestId ?? []);
  expect(tasksBetween.filter((id) => id !== 'request-from-RespondWorkflowTaskCompleted')).toEqual([]);
  expect(patchIdsOf(history).filter((id) => id === PATCH_ID)).toEqual([PATCH_ID]);
  await replayOne('post-patch', history);
}, 90_000);

test('a held order waiting for a valid assignment after a refused one still takes it in one task', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, heldBooking(world, { externalReference: `ONE-TASK-R-${world.suffix}` }));
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingSmartAccount');
  // A refusal from the placement (the holding account is no Smart Account) reaches the caller as before.
  await expect(
    assignSmartAccount(stack.client, booked.orderId, { accountId: world.holdingAccountId, actingPartnerId: world.partnerId }),
  ).rejects.toThrow();
  const status = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    actingPartnerId: world.partnerId,
  });
  expect(status.phase).toBe('AwaitingShipment');
}, 60_000);
