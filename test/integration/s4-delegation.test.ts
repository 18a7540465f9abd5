/**
 * S4 Delegation (R3): the partner delegates the choice of the Smart Account to the end-customer
 * contact. The contact gets a single-use link (only its SHA-256 is stored), the page lists the
 * Smart Accounts of their domain, and they either pick one (→ deposit, shipment, fulfilment) or
 * create one (→ pending activation, activation link, activation → deposit → fulfilment).
 * Also: an expired link and a Smart Account of another domain are refused and change nothing.
 */
import { createHash } from 'node:crypto';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  LinkError,
  activateSmartAccount,
  findSmartAccountsByDomain,
  openDelegation,
  submitCustomerChoice,
} from '../../src/accounts/customer-links';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { createDb } from '../../src/db/knex';
import { hashToken, tokenHashHex } from '../../src/security/tokens';
import { activationWorkflowId, orderStatusQuery, submitCustomerChoiceUpdate } from '../../src/orders/workflow-api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { TOKEN_PATTERN, delegationLink, isFirstRequest, linkToken } from '../helpers/links';
import {
  PERPETUAL_LINE,
  TERM_LINE,
  book,
  entitlementsOf,
  eventTypes,
  rejectionOf,
  shipLines,
  waitForPhase,
  waitForStatus,
} from '../helpers/orders';
import { openHistory } from '../helpers/payloads';
import { mailOf, uniqueSuffix, useTestStack, waitForMail, type TestStack } from '../helpers/stack';
// For the regression tests at the end of the file.
import { createActivities } from '../../activities';
import { receivedNow } from '../helpers/stack';

// Reminders far away for the scenarios, so none lands in the middle of their exact checks; the
// reminder test has a worker of its own that reminds quickly.
const stack = useTestStack(__filename, { reminderIntervalMs: 600_000 });
const reminding = useTestStack(__filename, { reminderIntervalMs: 1_500 });

async function bookDelegated(world: TestWorld, reference = `PO-${world.suffix}`, on: TestStack = stack) {
  return book(on.client, on.taskQueue, {
    externalReference: reference,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'delegate' },
    endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' },
    lines: [PERPETUAL_LINE, TERM_LINE],
  });
}

/** Everything a workflow's history carries, payloads decoded as text. */
/** The history's text with its payloads opened (they are sealed at rest, R14). */
async function historyText(handle: WorkflowHandle): Promise<string> {
  const history = await openHistory(await handle.fetchHistory(), stack.config.payloadEncryptionKeys);
  // Payload bytes come as Uint8Array/Buffer, or already as base64 text under "data".
  return JSON.stringify(history, (key, value) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (value && value.type === 'Buffer' && Array.isArray(value.data)) return Buffer.from(value.data).toString('utf8');
    if (key === 'data' && typeof value === 'string') return Buffer.from(value, 'base64').toString('utf8');
    return value;
  });
}

/** The tables (and rows) whose text contains `needle`: a raw token must be in none. */
async function tablesContaining(needle: string): Promise<string[]> {
  const tables: string[] = await stack
    .db('information_schema.tables')
    .where({ table_schema: 'public', table_type: 'BASE TABLE' })
    .pluck('table_name');
  expect(tables).toEqual(expect.arrayContaining(['access_tokens', 'email_outbox', 'orders', 'order_events']));
  const found: string[] = [];
  for (const table of tables) {
    const { rows } = await stack.db.raw(`SELECT count(*)::int AS n FROM ?? AS t WHERE strpos(t::text, ?) > 0`, [table, needle]);
    if (rows[0].n > 0) found.push(table);
  }
  return found;
}

/** Why a rejected customer action was refused: the Update's cause, or the link check's own error. */
function refusalOf(err: unknown): { message: string; type?: string } {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    return { message: cause?.message ?? err.message, ...(cause instanceof ApplicationFailure ? { type: cause.type ?? undefined } : {}) };
  }
  return { message: (err as Error).message };
}

test('S4a: the contact gets a secure link, sees the Smart Accounts of their domain, picks one → deposit, shipment, fulfilment', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);

  const waiting = await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('delegation-request'));
  expect(waiting.phase).toBe('AwaitingSmartAccount');
  expect(waiting.waitingFor).toBe('CustomerChoice');
  expect(waiting.pendingAction).toMatch(/end-customer contact must pick or create/);
  expect(waiting.lines.map((l) => l.state)).toEqual(['booked', 'booked']);

  // The email and its link.
  const { mail, token } = await delegationLink(stack, booked.orderId, world.customerEmail);
  expect(mail.subject).toBe(`Choose the Smart Account for your order PO-${world.suffix}`);
  expect(mail.text).toContain('Hello Casey Customer,');
  expect(mail.text).toContain(`http://localhost:3000/delegations/${token}`);
  expect(token).toMatch(TOKEN_PATTERN);
  expect(mail.html).toContain(`/delegations/${token}`);

  // Postgres keeps only the SHA-256 of the token; the raw token is in no table and not in history.
  const tokenRow = await stack.db('access_tokens').where({ order_id: booked.orderId, purpose: 'delegation' }).first();
  expect(tokenRow).toMatchObject({ contact_id: String(world.customerContactId), used_at: null });
  expect(Buffer.from(tokenRow.token_hash).equals(createHash('sha256').update(token).digest())).toBe(true);
  expect(new Date(tokenRow.expires_at).getTime()).toBeGreaterThan(Date.now());
  const outbox = await stack.db('email_outbox').where({ order_id: booked.orderId, template: 'delegation-request' });
  expect(outbox).toHaveLength(1);
  expect(outbox[0].text_body).not.toContain(token);
  expect(outbox[0].html_body).not.toContain(token);
  expect(JSON.stringify(await stack.db('access_tokens').where({ order_id: booked.orderId }))).not.toContain(token);
  expect(await tablesContaining(token)).toEqual([]);

  // The page: the Smart Accounts of the contact's domain, with their virtual accounts.
  const opened = await openDelegation(stack.db, token);
  expect(opened).toEqual({
    orderId: booked.orderId,
    workflowId: booked.workflowId,
    domain: world.domain,
    smartAccounts: [
      {
        accountId: world.smartAccountId,
        name: world.smartAccountName,
        status: 'active',
        virtualAccounts: ['Finance', 'Region-US', 'Region-US/Finance', 'Region-US/Finance/Sacramento'],
      },
      { accountId: world.pendingSmartAccountId, name: `Pending ${world.suffix}`, status: 'pending_activation', virtualAccounts: [] },
    ],
  });

  // The contact picks the active Smart Account, virtual account Finance.
  const chosen = await submitCustomerChoice(stack, token, {
    kind: 'existing',
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
  });
  expect(chosen.phase).toBe('AwaitingShipment');
  expect(chosen.waitingFor).toBe('Shipment');
  expect(chosen.customerAccountId).toBe(world.smartAccountId);
  expect(chosen.lines.map((l) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'deposited', world.smartAccountId, 'Finance'],
    [2, 'deposited', world.smartAccountId, 'Finance'],
  ]);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 10 },
  ]);

  // The link is used up.
  expect(await stack.db('access_tokens').where({ id: tokenRow.id }).first('used_at')).toEqual({ used_at: expect.any(Date) });
  const reopened = await rejectionOf(openDelegation(stack.db, token));
  expect(reopened).toBeInstanceOf(LinkError);
  expect((reopened as LinkError).reason).toBe('used');
  const resubmitted = await rejectionOf(submitCustomerChoice(stack, token, { kind: 'existing', accountId: world.smartAccountId }));
  expect(resubmitted).toBeInstanceOf(LinkError);

  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());

  await shipLines(stack.client, booked.orderId, '2026-02-10');
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.lines).toEqual([
    expect.objectContaining({ lineNumber: 1, state: 'provisioned', accountId: world.smartAccountId, virtualAccountPath: 'Finance' }),
    expect.objectContaining({ lineNumber: 2, state: 'provisioned', subscription: { startsOn: '2026-02-10', endsOn: '2029-02-10' } }),
  ]);
  expect(result.emailsSent).toEqual(['delegation-request', `deposit-confirmation:${world.smartAccountId}`, 'order-fulfilled']);
  expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => [e.account_id, e.path, e.status])).toEqual([
    [world.smartAccountId, 'Finance', 'active'],
    [world.smartAccountId, 'Finance', 'active'],
  ]);
  expect(await stack.db('orders').where({ id: booked.orderId }).first()).toMatchObject({
    status: 'Fulfilled',
    account_id: world.smartAccountId,
    customer_domain: world.domain,
  });
  const events = await eventTypes(stack.db, booked.orderId);
  expect(events[0]).toBe('booked');
  expect(events).toContain('deposited');

  // Neither the token nor anything that reveals it reached Temporal: the Update carried its hash.
  const history = await historyText(handle);
  expect(history).not.toContain(token);
  expect(history).toContain(tokenHashHex(token));
});

test('S4b: the contact creates a Smart Account, activates it through the activation link → deposit, shipment, fulfilment', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);

  const accountName = `Acme New ${world.suffix}`;
  const chosen = await submitCustomerChoice(stack, token, { kind: 'create', accountName });
  expect(chosen.phase).toBe('AwaitingActivation');
  expect(chosen.waitingFor).toBe('SmartAccountActivation');
  expect(chosen.pendingAction).toContain(world.domain);
  expect(chosen.customerAccountId).toBeUndefined();
  expect(chosen.lines.map((l) => l.state)).toEqual(['booked', 'booked']);

  // A new Smart Account of the domain, pending activation, with the contact as its primary contact.
  const accounts = await findSmartAccountsByDomain(stack.db, world.domain);
  const created = accounts.filter((a) => a.accountId !== world.smartAccountId && a.accountId !== world.pendingSmartAccountId);
  expect(created).toEqual([{ accountId: expect.any(String), name: accountName, status: 'pending_activation', virtualAccounts: [] }]);
  const newAccountId = created[0].accountId;
  expect(await stack.db('accounts').where({ id: newAccountId }).first()).toMatchObject({
    kind: 'smart_account',
    domain: world.domain,
    status: 'pending_activation',
    primary_contact_id: String(world.customerContactId),
  });
  expect(await stack.db('access_tokens').where({ order_id: booked.orderId, purpose: 'delegation' }).first('used_at')).toEqual({
    used_at: expect.any(Date),
  });
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([]);

  // The activation workflow emails the contact an activation link.
  const activationWorkflow = stack.client.workflow.getHandle(activationWorkflowId(newAccountId));
  expect((await activationWorkflow.describe()).status.name).toBe('RUNNING');
  const requests = await waitForMail(isFirstRequest(world.customerEmail));
  expect(requests).toHaveLength(1);
  expect(requests[0].subject).toBe(`Activate your new Smart Account ${world.domain}`);
  const activationToken = linkToken(stack, requests[0], 'activations');
  expect(activationToken).toMatch(TOKEN_PATTERN);
  const activationRow = await stack
    .db('access_tokens')
    .where({ token_hash: hashToken(activationToken), purpose: 'activation' })
    .first();
  expect(activationRow).toMatchObject({ account_id: newAccountId, used_at: null });
  expect(await tablesContaining(activationToken)).toEqual([]);

  // Still waiting: nothing is deposited before the account is active.
  expect((await handle.query(orderStatusQuery)).phase).toBe('AwaitingActivation');

  await expect(activateSmartAccount({ db: stack.db, client: stack.client, taskQueue: stack.taskQueue }, activationToken)).resolves.toEqual({
    accountId: newAccountId,
  });
  expect(await stack.db('accounts').where({ id: newAccountId }).first('status')).toEqual({ status: 'active' });
  await activationWorkflow.result();

  const deposited = await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  expect(deposited.customerAccountId).toBe(newAccountId);
  expect(deposited.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['deposited', newAccountId],
    ['deposited', newAccountId],
  ]);
  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());
  expect(confirmations[0].subject).toBe(`Order PO-${world.suffix}: licenses deposited in ${accountName}`);

  await shipLines(stack.client, booked.orderId, '2026-03-15');
  const result: OrderStatus = await handle.result();
  expect(result.phase).toBe('Fulfilled');
  expect(result.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['provisioned', newAccountId],
    ['provisioned', newAccountId],
  ]);
  expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => [e.account_id, e.status])).toEqual([
    [newAccountId, 'active'],
    [newAccountId, 'active'],
  ]);
});

test('S4: an expired delegation link is refused ("this link has expired") and changes nothing', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);
  await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('delegation-request'));

  await stack
    .db('access_tokens')
    .where({ token_hash: hashToken(token) })
    .update({ expires_at: new Date(Date.now() - 60_000) });
  const before = {
    status: await handle.query(orderStatusQuery),
    token: await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(token) })
      .first('used_at'),
    entitlements: await entitlementsOf(stack.db, booked.orderId),
    events: await eventTypes(stack.db, booked.orderId),
    accounts: await findSmartAccountsByDomain(stack.db, world.domain),
  };
  expect(before.status.waitingFor).toBe('CustomerChoice');

  // Through the customer page.
  const viaPage = await rejectionOf(
    submitCustomerChoice(stack, token, { kind: 'existing', accountId: world.smartAccountId, virtualAccountPath: 'Finance' }),
  );
  expect(refusalOf(viaPage).message).toBe('this link has expired');
  const viaPageCreate = await rejectionOf(submitCustomerChoice(stack, token, { kind: 'create', accountName: 'Too Late' }));
  expect(refusalOf(viaPageCreate).message).toBe('this link has expired');
  // And the workflow itself, when the Update arrives directly with the link's hash.
  const direct = await rejectionOf(
    handle.executeUpdate(submitCustomerChoiceUpdate, {
      args: [{ tokenHash: tokenHashHex(token), choice: { kind: 'existing', accountId: world.smartAccountId } }],
    }),
  );
  expect(direct).toBeInstanceOf(WorkflowUpdateFailedError);
  expect(refusalOf(direct)).toEqual({ message: 'this link has expired', type: 'InvalidLink' });

  expect({
    status: await handle.query(orderStatusQuery),
    token: await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(token) })
      .first('used_at'),
    entitlements: await entitlementsOf(stack.db, booked.orderId),
    events: await eventTypes(stack.db, booked.orderId),
    accounts: await findSmartAccountsByDomain(stack.db, world.domain),
  }).toEqual(before);
  expect(await waitForMail(mailOf(booked.orderId), 2, 500)).toHaveLength(1);
  await handle.terminate('test done');
});

test('S4: choosing a Smart Account of another domain is refused (DomainMismatch); the link stays usable', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const stranger = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);
  await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('delegation-request'));
  const before = await handle.query(orderStatusQuery);

  const refused = await rejectionOf(submitCustomerChoice(stack, token, { kind: 'existing', accountId: stranger.smartAccountId }));
  expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
  const refusal = refusalOf(refused);
  expect(refusal.type).toBe('DomainMismatch');
  expect(refusal.message).toBe(`"${stranger.smartAccountId}" is not a Smart Account of ${world.domain}`);

  // Nothing changed, and the link can still be opened and used.
  expect(await handle.query(orderStatusQuery)).toEqual(before);
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([]);
  expect(
    await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(token) })
      .first('used_at'),
  ).toEqual({ used_at: null });
  expect((await openDelegation(stack.db, token)).smartAccounts.map((a) => a.accountId)).toEqual([
    world.smartAccountId,
    world.pendingSmartAccountId,
  ]);

  const chosen = await submitCustomerChoice(stack, token, { kind: 'existing', accountId: world.smartAccountId });
  expect(chosen.phase).toBe('AwaitingShipment');
  expect(chosen.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['deposited', world.smartAccountId],
    ['deposited', world.smartAccountId],
  ]);
  await shipLines(stack.client, booked.orderId, '2026-04-01');
  expect((await handle.result()).phase).toBe('Fulfilled');
});

// Regression: the workflow once wrote orders.status / waiting_for only on placement, shipment,
// provisioning and withdrawal, so Postgres said "Booked" / NULL while the order waited for the
// contact's choice or for the activation of the account the contact created.
test('S4: the Postgres list mirror (orders.status, waiting_for) follows the workflow while it waits for the choice and the activation', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const mirror = () => stack.db('orders').where({ id: booked.orderId }).first('status', 'waiting_for');
  let activationId: string | undefined;
  try {
    const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);
    await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('delegation-request'));
    const whileChoosing = await mirror();
    const chosen = await submitCustomerChoice(stack, token, { kind: 'create', accountName: `Mirror ${world.suffix}` });
    expect(chosen.waitingFor).toBe('SmartAccountActivation');
    activationId = (await findSmartAccountsByDomain(stack.db, world.domain)).find((a) => a.name === `Mirror ${world.suffix}`)?.accountId;
    expect({ whileChoosing, whileActivating: await mirror() }).toEqual({
      whileChoosing: { status: 'AwaitingSmartAccount', waiting_for: 'CustomerChoice' },
      whileActivating: { status: 'AwaitingActivation', waiting_for: 'SmartAccountActivation' },
    });
  } finally {
    await handle.terminate('test done');
    if (activationId)
      await stack.client.workflow
        .getHandle(activationWorkflowId(activationId))
        .terminate('test done')
        .catch(() => undefined);
  }
});

// ---- Regressions from the code review ----

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The reason a dead link gives when opened. */
async function linkRefusal(token: string): Promise<string> {
  const err = await rejectionOf(openDelegation(stack.db, token));
  expect(err).toBeInstanceOf(LinkError);
  return (err as LinkError).reason;
}

test('S4 regression: an unanswered delegation is reminded with a fresh link; both links work until one is used, then both are dead', async () => {
  const world = await createTestWorld(reminding.db, uniqueSuffix());
  const booked = await bookDelegated(world, `PO-${world.suffix}`, reminding);
  const handle = reminding.client.workflow.getHandle(booked.workflowId);
  const { token: firstToken } = await delegationLink(reminding, booked.orderId, world.customerEmail);

  // One reminder interval (1.5 s for this worker) later, without an answer: Reminder 1, with a new link.
  const isReminder1 = (m: Parameters<ReturnType<typeof mailOf>>[0]) =>
    mailOf(booked.orderId, 'delegation-request')(m) && m.subject.startsWith('Reminder 1:');
  const [reminder] = await waitForMail(isReminder1, 1, 15_000);
  expect(reminder).toBeDefined();
  expect(reminder.headers['x-email-template']).toBe('delegation-request');
  expect(reminder.subject).toBe(`Reminder 1: choose the Smart Account for your order PO-${world.suffix}`);
  expect(reminder.to).toEqual([world.customerEmail]);
  expect(reminder.headers['x-idempotency-key']).toBe(`${booked.workflowId}:delegation-reminder:1`);
  const reminderToken = linkToken(reminding, reminder, 'delegations');
  expect(reminderToken).not.toBe(firstToken);
  const reminded = await waitForStatus(reminding.client, booked.workflowId, (st) => st.emailsSent.includes('delegation-reminder:1'));
  expect(reminded.emailsSent.slice(0, 2)).toEqual(['delegation-request', 'delegation-reminder:1']);
  expect(reminded.waitingFor).toBe('CustomerChoice');
  expect(await eventTypes(reminding.db, booked.orderId)).toEqual(expect.arrayContaining(['delegated_to_customer', 'delegation_reminder']));

  // Both links are stored (by hash) and both open the order's page.
  for (const token of [firstToken, reminderToken]) {
    expect(
      await reminding
        .db('access_tokens')
        .where({ token_hash: hashToken(token) })
        .first('order_id', 'purpose', 'used_at'),
    ).toEqual({
      order_id: booked.orderId,
      purpose: 'delegation',
      used_at: null,
    });
    expect(await openDelegation(reminding.db, token)).toMatchObject({ orderId: booked.orderId, domain: world.domain });
  }

  // The contact answers through the reminder's link.
  const chosen = await submitCustomerChoice(reminding, reminderToken, {
    kind: 'existing',
    accountId: world.smartAccountId,
    virtualAccountPath: 'Finance',
  });
  expect(chosen).toMatchObject({ phase: 'AwaitingShipment', customerAccountId: world.smartAccountId });
  expect(chosen.emailsSent).toEqual(
    expect.arrayContaining(['delegation-request', 'delegation-reminder:1', `deposit-confirmation:${world.smartAccountId}`]),
  );
  expect(await entitlementsOf(reminding.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'deposited', quantity: 10 },
  ]);

  // Now both links (and any other of the order) are dead.
  expect(await linkRefusal(reminderToken)).toBe('used');
  expect(await linkRefusal(firstToken)).toBe('used');
  expect(await reminding.db('access_tokens').where({ order_id: booked.orderId, purpose: 'delegation' }).whereNull('used_at')).toEqual([]);
  const reused = await rejectionOf(submitCustomerChoice(reminding, firstToken, { kind: 'existing', accountId: world.smartAccountId }));
  expect(reused).toBeInstanceOf(LinkError);

  // And the reminders stop once the contact has chosen.
  const delegationMails = receivedNow(mailOf(booked.orderId, 'delegation-request')).length;
  await sleep(reminding.config.reminderIntervalMs + 1_000);
  expect(receivedNow(mailOf(booked.orderId, 'delegation-request'))).toHaveLength(delegationMails);
  expect((await handle.query(orderStatusQuery)).emailsSent.filter((p) => p.startsWith('delegation-reminder:'))).toEqual(
    chosen.emailsSent.filter((p) => p.startsWith('delegation-reminder:')),
  );
  await shipLines(reminding.client, booked.orderId, '2026-05-05');
  expect((await handle.result()).phase).toBe('Fulfilled');
});

test('S4 regression: picking a pending Smart Account of the domain without a primary contact makes the chooser its contact; activation → deposit', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const orphanId = `sa-orphan-${world.suffix}`;
  await stack.db('accounts').insert({
    id: orphanId,
    kind: 'smart_account',
    name: `Orphan ${world.suffix}`,
    domain: world.domain,
    status: 'pending_activation',
    primary_contact_id: null,
  });
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const { token } = await delegationLink(stack, booked.orderId, world.customerEmail);
  expect((await openDelegation(stack.db, token)).smartAccounts).toContainEqual({
    accountId: orphanId,
    name: `Orphan ${world.suffix}`,
    status: 'pending_activation',
    virtualAccounts: [],
  });

  const chosen = await submitCustomerChoice(stack, token, { kind: 'existing', accountId: orphanId });
  expect(chosen).toMatchObject({ phase: 'AwaitingActivation', waitingFor: 'SmartAccountActivation' });
  expect(chosen.customerAccountId).toBeUndefined();
  expect(chosen.lines.map((l) => l.state)).toEqual(['booked', 'booked']);
  // The contact who chose it is now its primary contact; the account is still pending.
  expect(await stack.db('accounts').where({ id: orphanId }).first('status', 'primary_contact_id')).toEqual({
    status: 'pending_activation',
    primary_contact_id: String(world.customerContactId),
  });

  // The activation workflow writes to that contact.
  const activationWorkflow = stack.client.workflow.getHandle(activationWorkflowId(orphanId));
  const [request] = await waitForMail(isFirstRequest(world.customerEmail));
  expect(request).toBeDefined();
  expect(request.to).toEqual([world.customerEmail]);
  expect(request.subject).toBe(`Activate your new Smart Account ${world.domain}`);
  const activation = linkToken(stack, request, 'activations');
  expect(
    await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(activation), purpose: 'activation' })
      .first('account_id', 'contact_id', 'used_at'),
  ).toEqual({
    account_id: orphanId,
    contact_id: String(world.customerContactId),
    used_at: null,
  });
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([]);

  await expect(activateSmartAccount({ db: stack.db, client: stack.client, taskQueue: stack.taskQueue }, activation)).resolves.toEqual({
    accountId: orphanId,
  });
  await activationWorkflow.result();
  const deposited = await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  expect(deposited.customerAccountId).toBe(orphanId);
  expect(deposited.lines.map((l) => [l.state, l.accountId])).toEqual([
    ['deposited', orphanId],
    ['deposited', orphanId],
  ]);
  expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => [e.account_id, e.status])).toEqual([
    [orphanId, 'deposited'],
    [orphanId, 'deposited'],
  ]);
  expect(await stack.db('accounts').where({ id: orphanId }).first('status')).toEqual({ status: 'active' });
  const confirmations = await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'), 2);
  expect(confirmations.map((m) => m.to[0]).sort()).toEqual([world.customerEmail, world.partnerEmail].sort());
  await shipLines(stack.client, booked.orderId, '2026-05-06');
  expect((await handle.result()).phase).toBe('Fulfilled');
});

test('S4 regression: link emails never wait for a second connection while they hold one (a one-connection pool sends two at once)', async () => {
  // Before the fix the link's token was stored on a second connection while the outbox row's
  // transaction held the first: with every connection of the pool so held, the worker stalled
  // until the pool's acquire timeout (60 s), far past this test's timeout.
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  const oneConnection = createDb(stack.config.databaseUrl, 1);
  try {
    await delegationLink(stack, booked.orderId, world.customerEmail);
    const activities = createActivities({ db: oneConnection, mailer: stack.mailer, temporal: stack.client, config: stack.config });
    const keys = [`${booked.workflowId}:pool-one-a`, `${booked.workflowId}:pool-one-b`];
    await Promise.all(
      keys.map((idempotencyKey) =>
        activities.sendDelegationRequest({
          orderId: booked.orderId,
          idempotencyKey,
          listStatus: { phase: 'AwaitingSmartAccount', waitingFor: 'CustomerChoice' },
        }),
      ),
    );
    for (const idempotencyKey of keys) {
      const mails = await waitForMail((m) => m.headers['x-idempotency-key'] === idempotencyKey, 1);
      const token = linkToken(stack, mails[0], 'delegations');
      expect(await openDelegation(stack.db, token)).toMatchObject({ orderId: booked.orderId });
    }
  } finally {
    await oneConnection.destroy();
    await handle.terminate('test done');
  }
}, 20_000);

test('S4 regression: two concurrent sends of the delegation email with one idempotency key mail once, with a valid link', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const handle = stack.client.workflow.getHandle(booked.workflowId);
  try {
    // The order is recorded and delegated (its own link is out) before the retried sends.
    await delegationLink(stack, booked.orderId, world.customerEmail);
    const activities = createActivities({ db: stack.db, mailer: stack.mailer, temporal: stack.client, config: stack.config });
    // A race is a matter of luck: three rounds, each of two overlapping sends with one key.
    for (const idempotencyKey of [
      `${booked.workflowId}:delegation-test`,
      `${booked.workflowId}:delegation-test-2`,
      `${booked.workflowId}:delegation-test-3`,
    ]) {
      const send = () =>
        activities.sendDelegationRequest({
          orderId: booked.orderId,
          idempotencyKey,
          listStatus: { phase: 'AwaitingSmartAccount', waitingFor: 'CustomerChoice' },
        });
      await Promise.all([send(), send()]);

      const withKey = (m: Parameters<ReturnType<typeof mailOf>>[0]) => m.headers['x-idempotency-key'] === idempotencyKey;
      const mails = await waitForMail(withKey, 2, 1_500);
      expect({ idempotencyKey, received: mails.length }).toEqual({ idempotencyKey, received: 1 });
      expect(mails[0].to).toEqual([world.customerEmail]);
      const token = linkToken(stack, mails[0], 'delegations');

      // Exactly one link was minted for that email, and it is the one mailed.
      const rows = await stack.db('access_tokens').where({ email_idempotency_key: idempotencyKey });
      expect(rows).toHaveLength(1);
      expect(Buffer.from(rows[0].token_hash).equals(createHash('sha256').update(token).digest())).toBe(true);
      expect(rows[0]).toMatchObject({ order_id: booked.orderId, purpose: 'delegation', used_at: null });
      expect(await openDelegation(stack.db, token)).toMatchObject({ orderId: booked.orderId, workflowId: booked.workflowId });
      expect(await stack.db('email_outbox').where({ idempotency_key: idempotencyKey }).select('status')).toEqual([{ status: 'sent' }]);
    }
  } finally {
    await handle.terminate('test done');
  }
});
