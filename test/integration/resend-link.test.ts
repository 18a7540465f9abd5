/**
 * A partner sends its customer a new delegation link (POST /v1/orders/{id}/delegation-link, the
 * typed client's resendDelegationLink, the CLI's `orders resend-link`): the new link is emailed,
 * every earlier link of the order is refused at once, and the same request sends one link. The
 * same for the activation link of a requested Smart Account (POST /v1/accounts/{id}/activation-link,
 * resendActivationLink, `accounts resend-activation-link`).
 */
import { LicenseFulfillmentClient } from '../../src/api-client';
import { runCliInProcess } from '../helpers/cli';
import { useTestApi } from '../helpers/api';
import { activateSmartAccount } from '../../src/accounts/customer-links';
import { activationWorkflowId } from '../../src/orders/workflow-api';
import { createTestWorld, registerContact } from '../helpers/fixtures';
import { activationToken, delegationLink, isFirstRequest, linkToken } from '../helpers/links';
import { book, PERPETUAL_LINE, waitForStatus } from '../helpers/orders';
import { mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);

/** `license-fulfillment <args>` in this process, with the API's URL and a key (test/helpers/cli.ts). */
const cli = (args: string[], key: string) => runCliInProcess(args, { apiUrl: api.baseUrl, apiKey: key });

const page = async (token: string, path = 'delegations') => (await fetch(`${api.baseUrl}/${path}/${token}`)).status;
const activationPage = (token: string) => page(token, 'activations');

test('a resent link works, the earlier one is refused at once, and the same request sends one link', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `RELINK-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'delegate' },
    endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' },
    lines: [PERPETUAL_LINE],
  });
  await waitForStatus(stack.client, booked.workflowId, (s) => s.emailsSent.includes('delegation-request'));
  const { token: oldToken } = await delegationLink(stack, booked.orderId, world.customerEmail);
  expect(await page(oldToken)).toBe(200);

  const client = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: await api.keyFor('partner', world.partnerId) });
  expect(await client.resendDelegationLink(booked.orderId, { requestId: 'relink-1' })).toEqual({
    orderId: booked.orderId,
    sent: true,
    repeated: false,
  });
  expect(await page(oldToken)).toBe(410);
  const mails = await waitForMail(mailOf(booked.orderId, 'delegation-request'), 2);
  expect(mails).toHaveLength(2);
  expect(mails[1].to).toEqual([world.customerEmail]);
  const newToken = linkToken(stack, mails[1], 'delegations');
  expect(newToken).not.toBe(oldToken);
  expect(await page(newToken)).toBe(200);
  expect(mails[1].text).toMatch(/can be used once, until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);

  // The same request again: nothing new is sent and the link it sent still works.
  expect(await client.resendDelegationLink(booked.orderId, { requestId: 'relink-1' })).toMatchObject({ repeated: true });
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(await waitForMail(mailOf(booked.orderId, 'delegation-request'), 2)).toHaveLength(2);
  expect(await page(newToken)).toBe(200);

  // The CLI, as the README shows it: a third link, and the second dies.
  const run = await cli(['orders', 'resend-link', booked.orderId, '--request-id', 'relink-2', '--json'], await api.keyFor('operator'));
  expect(run).toMatchObject({ code: 0 });
  expect(JSON.parse(run.stdout)).toEqual({ orderId: booked.orderId, sent: true, repeated: false });
  const third = await waitForMail(mailOf(booked.orderId, 'delegation-request'), 3);
  expect(await page(newToken)).toBe(410);
  expect(await page(linkToken(stack, third[2], 'delegations'))).toBe(200);
}, 60_000);

test('refused for an order that waits for no choice (409), for another partner (403), and with no request id (400)', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await book(stack.client, stack.taskQueue, {
    externalReference: `NOLINK-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'holding_account', accountId: world.holdingAccountId },
    lines: [PERPETUAL_LINE],
  });
  await waitForStatus(stack.client, booked.workflowId, (s) => s.phase !== 'Booked');
  const key = await api.keyFor('partner', world.partnerId);
  const path = `/v1/orders/${booked.orderId}/delegation-link`;
  const refused = await api.call('POST', path, { key, body: { requestId: 'r-1' } });
  expect(refused.status).toBe(409);
  expect(refused.body).toMatchObject({ error: 'InvalidState', message: expect.stringMatching(/not waiting for its customer's choice/) });
  const outsider = await createTestWorld(stack.db, uniqueSuffix());
  expect((await api.call('POST', path, { key: await api.keyFor('partner', outsider.partnerId), body: { requestId: 'r-1' } })).status).toBe(
    403,
  );
  const invalid = await api.call('POST', path, { key, body: {} });
  expect(invalid.status).toBe(400);
  expect(invalid.body.errors).toEqual([{ field: 'requestId', reason: 'is required' }]);
});

test('a resent activation link works, the earlier one is refused at once, the same request sends one link, and activation follows', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `reactivate-${world.suffix}.test`;
  const contact = { email: `it@${domain}`, fullName: 'Rhea Relink', registeredId: `rhea-${world.suffix}` };
  await registerContact(stack.db, contact);
  const client = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: await api.keyFor('partner', world.partnerId) });
  const { accountId } = await client.requestSmartAccount({ domain, contact: { email: contact.email, registeredId: contact.registeredId } });
  const [first] = await waitForMail(isFirstRequest(contact.email));
  const oldToken = activationToken(stack, first);
  expect(await activationPage(oldToken)).toBe(200);

  expect(await client.resendActivationLink(accountId, { requestId: 'reactivate-1' })).toEqual({ accountId, sent: true, repeated: false });
  expect(await activationPage(oldToken)).toBe(410);
  // Reminders may come in between: the resent link is a request, not a reminder.
  const sent = await waitForMail(isFirstRequest(contact.email), 2);
  expect(sent).toHaveLength(2);
  const newToken = activationToken(stack, sent[1]);
  expect(newToken).not.toBe(oldToken);
  expect(await activationPage(newToken)).toBe(200);
  expect(sent[1].text).toMatch(/can be used once, until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);

  // The same request again: nothing new is sent and the link it sent still works.
  expect(await client.resendActivationLink(accountId, { requestId: 'reactivate-1' })).toEqual({ accountId, sent: true, repeated: true });
  expect(await waitForMail(isFirstRequest(contact.email), 3, 1_000)).toHaveLength(2);
  expect(await activationPage(newToken)).toBe(200);

  // The CLI with an operator key: a third link, and the second dies.
  const run = await cli(
    ['accounts', 'resend-activation-link', accountId, '--request-id', 'reactivate-2', '--json'],
    await api.keyFor('operator'),
  );
  expect(run).toMatchObject({ code: 0 });
  expect(JSON.parse(run.stdout)).toEqual({ accountId, sent: true, repeated: false });
  const third = await waitForMail(isFirstRequest(contact.email), 3);
  expect(await activationPage(newToken)).toBe(410);
  const thirdToken = activationToken(stack, third[2]);
  expect(await activationPage(thirdToken)).toBe(200);

  // The newest link activates the account, and its activation workflow ends.
  await activateSmartAccount({ db: stack.db, client: stack.client, taskQueue: stack.taskQueue }, thirdToken);
  expect(await stack.db('accounts').where({ id: accountId }).first('status')).toEqual({ status: 'active' });
  await stack.client.workflow.getHandle(activationWorkflowId(accountId)).result();

  // An active account has no link to replace: 409, and nothing is sent.
  const refused = await api.call('POST', `/v1/accounts/${accountId}/activation-link`, {
    key: await api.keyFor('partner', world.partnerId),
    body: { requestId: 'reactivate-3' },
  });
  expect(refused.status).toBe(409);
  expect(refused.body).toMatchObject({ error: 'InvalidState', message: expect.stringMatching(/already active/) });
  expect(await waitForMail(isFirstRequest(contact.email), 4, 500)).toHaveLength(3);
}, 90_000);

test('an activation link is refused to another partner (403), for an unknown account (404), and with no request id (400)', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const domain = `noreactivate-${world.suffix}.test`;
  const contact = { email: `it@${domain}`, registeredId: `nora-${world.suffix}` };
  await registerContact(stack.db, contact);
  const key = await api.keyFor('partner', world.partnerId);
  const requested = await api.call('POST', '/v1/smart-account-requests', { key, body: { domain, contact } });
  expect(requested.status).toBe(202);
  const path = `/v1/accounts/${requested.body.accountId}/activation-link`;

  const outsider = await createTestWorld(stack.db, uniqueSuffix());
  const foreign = await api.call('POST', path, { key: await api.keyFor('partner', outsider.partnerId), body: { requestId: 'r-1' } });
  expect(foreign.status).toBe(403);
  expect(foreign.body).toMatchObject({ error: 'Forbidden', message: expect.stringMatching(/only the partner who requested/) });
  const unknown = await api.call('POST', `/v1/accounts/sa-nobody-${world.suffix}/activation-link`, { key, body: { requestId: 'r-1' } });
  expect(unknown.status).toBe(404);
  const invalid = await api.call('POST', path, { key, body: {} });
  expect(invalid.status).toBe(400);
  expect(invalid.body.errors).toEqual([{ field: 'requestId', reason: 'is required' }]);
  // None of these sent anything: only the request's own activation email.
  expect(await waitForMail(isFirstRequest(contact.email), 2, 500)).toHaveLength(1);
});
