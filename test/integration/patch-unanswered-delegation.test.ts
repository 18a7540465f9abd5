/**
 * A workflow change made after release, behind patched() (docs/EVOLVING-WORKFLOWS.md): the
 * partner now hears once when the end customer has not chosen a Smart Account within
 * ESCALATION_AFTER. Tested both ways:
 * - old: a history recorded by the code before the change (a delegation unanswered for longer
 *   than ESCALATION_AFTER, with reminders, then chosen and shipped) still replays, and takes the
 *   old path (no patch marker, no new email);
 * - new: a run of the current code takes the new path (the marker, one email to the partner,
 *   nothing to the customer beyond its reminders), completes, and its history replays.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { submitCustomerChoice } from '../../src/accounts/customer-links';
import { dataConverterFor } from '../../src/temporal/connect';
import { createTestWorld } from '../helpers/fixtures';
import { delegationLink } from '../helpers/links';
import { patchIdsOf } from '../helpers/patches';
import { book, directBooking, shipLines, waitForPhase, waitForStatus } from '../helpers/orders';
import { mailOf, receivedNow, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const PATCH_ID = 'tell-partner-of-unanswered-delegation';
const PRE_PATCH_HISTORY = join(__dirname, '..', 'histories', 'order-delegation-unanswered-pre-patch.json');

// Reminders to the customer every 1.5 s; the partner is told after 2 s without an answer.
const stack = useTestStack(__filename, { reminderIntervalMs: 1_500, escalationAfterMs: 2_000 });

async function replayOne(workflowId: string, history: unknown): Promise<void> {
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! }, dataConverter: dataConverterFor(stack.config) },
    [{ workflowId, history }],
  )) {
    expect(result.error?.message).toBeUndefined();
  }
}

test('old: the pre-patch history of an unanswered delegation replays on the new code, without the patch', async () => {
  const history = historyFromJSON(JSON.parse(readFileSync(PRE_PATCH_HISTORY, 'utf8')));
  // It waited past ESCALATION_AFTER with reminders, so the new code would notify the partner here.
  const activities = history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  expect(activities.filter((name) => name === 'sendDelegationRequest').length).toBeGreaterThanOrEqual(3);
  expect(patchIdsOf(history)).toEqual([]);
  await replayOne('pre-patch', history);
});

test('new: an unanswered delegation tells the partner once (the patched path), and the order still completes', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(
    stack.client,
    stack.taskQueue,
    directBooking(world, {
      externalReference: `PATCH-${world.suffix}`,
      assignment: { kind: 'delegate' },
      endCustomerContact: { email: world.customerEmail },
    }),
  );
  await delegationLink(stack, booked.orderId, world.customerEmail);

  const [notice] = await waitForMail(mailOf(booked.orderId, 'delegation-unanswered'), 1, 15_000);
  expect(notice.to).toEqual([world.partnerEmail]);
  expect(notice.subject).toBe(`Action needed: the customer has not chosen a Smart Account for order PATCH-${world.suffix}`);
  expect(notice.text).toContain('orders assign');
  const waiting = await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('delegation-unanswered'));
  expect(waiting.phase).toBe('AwaitingSmartAccount');

  // Still once, however long the customer waits; reminders to the customer go on.
  await waitForMail(mailOf(booked.orderId, 'delegation-request'), 3, 15_000);
  expect(receivedNow(mailOf(booked.orderId, 'delegation-unanswered'))).toHaveLength(1);

  const latest = receivedNow(mailOf(booked.orderId, 'delegation-request')).pop()!;
  const token = /\/delegations\/([A-Za-z0-9_-]{43})/.exec(latest.text)![1];
  await submitCustomerChoice({ db: stack.db, client: stack.client }, token, { kind: 'existing', accountId: world.smartAccountId });
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  await shipLines(stack.client, booked.orderId, '2026-11-20');
  await stack.client.workflow.getHandle(booked.workflowId).result();

  const history = await stack.client.workflow.getHandle(booked.workflowId).fetchHistory();
  // Once, though remindIfDue and nextReminderAt both ask (the run also spreads its reminders).
  expect(patchIdsOf(history).filter((id) => id === PATCH_ID)).toEqual([PATCH_ID]);
  await replayOne('post-patch', history);
}, 60_000);
