/**
 * Issue 18 item 5: every emailed link (delegation, activation, sign-in, verify) is used up by one
 * atomic claim (src/security/link-claims.ts). Two uses at once: exactly one gets through, the
 * other is refused ("used") and the loser's choice leaves no trace on the order or the accounts.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import { LinkError, activateSmartAccount, submitCustomerChoice } from '../../src/accounts/customer-links';
import { consumeSignIn, verifyEmail } from '../../src/accounts/people';
import { claimLink } from '../../src/security/link-claims';
import { generateToken, hashToken, tokenHashHex } from '../../src/security/tokens';
import { orderStatusQuery } from '../../src/orders/workflow-api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { verifiedUser } from '../helpers/license-view-fixtures';
import { delegationLink, isFirstRequest, linkToken } from '../helpers/links';
import { PERPETUAL_LINE, book, eventTypes, waitForPhase } from '../helpers/orders';
import { uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename, { reminderIntervalMs: 600_000 });
jest.setTimeout(60_000);

async function bookDelegated(world: TestWorld) {
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'delegate' },
    endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' },
    lines: [PERPETUAL_LINE],
  });
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingSmartAccount');
  return booked;
}

/** The results of racing promises: which resolved, which were refused. */
async function race<T>(promises: Promise<T>[]): Promise<{ won: T[]; lost: unknown[] }> {
  const settled = await Promise.allSettled(promises);
  return {
    won: settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
    lost: settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : [])),
  };
}

const accountsNamed = (domain: string, names: string[]) =>
  stack.db('accounts').where({ domain }).whereIn('name', names).orderBy('name').pluck('name');

/** Inserts a link of `purpose` for a user, as the people emails do; returns the raw token. */
async function personalLink(userId: string, purpose: 'sign_in' | 'verify_email', details: object = {}, ttlMs = 600_000) {
  const token = generateToken();
  await stack.db('access_tokens').insert({
    token_hash: hashToken(token),
    purpose,
    contact_id: userId,
    email_idempotency_key: `test:${purpose}:${token.slice(0, 8)}`,
    expires_at: new Date(Date.now() + ttlMs),
    details: JSON.stringify(details),
  });
  return token;
}

test("two concurrent choices through one delegation link: one is the order's, the other is refused and leaves no account; then two concurrent activations: one activates", async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);
  const names = [`Race A ${world.suffix}`, `Race B ${world.suffix}`];

  const { won, lost } = await race(names.map((accountName) => submitCustomerChoice(stack, token, { kind: 'create', accountName })));
  expect(won).toHaveLength(1);
  expect(lost).toHaveLength(1);
  // The loser is refused by the order (it no longer waits, or the link is used) or by the page's first look at the link.
  const refusal = lost[0] as Error;
  if (refusal instanceof WorkflowUpdateFailedError) {
    expect(['InvalidState', 'InvalidLink']).toContain((refusal.cause as ApplicationFailure).type);
  } else {
    expect(refusal).toBeInstanceOf(LinkError);
    expect((refusal as LinkError).reason).toBe('used');
  }
  // One account, the winner's; the order waits for its activation; one choice in the order's events.
  const created = await accountsNamed(world.domain, names);
  expect(created).toHaveLength(1);
  expect(won[0].phase).toBe('AwaitingActivation');
  const status = await stack.client.workflow.getHandle(booked.workflowId).query(orderStatusQuery);
  expect(status.phase).toBe('AwaitingActivation');
  expect(status.pendingAction).toContain(world.domain);
  expect((await eventTypes(stack.db, booked.orderId)).filter((t) => t === 'delegated_to_customer')).toHaveLength(1);
  expect(await stack.db('access_tokens').where({ order_id: booked.orderId, purpose: 'delegation' }).whereNull('used_at').count()).toEqual([
    { count: '0' },
  ]);

  // The activation link of the new account, used twice at once.
  const [request] = await waitForMail(isFirstRequest(world.customerEmail));
  const activation = linkToken(stack, request, 'activations');
  const activated = await race([0, 1].map(() => activateSmartAccount({ ...stack, taskQueue: stack.taskQueue }, activation)));
  expect(activated.won).toHaveLength(1);
  expect(activated.lost).toEqual([expect.objectContaining({ name: 'LinkError', reason: 'used' })]);
  expect(await stack.db('accounts').where({ domain: world.domain, name: created[0] }).first('status')).toEqual({ status: 'active' });
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
});

test('the claim itself, without the order serialising the two: two concurrent redeems of one link, exactly one account and one used link', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);
  const activities = createActivities({ db: stack.db, mailer: stack.mailer, temporal: stack.client, config: stack.config });
  const names = [`Claim A ${world.suffix}`, `Claim B ${world.suffix}`];

  const { won, lost } = await race(
    names.map((accountName) =>
      activities.redeemCustomerChoice({ orderId: booked.orderId, tokenHash: tokenHashHex(token), choice: { kind: 'create', accountName } }),
    ),
  );
  expect(won).toHaveLength(1);
  expect(lost).toHaveLength(1);
  expect(lost[0]).toBeInstanceOf(ApplicationFailure);
  expect(lost[0]).toMatchObject({ type: 'InvalidLink', message: 'this link has already been used', nonRetryable: true });
  expect(await accountsNamed(world.domain, names)).toHaveLength(1);

  // A refused choice (another domain's account) rolls its claim back: a fresh link stays usable after it.
  const world2 = await createTestWorld(stack.db, uniqueSuffix());
  const booked2 = await bookDelegated(world2);
  const link2 = await delegationLink(stack, booked2.orderId, world2.customerEmail);
  const refused = activities.redeemCustomerChoice({
    orderId: booked2.orderId,
    tokenHash: tokenHashHex(link2.token),
    choice: { kind: 'existing', accountId: world.smartAccountId },
  });
  await expect(refused).rejects.toMatchObject({ type: 'DomainMismatch' });
  expect(
    await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(link2.token) })
      .first('used_at'),
  ).toEqual({ used_at: null });
  // A link of another order is not valid for this one.
  await expect(
    activities.redeemCustomerChoice({
      orderId: booked.orderId,
      tokenHash: tokenHashHex(link2.token),
      choice: { kind: 'existing', accountId: world.smartAccountId },
    }),
  ).rejects.toMatchObject({ type: 'InvalidLink', message: 'this link is not valid for this order' });
  expect(
    await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(link2.token) })
      .first('used_at'),
  ).toEqual({ used_at: null });
});

test('two concurrent sign-ins with one link: one session user, the other "used"; verify links likewise; an expired link is "expired" and stays unused', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const user = await verifiedUser(stack.db, world, 'racer');

  const signIn = await personalLink(user.userId, 'sign_in');
  const signIns = await Promise.all([consumeSignIn(stack.db, signIn), consumeSignIn(stack.db, signIn)]);
  expect(signIns).toEqual(expect.arrayContaining([{ userId: user.userId }, 'used']));

  const [row] = await stack
    .db('users')
    .insert({ email: `verifier@${world.domain}` })
    .returning<Array<{ id: string }>>('id');
  const registeredId = `verifier-${world.suffix}`;
  const verify = await personalLink(String(row.id), 'verify_email', { registeredId, fullName: 'Vera Fier' });
  const verified = await Promise.all([verifyEmail(stack.db, verify), verifyEmail(stack.db, verify)]);
  expect(verified).toEqual(expect.arrayContaining([{ userId: String(row.id), registeredId }, 'used']));

  const expired = await personalLink(user.userId, 'sign_in', {}, -1_000);
  expect(await consumeSignIn(stack.db, expired)).toBe('expired');
  expect(
    await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(expired) })
      .first('used_at'),
  ).toEqual({ used_at: null });
  expect(await claimLink(stack.db, 'sign_in', generateToken(), ['id'])).toBe('unknown');
  expect(await claimLink(stack.db, 'sign_in', 'not-a-token', ['id'])).toBe('unknown');
  // A sign-in link is no verify link.
  const other = await personalLink(user.userId, 'sign_in');
  expect(await claimLink(stack.db, 'verify_email', other, ['id'])).toBe('unknown');
});
