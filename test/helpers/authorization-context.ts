/**
 * The world the authorization matrix runs in: one customer (world A, its license use seeded) with
 * users of every role, its partner, distributor and a partner without a role, a registered
 * device, and a second customer (world B) whose admin is "another customer's user". Keys are
 * minted by the product's own functions, devices register through the device client with a token
 * made through the API, sessions are opened by the function sign-in uses.
 */
import { randomBytes } from 'node:crypto';
import { createUserApiKey } from '../../src/api/auth';
import type { DeviceClient } from '../../src/device-client';
import type { Caller } from '../../src/security/authorization-matrix';
import { SESSION_COOKIE, openSession } from '../../src/web/session';
import { APP_CSRF_COOKIE } from '../../src/web/page-scope';
import { CSRF_COOKIE } from '../../src/web/csrf';
import type { TestApi } from './api';
import { createToken, newDevice, provisionLicenses, smartLine } from './devices';
import { createTestWorld, registerContact, type TestWorld } from './fixtures';
import { grantTo, seedLicenseUse, userKey, verifiedUser, type ViewUser } from './license-view-fixtures';
import { apiBody, heldBooking, waitForStatus } from './orders';
import { uniqueSuffix, type TestStack } from './stack';

/** What a caller holds: an API key, a signed-in browser, a device's credential; the anonymous caller nothing. */
export interface Credentials {
  apiKey?: string;
  user?: ViewUser;
  session?: string;
  device?: DeviceClient;
  instanceId?: string;
}

export interface MatrixContext {
  stack: TestStack;
  api: TestApi;
  world: TestWorld;
  otherWorld: TestWorld;
  callers: Record<Caller, Credentials>;
  /** The CSRF value every caller's browser holds (double submit: cookie and form field). */
  csrf: string;
  /** A held order of world A's partner, waiting for its Smart Account; refused calls aim at it. */
  heldOrder: { orderId: string; workflowId: string };
  /** An order of world A waiting for its customer's choice (the delegation link can be resent). */
  delegatedOrder: { orderId: string; workflowId: string };
  batchId: string;
  /** A copy of the held order's first email, refused for good by the SMTP server: what the email routes aim at. */
  failedEmailId: string;
  /** A Smart Account world A's partner requested for a registered contact: pending, its activation link can be resent. */
  requestedAccountId: string;
  /** A key of world A's SA user that only it may revoke: what refused revocations aim at. */
  saUserKeyId: string;
  /** A verified user of world A's domain with no role: the grantee of the grant rows. */
  newcomer: ViewUser;
  /** A string unique in this run. */
  unique(prefix: string): string;
  /** A new held order of world A, waiting for its Smart Account: for a call that uses its order up. */
  freshHeldOrder(): Promise<string>;
}

const SESSION_TTL_MS = 60 * 60_000;

async function userCaller(stack: TestStack, world: TestWorld, name: string): Promise<Credentials> {
  const user = await verifiedUser(stack.db, world, name);
  const session = (await openSession(stack.db, user.userId, SESSION_TTL_MS)).value;
  return { user, apiKey: await userKey(stack.db, user), session };
}

async function bookHeld(ctx: Pick<MatrixContext, 'api' | 'world' | 'stack' | 'callers'>, reference: string, delegate = false) {
  const body = apiBody(heldBooking(ctx.world, { externalReference: reference }));
  const res = await ctx.api.call('POST', '/v1/orders', {
    key: ctx.callers.partner.apiKey,
    body: delegate ? { ...body, assignment: { kind: 'delegate' }, endCustomerContact: { email: ctx.world.customerEmail } } : body,
  });
  if (res.status !== 201) throw new Error(`booking ${reference}: ${res.status} ${JSON.stringify(res.body)}`);
  const waitingFor = delegate ? 'CustomerChoice' : 'PartnerTransfer';
  await waitForStatus(ctx.stack.client, res.body.workflowId, (s) => s.phase === 'AwaitingSmartAccount' && s.waitingFor === waitingFor);
  return { orderId: res.body.orderId as string, workflowId: res.body.workflowId as string };
}

async function insertTransferBatch(stack: TestStack, world: TestWorld): Promise<string> {
  const batchId = `tb_${randomBytes(16).toString('hex')}`;
  await stack.db('order_transfer_batches').insert({
    id: batchId,
    partner_id: world.partnerId,
    request_key: `matrix-${world.suffix}`,
    fingerprint: 'matrix',
    account_id: world.smartAccountId,
    workflow_id: `order-transfer-${batchId}`,
    total: 0,
  });
  return batchId;
}

/** The held order's first email again, as one the SMTP server refused for good (550). */
async function insertFailedEmail(stack: TestStack, orderId: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  let email: Record<string, unknown> | undefined;
  while (!(email = await stack.db('email_outbox').where({ order_id: orderId }).orderBy('id').first()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!email) throw new Error(`no email of order ${orderId} to copy as a failed one`);
  const [failed] = await stack
    .db('email_outbox')
    .insert({
      order_id: orderId,
      template: email.template,
      to_address: email.to_address,
      subject: email.subject,
      text_body: email.text_body,
      html_body: email.html_body,
      idempotency_key: `${String(email.idempotency_key)}:matrix-failed`,
      message_id: `<matrix-failed-${orderId}@matrix.test>`,
      status: 'failed',
      last_error: '550 5.1.1 mailbox unavailable (authorization matrix)',
    })
    .returning<Array<{ id: string }>>('id');
  return String(failed.id);
}

async function requestAccount(stack: TestStack, api: TestApi, world: TestWorld, partnerKey: string): Promise<string> {
  const domain = `requested-${world.suffix}.test`;
  const contact = { email: `admin@${domain}`, registeredId: `requested-${world.suffix}` };
  await registerContact(stack.db, contact);
  const res = await api.call('POST', '/v1/smart-account-requests', { key: partnerKey, body: { domain, contact } });
  if (res.status !== 202) throw new Error(`Smart Account request: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.accountId;
}

export async function createMatrixContext(stack: TestStack, api: TestApi): Promise<MatrixContext> {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const otherWorld = await createTestWorld(stack.db, uniqueSuffix());
  await seedLicenseUse(stack.db, world);
  const operator = await api.keyFor('operator');
  const callers: Record<Caller, Credentials> = {
    anonymous: {},
    operator: { apiKey: operator },
    partner: { apiKey: await api.keyFor('partner', world.partnerId) },
    distributor: { apiKey: await api.keyFor('distributor', world.distributorId) },
    saAdmin: await userCaller(stack, world, 'sam'),
    saUser: await userCaller(stack, world, 'sue'),
    vaAdmin: await userCaller(stack, world, 'val'),
    vaUser: await userCaller(stack, world, 'vic'),
    vaViewer: await userCaller(stack, world, 'viv'),
    device: {},
    partnerWithoutRole: { apiKey: await api.keyFor('partner', world.otherPartnerId) },
    otherCustomerUser: await userCaller(stack, otherWorld, 'olga'),
  };
  await grantTo(stack.db, world.smartAccountId, callers.saAdmin.user!, 'sa_admin');
  await grantTo(stack.db, world.smartAccountId, callers.saUser.user!, 'sa_user');
  await grantTo(stack.db, world.smartAccountId, callers.vaAdmin.user!, 'va_admin', 'Finance');
  await grantTo(stack.db, world.smartAccountId, callers.vaUser.user!, 'va_user', 'Finance');
  await grantTo(stack.db, world.smartAccountId, callers.vaViewer.user!, 'va_viewer', 'Finance');
  await grantTo(stack.db, otherWorld.smartAccountId, callers.otherCustomerUser.user!, 'sa_admin');

  const device = newDevice(api, world, 'matrix');
  const { token } = await createToken(api, operator, world.smartAccountId, { virtualAccountPath: 'Finance' });
  const { instanceId } = await device.client.register(token, device.identity);
  callers.device = { device: device.client, instanceId };

  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine('C9300-DNA-E-3Y', 10)], `MATRIX-LIC-${world.suffix}`);
  await api.call('PUT', `/v1/accounts/${world.smartAccountId}/overage-agreement`, {
    key: operator,
    body: { allowance: 'unlimited', cadence: 'yearly', firstPeriodStartsOn: '2026-01-01', partnerOfRecord: world.partnerId },
  });
  // A settled true-up: approving it is refused for its state (409) once the caller's role has let it that far.
  await stack.db('true_ups').insert({
    account_id: world.smartAccountId,
    period: '2026-01-01',
    status: 'nothing_to_reconcile',
    report: JSON.stringify({ period: { startsOn: '2026-01-01', endsOn: '2026-12-31' }, lines: [], orders: [] }),
  });

  let counter = 0;
  const base = { stack, api, world, callers };
  const heldOrder = await bookHeld(base, `MATRIX-HELD-${world.suffix}`);
  return {
    ...base,
    otherWorld,
    csrf: randomBytes(32).toString('base64url'),
    heldOrder,
    failedEmailId: await insertFailedEmail(stack, heldOrder.orderId),
    delegatedOrder: await bookHeld(base, `MATRIX-DELEGATED-${world.suffix}`, true),
    batchId: await insertTransferBatch(stack, world),
    requestedAccountId: await requestAccount(stack, api, world, callers.partner.apiKey!),
    newcomer: await verifiedUser(stack.db, world, 'nel'),
    saUserKeyId: (await createUserApiKey(stack.db, callers.saUser.user!.userId, 'matrix: only its owner revokes it')).id,
    unique: (prefix) => `${prefix}-${world.suffix}-${++counter}`,
    freshHeldOrder: async () => (await bookHeld(base, `MATRIX-FRESH-${world.suffix}-${++counter}`)).orderId,
  };
}

/** The Cookie header of a caller's browser: its session (if signed in) and the CSRF cookies (pages, links) every browser gets. */
export function cookieHeaderOf(ctx: MatrixContext, credentials: Credentials): string {
  const session = credentials.session ? [`${SESSION_COOKIE}=${credentials.session}`] : [];
  return [...session, `${APP_CSRF_COOKIE}=${ctx.csrf}`, `${CSRF_COOKIE}=${ctx.csrf}`].join('; ');
}
