/**
 * Issue 18 item 1, end to end with the real SMTP catcher: an email refused for good (550) shows
 * on the order (GET /v1/orders/:id emails[]), in the operator's and the partner's list of failed
 * emails (GET /v1/emails, the typed client, the CLI), and is sent again with one call after the
 * address is fixed (POST /v1/emails/{id}/resend): received exactly once however often the call
 * is made. An alert email refused the same way shows on the alert listing and is resent by an
 * operator. A 451 (temporary) is retried with backoff until the server takes it: received once,
 * the outbox row ends sent.
 */
import { createOutbox } from '../../activities/shared/outbox';
import { createAlertDelivery } from '../../activities/licensing/alert-delivery';
import { LicenseFulfillmentClient } from '../../src/api-client';
import { runCliInProcess } from '../helpers/cli';
import { raiseAlert } from '../../src/licensing/alerts';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { book, directBooking, waitForPhase } from '../helpers/orders';
import { mailFor, mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
jest.setTimeout(90_000);

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `license-fulfillment <args>` in this process, with the API's URL and a key (test/helpers/cli.ts). */
const cli = (args: string[], key: string) => runCliInProcess(['--json', ...args], { apiUrl: api.baseUrl, apiKey: key });

/** Books a direct order whose customer contact is `customer`, and waits for the deposit confirmation to settle. */
async function bookFor(world: TestWorld, customer: string, reference: string) {
  const booked = await book(
    stack.client,
    stack.taskQueue,
    directBooking(world, { externalReference: `${reference}-${world.suffix}`, endCustomerContact: { email: customer, fullName: 'Casey' } }),
  );
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingShipment');
  await waitForMail(mailOf(booked.orderId, 'deposit-confirmation'));
  return booked;
}

async function waitForOutbox(orderId: string, to: string, status: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const row = await stack.db('email_outbox').where({ order_id: orderId, to_address: to }).first();
    if (row?.status === status || Date.now() > deadline) return row;
    await settle(100);
  }
}

test('550 for the customer: the order and the failed list show the answer; a resend to the fixed address is received exactly once', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const refused = `smtp-550-casey-${world.suffix}@${world.domain}`;
  const fixed = `casey-${world.suffix}@${world.domain}`;
  const booked = await bookFor(world, refused, 'RESEND');
  const failed = await waitForOutbox(booked.orderId, refused, 'failed');
  const emailId = String(failed.id);
  const partnerKey = await api.keyFor('partner', world.partnerId);
  const operatorKey = await api.keyFor('operator');
  const partner = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: partnerKey });

  // The order shows it: failed, with the server's answer.
  const order = await partner.getOrder(booked.orderId);
  expect(order.emails).toContainEqual({
    emailId,
    template: 'deposit-confirmation',
    to: refused,
    status: 'failed',
    lastError: expect.stringMatching(/^550 5\.1\.1 .*User unknown/),
    sentAt: null,
    resentAs: null,
  });
  expect(order.emails!.find((e) => e.to === world.partnerEmail)?.status).toBe('sent');

  // The partner's and the operator's list of failed emails, through the client and the CLI.
  const listed = await partner.listEmails({ orderId: booked.orderId });
  expect(listed.emails.map((e) => [e.emailId, e.status, e.to])).toEqual([[emailId, 'failed', refused]]);
  const viaCli = await cli(['emails', 'list', '--order', booked.orderId], operatorKey);
  expect(viaCli.code).toBe(0);
  expect(JSON.parse(viaCli.stdout).emails.map((e: { emailId: string }) => e.emailId)).toEqual([emailId]);

  // Not the partner's to choose for another partner; bad input names the field.
  const other = await api.keyFor('partner', world.otherPartnerId);
  expect((await api.call('POST', `/v1/emails/${emailId}/resend`, { key: other, body: {} })).status).toBe(403);
  const bad = await api.call('POST', `/v1/emails/${emailId}/resend`, { key: partnerKey, body: { to: 'not an address' } });
  expect({ status: bad.status, field: bad.body.errors?.[0]?.field }).toEqual({ status: 400, field: 'to' });

  // One call resends it; two racing calls and a later one still make one email.
  const [first, second] = await Promise.all([partner.resendEmail(emailId, { to: fixed }), partner.resendEmail(emailId, { to: fixed })]);
  expect([first.repeated, second.repeated].sort()).toEqual([false, true]);
  expect(first.email).toMatchObject({ status: 'sent', to: fixed, resendOf: emailId, resentBy: `partner:${world.partnerId}` });
  expect(second.email.emailId).toBe(first.email.emailId);
  expect((await partner.resendEmail(emailId, { to: fixed })).repeated).toBe(true);
  const resent = await waitForMail((m) => m.to.includes(fixed));
  await settle(1_000);
  expect(mailFor(fixed)).toHaveLength(1);
  expect(resent[0].headers['x-email-template']).toBe('deposit-confirmation');
  expect(mailFor(refused)).toEqual([]);

  // The order and the list say it was resent; the order's event log says by whom, to where.
  const after = await partner.getOrder(booked.orderId);
  expect(after.emails!.find((e) => e.emailId === emailId)?.resentAs).toBe(first.email.emailId);
  expect(after.emails!.find((e) => e.emailId === first.email.emailId)).toMatchObject({ status: 'sent', to: fixed });
  const event = await stack.db('order_events').where({ order_id: booked.orderId, type: 'email-resent' }).first('details');
  expect(event.details).toMatchObject({ emailId, previousAddress: refused, to: fixed, resentBy: `partner:${world.partnerId}` });

  // A sent email is not resent, and an unknown one does not exist.
  const again = await api.call('POST', `/v1/emails/${first.email.emailId}/resend`, { key: operatorKey, body: {} });
  expect({ status: again.status, error: again.body.error }).toEqual({ status: 409, error: 'InvalidState' });
  expect((await api.call('POST', '/v1/emails/999999999999/resend', { key: operatorKey, body: {} })).status).toBe(404);
});

test('the failed list pages newest first and a partner sees only its own orders', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const orders = [];
  for (const n of [1, 2, 3]) {
    const booked = await bookFor(world, `smtp-550-page${n}-${world.suffix}@${world.domain}`, `PAGE${n}`);
    await waitForOutbox(booked.orderId, `smtp-550-page${n}-${world.suffix}@${world.domain}`, 'failed');
    orders.push(booked.orderId);
  }
  const partner = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: await api.keyFor('partner', world.partnerId) });
  const first = await partner.listEmails({ limit: 2 });
  expect(first.emails.map((e) => e.orderId)).toEqual([orders[2], orders[1]]);
  const second = await partner.listEmails({ limit: 2, after: first.nextCursor! });
  expect(second.emails.map((e) => e.orderId)).toEqual([orders[0]]);
  expect(second.nextCursor).toBeNull();
  const outsider = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: await api.keyFor('partner', world.otherPartnerId) });
  expect((await outsider.listEmails()).emails).toEqual([]);
  const forged = await api.call('GET', '/v1/emails?after=abc', { key: await api.keyFor('operator') });
  expect({ status: forged.status, field: forged.body.errors?.[0]?.field }).toEqual({ status: 400, field: 'after' });
});

test('an alert email refused with 550 shows on the alert listing; an operator resends it to the fixed address, once', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const refused = `smtp-550-alerts-${world.suffix}@${world.domain}`;
  const fixed = `alerts-${world.suffix}@${world.domain}`;
  const [user] = await stack.db('users').insert({ email: refused, full_name: 'Alex Alerts' }).returning('id');
  // A user of the account (an alert reaches only someone a live role lets see it), subscribed.
  await stack.db('role_grants').insert({ account_id: world.smartAccountId, user_id: user.id, role: 'sa_user', granted_by: 'test' });
  await stack.db('alert_subscriptions').insert({ account_id: world.smartAccountId, user_id: user.id });
  await raiseAlert(stack.db, { accountId: world.smartAccountId, kind: 'overage_report', subject: `test:${world.suffix}`, message: 'Over' });
  const outbox = createOutbox({ db: stack.db, mailer: stack.mailer, mailFrom: stack.config.mailFrom });
  const delivery = createAlertDelivery({ db: stack.db, outbox, publicBaseUrl: stack.config.publicBaseUrl });
  await delivery.deliverAlertEmails({ batch: 10, accountId: world.smartAccountId });

  const operatorKey = await api.keyFor('operator');
  const operator = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: operatorKey });
  const [alert] = (await operator.listAlerts(world.smartAccountId)).alerts;
  expect(alert.emailDelivery).toEqual({ sent: 0, pending: 0, failed: 1 });
  const failed = (await operator.listEmails()).emails.find((e) => e.alertId === alert.id)!;
  expect(failed).toMatchObject({ status: 'failed', to: refused, orderId: null, lastError: expect.stringContaining('550') });

  // An alert email belongs to no order: a partner key may not resend it.
  const partnerKey = await api.keyFor('partner', world.partnerId);
  expect((await api.call('POST', `/v1/emails/${failed.emailId}/resend`, { key: partnerKey, body: { to: fixed } })).status).toBe(403);
  const resent = await operator.resendEmail(failed.emailId, { to: fixed });
  expect(resent).toMatchObject({ repeated: false, email: { status: 'sent', alertId: alert.id, resentBy: 'operator' } });
  await waitForMail((m) => m.to.includes(fixed));
  expect((await operator.resendEmail(failed.emailId, { to: fixed })).repeated).toBe(true);
  await settle(500);
  expect(mailFor(fixed)).toHaveLength(1);
  expect((await operator.listAlerts(world.smartAccountId)).alerts[0].emailDelivery).toEqual({ sent: 1, pending: 0, failed: 0 });
});

test('451 three times: the email is retried with backoff, received exactly once, and its outbox row ends sent', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const deferred = `smtp-451-3-casey-${world.suffix}@${world.domain}`;
  const booked = await book(
    stack.client,
    stack.taskQueue,
    directBooking(world, { externalReference: `DEFER-${world.suffix}`, endCustomerContact: { email: deferred, fullName: 'Casey' } }),
  );
  const started = Date.now();
  const [received] = await waitForMail((m) => m.to.includes(deferred), 1, 40_000);
  const waited = Date.now() - started;
  expect(received.headers['x-email-template']).toBe('deposit-confirmation');
  const row = await waitForOutbox(booked.orderId, deferred, 'sent');
  // Three refusals, each counted, then the delivery: the server's last answer is cleared.
  expect({ status: row.status, attempts: row.attempts, last_error: row.last_error }).toEqual({
    status: 'sent',
    attempts: 4,
    last_error: null,
  });
  // Backoff 1 s, 2 s, 4 s (workflows/shared/activity-proxies.ts): not sooner than their sum.
  expect(waited).toBeGreaterThanOrEqual(7_000);
  await settle(1_000);
  expect(mailFor(deferred)).toHaveLength(1);
  expect(mailFor(world.partnerEmail).filter(mailOf(booked.orderId, 'deposit-confirmation'))).toHaveLength(1);
  expect((await stack.db('email_outbox').where({ order_id: booked.orderId, status: 'failed' })).length).toBe(0);
});
