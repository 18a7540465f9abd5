/**
 * Issue 18 item 1: a permanent SMTP refusal surfaces and never loops. The test SMTP server refuses
 * `smtp-550-…` recipients at RCPT TO with `550 5.1.1` (test/setup/global-setup.ts): the outbox
 * row says `failed` with the server's answer, the other recipients get their copy, and the order
 * carries on to Fulfilled instead of retrying the activity forever.
 */
import { book, directBooking, shipLines, waitForPhase } from '../helpers/orders';
import { createTestWorld } from '../helpers/fixtures';
import { mailFor, mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename);
jest.setTimeout(60_000);

test('a 550 for the customer: its outbox rows are failed with the answer, sent once each, the partner gets the mail, the order is fulfilled', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const refused = `smtp-550-casey-${world.suffix}@${world.domain}`;
  const booked = await book(
    stack.client,
    stack.taskQueue,
    directBooking(world, { externalReference: `BOUNCE-${world.suffix}`, endCustomerContact: { email: refused, fullName: 'Casey Bounce' } }),
  );
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  const [partnerCopy] = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'));
  expect(partnerCopy.to).toEqual([world.partnerEmail]);

  const rows = () =>
    stack
      .db('email_outbox')
      .where({ order_id: booked.orderId })
      .whereRaw('lower(to_address) = lower(?)', [refused])
      .orderBy('id')
      .select('template', 'status', 'attempts', 'last_error');
  const deposit = await rows();
  expect(deposit).toEqual([
    {
      template: 'deposit-confirmation',
      status: 'failed',
      attempts: 1,
      last_error: expect.stringMatching(/^550 5\.1\.1 .*Recipient address rejected/),
    },
  ]);
  expect(deposit[0].last_error).toContain(refused);

  await shipLines(stack.client, booked.orderId, '2026-02-10');
  const result = await stack.client.workflow.getHandle(booked.workflowId).result();
  expect(result.phase).toBe('Fulfilled');
  expect((await rows()).map((r) => [r.template, r.status, r.attempts])).toEqual([
    ['deposit-confirmation', 'failed', 1],
    ['order-fulfilled', 'failed', 1],
  ]);
  expect(mailFor(refused)).toEqual([]);
  // Nothing is retried afterwards: the rows stay failed after one attempt.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect((await rows()).map((r) => r.attempts)).toEqual([1, 1]);
});

test('a delegation link refused with 550: the row is failed, no usable token is left, the order keeps waiting (no retry loop)', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const refused = `smtp-550-dana-${world.suffix}@${world.domain}`;
  const booked = await book(
    stack.client,
    stack.taskQueue,
    directBooking(world, {
      externalReference: `BOUNCE-LINK-${world.suffix}`,
      assignment: { kind: 'delegate' },
      endCustomerContact: { email: refused, fullName: 'Dana Bounce' },
    }),
  );
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingSmartAccount');
  const deadline = Date.now() + 20_000;
  let row: { status: string; attempts: number; last_error: string | null } | undefined;
  // The activity removes the unsent link's token just after the row commits `failed`: wait for both.
  const tokens = () => stack.db('access_tokens').where({ order_id: booked.orderId, purpose: 'delegation' }).count();
  while (Date.now() < deadline) {
    row = await stack
      .db('email_outbox')
      .where({ order_id: booked.orderId, template: 'delegation-request' })
      .first('status', 'attempts', 'last_error');
    if (row?.status === 'failed' && (await tokens())[0].count === '0') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(row).toEqual({ status: 'failed', attempts: 1, last_error: expect.stringContaining('550 5.1.1') });
  expect(await tokens()).toEqual([{ count: '0' }]);
  expect((await stack.client.workflow.getHandle(booked.workflowId).describe()).status.name).toBe('RUNNING');
  expect(mailFor(refused)).toEqual([]);
});
