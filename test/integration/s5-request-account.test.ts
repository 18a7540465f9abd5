/**
 * S5 Request on behalf (R2): the partner requests a new Smart Account for the end customer from
 * a contact. A contact of another domain, or without a registered user ID, is refused with the
 * reason (the order stays open, waiting for an assignment, and the partner is told). A valid
 * request creates the account pending activation and one activation workflow per account, which
 * emails and reminds the contact; activation through the link deposits every waiting order.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { requestedAccountId } from '../../activities/accounts/accounts';
import { LinkError, activateSmartAccount } from '../../src/accounts/customer-links';
import { assignSmartAccount } from '../../src/orders/order-actions';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { hashToken } from '../../src/security/tokens';
import {
  ACTIVATION_WORKFLOW_TYPE,
  accountActivatedSignal,
  activationStatusQuery,
  activationWorkflowId,
  orderStatusQuery,
  registerWaitingOrderSignal,
  withdrawWaitingOrderSignal,
} from '../../src/orders/workflow-api';
import { Worker } from '@temporalio/worker';
import { dataConverterFor } from '../../src/temporal/connect';
import { REGISTER_AFTER_WITHDRAWAL_WAITS } from '../../workflows/accounts/smart-account-activation';
import { patchIdsOf } from '../helpers/patches';
import { createTestWorld, registerContact, type TestWorld } from '../helpers/fixtures';
import { activationToken, isActivationMail, isFirstRequest, isReminder } from '../helpers/links';
import { PERPETUAL_LINE, TERM_LINE, book, entitlementsOf, shipLines, waitForPhase, waitForStatus } from '../helpers/orders';
import { mailOf, startOrderWorkerOn, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';
// For the regression tests at the end of the file.
import { createActivities } from '../../activities';
import { pollUntil } from '../helpers/orders';
import { receivedNow } from '../helpers/stack';

const stack = useTestStack(__filename);

/**
 * Books a request on behalf of `contact`. A contact with a registeredId is first put in the
 * identity records (users.registered_id): the booking itself can name an ID but never vouch for it.
 */
async function bookRequest(
  world: TestWorld,
  domain: string,
  contact: { email: string; fullName?: string; registeredId?: string },
  reference = `PO-${world.suffix}`,
) {
  if (contact.registeredId) await registerContact(stack.db, contact as Required<typeof contact>);
  return book(stack.client, stack.taskQueue, {
    externalReference: reference,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'request_smart_account', domain },
    endCustomerContact: contact,
    lines: [PERPETUAL_LINE, TERM_LINE],
  });
}

async function contactId(email: string): Promise<number> {
  const row = await stack.db('users').whereRaw('lower(email) = lower(?)', [email]).first('id');
  return Number(row.id);
}

/** The refused order waits for an assignment with the reason; the partner is told; nothing is created. */
async function expectRefused(world: TestWorld, orderId: string, workflowId: string, domain: string, contactEmail: string, reason: string) {
  const status = await waitForStatus(stack.client, workflowId, (s) => s.emailsSent.includes('assignment-refused'));
  expect(status.phase).toBe('AwaitingSmartAccount');
  expect(status.waitingFor).toBe('Assignment');
  expect(status.pendingAction).toContain(reason);
  expect(status.pendingAction).toContain(`Smart Account request for ${domain} refused`);
  expect(status.customerAccountId).toBeUndefined();
  expect(status.lines.map((l) => l.state)).toEqual(['booked', 'booked']);
  expect(status.emailsSent).toEqual(['assignment-refused']);

  const mails = await waitForMail(mailOf(orderId, 'assignment-refused'));
  expect(mails).toHaveLength(1);
  expect(mails[0].to).toEqual([world.partnerEmail]);
  expect(mails[0].subject).toBe(`Action needed: order PO-${world.suffix} could not be assigned`);
  expect(mails[0].text).toContain(reason);
  expect(mails[0].text).toContain('The order is kept and waits for a valid assignment.');

  const contact = await contactId(contactEmail);
  expect(await stack.db('smart_account_requests').where({ contact_id: contact })).toEqual([
    expect.objectContaining({
      domain,
      status: 'refused',
      refusal_reason: reason,
      account_id: null,
      requested_by_partner_id: world.partnerId,
    }),
  ]);
  // No account was created, no activation started, nothing was deposited, the contact got nothing.
  expect(await stack.db('accounts').where({ primary_contact_id: contact }).whereNot({ id: world.smartAccountId })).toEqual([]);
  expect(await stack.db('accounts').where({ domain }).orderBy('id').pluck('id')).toEqual(
    domain === world.domain ? [world.pendingSmartAccountId, world.smartAccountId].sort() : [],
  );
  await expect(
    stack.client.workflow.getHandle(activationWorkflowId(requestedAccountId(domain, contact))).describe(),
  ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect(await entitlementsOf(stack.db, orderId)).toEqual([]);
  expect(await waitForMail((m) => m.to.includes(contactEmail.toLowerCase()), 1, 300)).toEqual([]);
}

test('S5(1): a contact of another domain → refused with both domains named; the order stays open, the partner is told', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const contactEmail = `buyer@elsewhere-${world.suffix}.test`;
  const booked = await bookRequest(world, world.domain, {
    email: contactEmail,
    fullName: 'Bea Buyer',
    registeredId: `bea-${world.suffix}`,
  });

  const reason = `the contact's email domain "elsewhere-${world.suffix}.test" does not match the requested domain "${world.domain}"`;
  await expectRefused(world, booked.orderId, booked.workflowId, world.domain, contactEmail, reason);
  const description = await stack.client.workflow.getHandle(booked.workflowId).describe();
  expect(description.status.name).toBe('RUNNING');
  expect(description.searchAttributes).toMatchObject({ OrderStatus: ['AwaitingSmartAccount'], WaitingFor: ['Assignment'] });
  await stack.client.workflow.getHandle(booked.workflowId).terminate('test done');
});

test('S5(2): a contact without a registered user ID → refused, the reason names the registered user ID', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const contactEmail = `noid@${world.domain}`;
  await stack.db('users').insert({ email: contactEmail, full_name: 'Nora No-ID' });
  const booked = await bookRequest(world, world.domain, { email: contactEmail, fullName: 'Nora No-ID' });

  const reason = 'the contact has no registered user ID; they must register one first';
  await expectRefused(world, booked.orderId, booked.workflowId, world.domain, contactEmail, reason);
  expect(await stack.db('users').where({ email: contactEmail }).first('registered_id')).toEqual({ registered_id: null });
  await stack.client.workflow.getHandle(booked.workflowId).terminate('test done');
});

test('S5(2b): a registered user ID typed into the booking does not count; a wrong one is refused', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const unknownEmail = `new@${world.domain}`;
  const typed = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'request_smart_account', domain: world.domain },
    endCustomerContact: { email: unknownEmail, fullName: 'Nat New', registeredId: 'made-up-id' },
    lines: [PERPETUAL_LINE, TERM_LINE],
  });
  await expectRefused(
    world,
    typed.orderId,
    typed.workflowId,
    world.domain,
    unknownEmail,
    'the contact has no registered user ID; they must register one first',
  );
  expect(await stack.db('users').whereRaw('lower(email) = ?', [unknownEmail]).first('registered_id')).toEqual({ registered_id: null });
  await stack.client.workflow.getHandle(typed.workflowId).terminate('test done');

  const other = await createTestWorld(stack.db, uniqueSuffix());
  const wrong = await book(stack.client, stack.taskQueue, {
    externalReference: `PO-${other.suffix}`,
    bookedByPartnerId: other.partnerId,
    assignment: { kind: 'request_smart_account', domain: other.domain },
    endCustomerContact: { email: other.customerEmail, registeredId: 'someone-else' },
    lines: [PERPETUAL_LINE, TERM_LINE],
  });
  await expectRefused(
    other,
    wrong.orderId,
    wrong.workflowId,
    other.domain,
    other.customerEmail,
    "the registered user ID given for the contact is not the contact's",
  );
  await stack.client.workflow.getHandle(wrong.workflowId).terminate('test done');
});

test('S5(3): a valid request → Smart Account pending activation, contact emailed and reminded; activation → deposit → fulfilled', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `new-${world.suffix}.test`;
  const contactEmail = `it@${domain}`;
  const booked = await bookRequest(world, domain, { email: contactEmail, fullName: 'Ivy IT', registeredId: `ivy-${world.suffix}` });
  const handle = stack.client.workflow.getHandle(booked.workflowId);

  const waiting = await waitForPhase(stack.client, booked.workflowId, 'AwaitingActivation');
  expect(waiting.waitingFor).toBe('SmartAccountActivation');
  expect(waiting.pendingAction).toBe(`The end-customer contact must activate the new Smart Account ${domain}.`);
  expect(waiting.lines.map((l) => l.state)).toEqual(['booked', 'booked']);
  expect(waiting.customerAccountId).toBeUndefined();

  // The account, pending activation, and the recorded request.
  const contact = await contactId(contactEmail);
  const accountId = requestedAccountId(domain, contact);
  expect(await stack.db('accounts').where({ domain })).toEqual([
    expect.objectContaining({ id: accountId, kind: 'smart_account', status: 'pending_activation', primary_contact_id: String(contact) }),
  ]);
  expect(await stack.db('smart_account_requests').where({ domain })).toEqual([
    expect.objectContaining({
      contact_id: String(contact),
      account_id: accountId,
      status: 'pending_activation',
      requested_by_partner_id: world.partnerId,
    }),
  ]);

  // One activation workflow for the account, which knows the order.
  const activation = stack.client.workflow.getHandle(activationWorkflowId(accountId));
  expect(activation.workflowId).toBe(`smart-account-${accountId}`);
  expect((await activation.describe()).status.name).toBe('RUNNING');
  const activationState = await activation.query(activationStatusQuery);
  expect(activationState).toMatchObject({ accountId, activated: false, waitingOrders: [booked.workflowId] });

  // The contact is emailed an activation link, then reminded.
  const [request] = await waitForMail(isFirstRequest(contactEmail));
  expect(request).toBeDefined();
  expect(request.subject).toBe(`Activate your new Smart Account ${domain}`);
  expect(request.text).toContain('Hello Ivy IT,');
  const token = activationToken(stack, request);
  expect(
    await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(token) })
      .first(),
  ).toMatchObject({
    purpose: 'activation',
    account_id: accountId,
    contact_id: String(contact),
    used_at: null,
  });
  const reminders = await waitForMail(isReminder(contactEmail), 1, 15_000);
  expect(reminders.length).toBeGreaterThanOrEqual(1);
  expect(reminders[0].subject).toBe(`Reminder 1: activate your new Smart Account ${domain}`);
  expect(activationToken(stack, reminders[0])).not.toBe(token);
  // The mail can arrive before the workflow has recorded the activity's result: wait for the count.
  await pollUntil(
    () => activation.query(activationStatusQuery),
    (s) => s.remindersSent >= 1,
    'the reminder being counted',
  );
  expect(await waitForMail(isFirstRequest(contactEmail), 2, 300)).toHaveLength(1);
  // Still nothing deposited while the account is not active.
  expect((await handle.query(orderStatusQuery)).phase).toBe('AwaitingActivation');
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([]);

  // Activation through the link.
  await expect(activateSmartAccount({ db: stack.db, client: stack.client, taskQueue: stack.taskQueue }, token)).resolves.toEqual({
    accountId,
  });
  expect(await stack.db('accounts').where({ id: accountId }).first('status', 'activated_at')).toEqual({
    status: 'active',
    activated_at: expect.any(Date),
  });
  expect(await stack.db('smart_account_requests').where({ account_id: accountId }).pluck('status')).toEqual(['activated']);
  await activation.result();
  const mailsAtActivation = (await waitForMail(isActivationMail(contactEmail), 0)).length;
  const activatedAt = Date.now();
  const reused = await activateSmartAccount({ db: stack.db, client: stack.client, taskQueue: stack.taskQueue }, token).catch((err) => err);
  expect(reused).toBeInstanceOf(LinkError);
  expect((reused as LinkError).reason).toBe('used');

  const deposited = await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  expect(deposited.customerAccountId).toBe(accountId);
  expect(deposited.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['deposited', accountId],
    ['deposited', accountId],
  ]);
  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([contactEmail, world.partnerEmail].sort());

  await shipLines(stack.client, booked.orderId, '2026-06-30');
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.lines).toEqual([
    expect.objectContaining({ lineNumber: 1, state: 'provisioned', accountId }),
    expect.objectContaining({
      lineNumber: 2,
      state: 'provisioned',
      accountId,
      subscription: { startsOn: '2026-06-30', endsOn: '2029-06-30' },
    }),
  ]);
  expect(result.emailsSent).toEqual([`deposit-confirmation:${accountId}`, 'order-fulfilled']);
  expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => [e.account_id, e.status])).toEqual([
    [accountId, 'active'],
    [accountId, 'active'],
  ]);
  expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
    status: 'Fulfilled',
    account_id: accountId,
    customer_domain: domain,
  });

  // No more reminders once the account is active (one reminder interval later).
  const wait = stack.config.reminderIntervalMs + 500 - (Date.now() - activatedAt);
  expect(await waitForMail(isActivationMail(contactEmail), mailsAtActivation + 1, Math.max(wait, 100))).toHaveLength(mailsAtActivation);
});

test('S5(4): two orders requesting the same domain with the same contact share one account, one activation workflow, one request email', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `shared-${world.suffix}.test`;
  const contactEmail = `it@${domain}`;
  const contactInput = { email: contactEmail, fullName: 'Sam Shared', registeredId: `sam-${world.suffix}` };
  // The contact is in the identity records before either order (two concurrent first inserts of
  // one user would race on users.registered_id, a fixture artefact, not what is tested here).
  await registerContact(stack.db, contactInput);
  const [first, second] = await Promise.all([
    bookRequest(world, domain, contactInput, `PO-${world.suffix}-A`),
    bookRequest(world, domain, contactInput, `PO-${world.suffix}-B`),
  ]);
  expect(first.workflowId).not.toBe(second.workflowId);
  await waitForPhase(stack.client, first.workflowId, 'AwaitingActivation');
  await waitForPhase(stack.client, second.workflowId, 'AwaitingActivation');

  const contact = await contactId(contactEmail);
  const accountId = requestedAccountId(domain, contact);
  expect(await stack.db('accounts').where({ domain }).pluck('id')).toEqual([accountId]);
  expect(await stack.db('smart_account_requests').where({ domain }).pluck('account_id')).toEqual([accountId]);

  const activation = stack.client.workflow.getHandle(activationWorkflowId(accountId));
  const runId = (await activation.describe()).runId;
  const deadline = Date.now() + 20_000;
  let waitingOrders: string[] = [];
  while (Date.now() < deadline) {
    waitingOrders = (await activation.query(activationStatusQuery)).waitingOrders;
    if (waitingOrders.length >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  expect([...waitingOrders].sort()).toEqual([first.workflowId, second.workflowId].sort());

  // One first activation request (checked after a reminder proves the workflow is past sending it).
  await waitForMail(isReminder(contactEmail), 1, 15_000);
  const requests = await waitForMail(isFirstRequest(contactEmail), 2, 300);
  expect(requests).toHaveLength(1);
  expect(
    await stack
      .db('email_outbox')
      .where({ to_address: contactEmail, template: 'activation-request' })
      .whereRaw("subject NOT LIKE 'Reminder%'")
      .count({ n: '*' }),
  ).toEqual([{ n: '1' }]);
  expect((await activation.describe()).runId).toBe(runId);

  await activateSmartAccount({ db: stack.db, client: stack.client, taskQueue: stack.taskQueue }, activationToken(stack, requests[0]));
  await activation.result();
  for (const order of [first, second]) {
    const deposited = await waitForPhase(stack.client, order.workflowId, 'AwaitingShipment');
    expect(deposited.customerAccountId).toBe(accountId);
    expect(deposited.lines.map((l) => [l.state, l.accountId])).toEqual([
      ['deposited', accountId],
      ['deposited', accountId],
    ]);
    expect((await entitlementsOf(stack.db, order.orderId)).map((e) => [e.account_id, e.status])).toEqual([
      [accountId, 'deposited'],
      [accountId, 'deposited'],
    ]);
    await shipLines(stack.client, order.orderId, '2026-07-01');
  }
  const results: OrderStatus[] = await Promise.all([first, second].map((o) => stack.client.workflow.getHandle(o.workflowId).result()));
  expect(results.map((r) => r.phase)).toEqual(['Fulfilled', 'Fulfilled']);
});

test('S5(6): a later order requesting an account its contact has already activated deposits at once', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `repeat-${world.suffix}.test`;
  const contact = { email: `it@${domain}`, fullName: 'Rae Repeat', registeredId: `rae-${world.suffix}` };
  const first = await bookRequest(world, domain, contact, `PO-A-${world.suffix}`);
  const [request] = await waitForMail(isFirstRequest(contact.email));
  const { accountId } = await activateSmartAccount(
    { db: stack.db, client: stack.client, taskQueue: stack.taskQueue },
    activationToken(stack, request),
  );
  await waitForPhase(stack.client, first.workflowId, 'AwaitingShipment');

  const second = await bookRequest(world, domain, contact, `PO-B-${world.suffix}`);
  const deposited = await waitForPhase(stack.client, second.workflowId, 'AwaitingShipment');
  expect(deposited.customerAccountId).toBe(accountId);
  expect(deposited.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['deposited', accountId],
    ['deposited', accountId],
  ]);
  // No second activation request: the account was already active.
  expect(await waitForMail(isActivationMail(contact.email), 2, 1_500)).toHaveLength(1);
  expect(await stack.db('accounts').where({ domain }).pluck('id')).toEqual([accountId]);
  await shipLines(stack.client, second.orderId, '2026-09-01');
  expect((await stack.client.workflow.getHandle(second.workflowId).result()).phase).toBe('Fulfilled');
});

test('S5(5): a refused order can still be assigned by the partner afterwards, and completes', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const contactEmail = `buyer@elsewhere-${world.suffix}.test`;
  const booked = await bookRequest(world, world.domain, {
    email: contactEmail,
    fullName: 'Bea Buyer',
    registeredId: `bea-${world.suffix}`,
  });
  const refused = await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('assignment-refused'));
  expect(refused.waitingFor).toBe('Assignment');

  const assigned = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    actingPartnerId: world.partnerId,
  });
  expect(assigned.phase).toBe('AwaitingShipment');
  expect(assigned.waitingFor).toBe('Shipment');
  expect(assigned.customerAccountId).toBe(world.smartAccountId);
  expect(assigned.pendingAction).not.toContain('refused');
  expect(assigned.lines.map((l) => [l.state, l.accountId, l.virtualAccountPath])).toEqual([
    ['deposited', world.smartAccountId, 'Finance'],
    ['deposited', world.smartAccountId, 'Finance'],
  ]);
  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([contactEmail, world.partnerEmail].sort());

  await shipLines(stack.client, booked.orderId, '2026-08-01');
  const result: OrderStatus = await stack.client.workflow.getHandle(booked.workflowId).result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.emailsSent).toEqual(['assignment-refused', `deposit-confirmation:${world.smartAccountId}`, 'order-fulfilled']);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 10 },
  ]);
  // The refusal stays on record; no account was ever created for the mismatching contact.
  expect(
    await stack
      .db('smart_account_requests')
      .where({ contact_id: await contactId(contactEmail) })
      .pluck('status'),
  ).toEqual(['refused']);
});

// Regression: the workflow once wrote orders.status / waiting_for only on placement, shipment,
// provisioning and withdrawal, so Postgres said "Booked" / NULL while an order waited for an
// assignment after a refusal, or for a Smart Account activation.
test('S5: the Postgres list mirror (orders.status, waiting_for) follows the workflow while refused or awaiting activation', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const refused = await bookRequest(
    world,
    world.domain,
    { email: `buyer@elsewhere-${world.suffix}.test`, registeredId: `bea-${world.suffix}` },
    `PO-${world.suffix}-R`,
  );
  const domain = `mirror-${world.suffix}.test`;
  const requested = await bookRequest(
    world,
    domain,
    { email: `it@${domain}`, registeredId: `ivy-${world.suffix}` },
    `PO-${world.suffix}-V`,
  );
  await waitForStatus(stack.client, refused.workflowId, (s) => s.waitingFor === 'Assignment');
  await waitForStatus(stack.client, requested.workflowId, (s) => s.waitingFor === 'SmartAccountActivation');
  const mirrorOf = async (orderId: string) => stack.db('orders').where({ id: orderId }).first('status', 'waiting_for');
  try {
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      const [r, v] = [await mirrorOf(refused.orderId), await mirrorOf(requested.orderId)];
      if (r.waiting_for === 'Assignment' && v.waiting_for === 'SmartAccountActivation') break;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect({ refused: await mirrorOf(refused.orderId), requested: await mirrorOf(requested.orderId) }).toEqual({
      refused: { status: 'AwaitingSmartAccount', waiting_for: 'Assignment' },
      requested: { status: 'AwaitingActivation', waiting_for: 'SmartAccountActivation' },
    });
  } finally {
    await stack.client.workflow.getHandle(refused.workflowId).terminate('test done');
    await stack.client.workflow.getHandle(requested.workflowId).terminate('test done');
    const accountId = requestedAccountId(domain, await contactId(`it@${domain}`));
    await stack.client.workflow.getHandle(activationWorkflowId(accountId)).terminate('test done');
  }
});

// ---- Regressions from the code review: the activation workflow must stop when no order waits
// for its account any more, and must notice an account activated without its signal. ----

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the workflow's execution is COMPLETED (describe), for at most `timeoutMs`. */
async function waitForCompletion(workflowId: string, timeoutMs: number): Promise<void> {
  const handle = stack.client.workflow.getHandle(workflowId);
  await pollUntil(
    () => handle.describe().then((d) => d.status.name),
    (name) => name === 'COMPLETED',
    `${workflowId} completing`,
    timeoutMs,
  );
}

test('S5 regression: an order waiting for activation that the partner assigns to another Smart Account ends the activation workflow and its reminders', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `moved-${world.suffix}.test`;
  const contactEmail = `it@${domain}`;
  const booked = await bookRequest(world, domain, { email: contactEmail, fullName: 'Max Moved', registeredId: `max-${world.suffix}` });
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingActivation');
  const accountId = requestedAccountId(domain, await contactId(contactEmail));
  const activation = stack.client.workflow.getHandle(activationWorkflowId(accountId));
  await pollUntil(
    () => activation.query(activationStatusQuery),
    (s) => s.waitingOrders.includes(booked.workflowId),
    'the order registering with the activation workflow',
  );
  expect((await activation.describe()).status.name).toBe('RUNNING');
  expect(await waitForMail(isFirstRequest(contactEmail))).toHaveLength(1);

  // The partner assigns the customer's existing, active Smart Account instead.
  const assigned = await assignSmartAccount(stack.client, booked.orderId, {
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
    actingPartnerId: world.partnerId,
  });
  expect(assigned).toMatchObject({ phase: 'AwaitingShipment', waitingFor: 'Shipment', customerAccountId: world.smartAccountId });
  expect(assigned.lines.map((l) => [l.state, l.accountId, l.virtualAccountPath])).toEqual([
    ['deposited', world.smartAccountId, 'Finance'],
    ['deposited', world.smartAccountId, 'Finance'],
  ]);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 10 },
  ]);

  // No order waits for the requested account any more: its activation workflow completes…
  await waitForCompletion(activation.workflowId, 10_000);
  expect(await activation.query(activationStatusQuery)).toMatchObject({ accountId, activated: false, waitingOrders: [] });
  const remindersAtCompletion = receivedNow(isReminder(contactEmail)).length;
  // …and stops reminding the contact (two reminder intervals later, nothing more arrived).
  await sleep(2 * stack.config.reminderIntervalMs + 1_000);
  expect(receivedNow(isReminder(contactEmail))).toHaveLength(remindersAtCompletion);
  expect((await activation.describe()).status.name).toBe('COMPLETED');
  // The requested account itself is left as it was, pending activation.
  expect(await stack.db('accounts').where({ id: accountId }).first('status')).toEqual({ status: 'pending_activation' });

  // The order goes on undisturbed.
  expect((await stack.client.workflow.getHandle(booked.workflowId).query(orderStatusQuery)).phase).toBe('AwaitingShipment');
  await shipLines(stack.client, booked.orderId, '2026-10-01');
  const result: OrderStatus = await stack.client.workflow.getHandle(booked.workflowId).result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.customerAccountId).toBe(world.smartAccountId);
  expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
    status: 'Fulfilled',
    account_id: world.smartAccountId,
  });
});

test('S5 regression: an account activated in Postgres only (no signal) is found active at the next reminder time: no reminder, the order deposits', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `quiet-${world.suffix}.test`;
  const contactEmail = `it@${domain}`;
  const booked = await bookRequest(world, domain, { email: contactEmail, fullName: 'Quinn Quiet', registeredId: `quinn-${world.suffix}` });
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingActivation');
  const accountId = requestedAccountId(domain, await contactId(contactEmail));
  const activation = stack.client.workflow.getHandle(activationWorkflowId(accountId));
  expect(await waitForMail(isFirstRequest(contactEmail))).toHaveLength(1);

  // Activated behind the workflows' back: the row only, no accountActivated signal.
  const remindersBefore = receivedNow(isReminder(contactEmail)).length;
  const reminderRowsBefore = await stack
    .db('email_outbox')
    .where({ to_address: contactEmail, template: 'activation-request' })
    .count({ n: '*' });
  expect(await stack.db('accounts').where({ id: accountId }).update({ status: 'active', activated_at: stack.db.fn.now() })).toBe(1);

  // At its next reminder time the activation workflow finds the account active and ends, having told the order.
  await waitForCompletion(activation.workflowId, 15_000);
  expect(await activation.query(activationStatusQuery)).toMatchObject({ accountId, activated: true, waitingOrders: [booked.workflowId] });
  const deposited = await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  expect(deposited.customerAccountId).toBe(accountId);
  expect(deposited.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['deposited', accountId],
    ['deposited', accountId],
  ]);
  expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => [e.account_id, e.status])).toEqual([
    [accountId, 'deposited'],
    [accountId, 'deposited'],
  ]);
  expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
    status: 'AwaitingShipment',
    account_id: accountId,
  });
  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([contactEmail, world.partnerEmail].sort());

  // No reminder for the active account: none received, none even queued.
  await sleep(stack.config.reminderIntervalMs + 500);
  expect(receivedNow(isReminder(contactEmail))).toHaveLength(remindersBefore);
  expect(await stack.db('email_outbox').where({ to_address: contactEmail, template: 'activation-request' }).count({ n: '*' })).toEqual(
    reminderRowsBefore,
  );

  await shipLines(stack.client, booked.orderId, '2026-10-02');
  expect((await stack.client.workflow.getHandle(booked.workflowId).result()).phase).toBe('Fulfilled');
});

test('S5 regression: an activation email queued while SMTP was down, for an account activated before the retry, is withdrawn, not left pending', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `late-${world.suffix}.test`;
  const contactEmail = `it@${domain}`;
  const contact = await registerContact(stack.db, { email: contactEmail, fullName: 'Lee Late', registeredId: `lee-${world.suffix}` });
  const accountId = `sa-late-${world.suffix}`;
  await stack.db('accounts').insert({
    id: accountId,
    kind: 'smart_account',
    name: `Late ${world.suffix}`,
    domain,
    status: 'pending_activation',
    primary_contact_id: contact,
  });
  const key = `smart-account-${accountId}:activation-reminder:1`;

  // The first attempt queues the reminder, then SMTP refuses the connection.
  const smtpDown = createActivities({
    db: stack.db,
    mailer: { send: async () => Promise.reject(new Error('connect ECONNREFUSED (SMTP down)')), close: () => undefined },
    temporal: stack.client,
    config: stack.config,
  });
  await expect(smtpDown.sendActivationRequest({ accountId, idempotencyKey: key, reminderNumber: 1 })).rejects.toThrow('SMTP down');
  expect(await stack.db('email_outbox').where({ idempotency_key: key }).first('status', 'attempts')).toEqual({
    status: 'pending',
    attempts: 1,
  });

  // The contact activates through an earlier link before the activity's retry runs.
  await stack.db('accounts').where({ id: accountId }).update({ status: 'active', activated_at: stack.db.fn.now() });
  const retry = createActivities({ db: stack.db, mailer: stack.mailer, temporal: stack.client, config: stack.config });
  await expect(retry.sendActivationRequest({ accountId, idempotencyKey: key, reminderNumber: 1 })).resolves.toBe('already-active');

  // Settled, not pending forever; and nothing was mailed for the active account.
  expect(await stack.db('email_outbox').where({ idempotency_key: key }).first('status', 'last_error')).toEqual({
    status: 'withdrawn',
    last_error: 'not sent: the account was active at the next attempt',
  });
  expect(await waitForMail((m) => m.to.includes(contactEmail), 1, 1_000)).toEqual([]);
});

// Code review: the last waiting order withdrew and another registered in the same activation
// (both signals waiting while no worker ran); the run ended with the new order registered and
// never told, so that order waited for an activation nobody would announce.
test('S5 regression: an order registering in the same activation as the last withdrawal keeps the activation waiting, and is told at activation', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const taskQueue = `${stack.taskQueue}-activation-${world.suffix}`;
  const orderA = `order-a-${world.suffix}`;
  const orderB = `order-b-${world.suffix}`;
  let worker = await startOrderWorkerOn(stack, taskQueue);
  const activation = await stack.client.workflow.signalWithStart(ACTIVATION_WORKFLOW_TYPE, {
    workflowId: activationWorkflowId(world.pendingSmartAccountId),
    taskQueue,
    args: [{ accountId: world.pendingSmartAccountId, domain: world.domain }],
    signal: registerWaitingOrderSignal,
    signalArgs: [{ workflowId: orderA }],
  });
  try {
    await pollUntil(
      () => activation.query(activationStatusQuery),
      (s) => s.waitingOrders.includes(orderA),
      'order A registered',
    );
    // With no worker, both signals wait for the same workflow task: A withdraws, then B registers.
    await worker.stop();
    await activation.signal(withdrawWaitingOrderSignal, { workflowId: orderA });
    await activation.signal(registerWaitingOrderSignal, { workflowId: orderB });
    worker = await startOrderWorkerOn(stack, taskQueue);

    const status = await pollUntil(
      () => activation.query(activationStatusQuery),
      (s) => s.waitingOrders.includes(orderB),
      'order B registered',
    );
    expect(status).toMatchObject({ activated: false, waitingOrders: [orderB] });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await activation.describe()).status.name).toBe('RUNNING');

    await activation.signal(accountActivatedSignal);
    await activation.result();
    const history = await activation.fetchHistory();
    const told = history.events!.flatMap(
      (e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.workflowExecution?.workflowId ?? [],
    );
    expect(told).toEqual([orderB]);
    expect(patchIdsOf(history)).toEqual([REGISTER_AFTER_WITHDRAWAL_WAITS]);
    // The run replays on the code that made it (the recorded histories, without the marker, replay in replay.test.ts).
    for await (const replayed of Worker.runReplayHistories(
      { workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! }, dataConverter: dataConverterFor(stack.config) },
      [{ workflowId: activation.workflowId, history }],
    )) {
      expect(replayed.error?.message).toBeUndefined();
    }
  } finally {
    await activation.terminate('test done').catch(() => undefined);
    await worker.stop();
  }
});
