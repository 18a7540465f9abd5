/**
 * How each /v1 route of the authorization matrix is called: aimed at world A (its order, its
 * Smart Account, its holding account), with a body that is valid, so what answers is the
 * authorization and nothing else. A call that uses its target up (a cancellation, a revocation)
 * gets a fresh target when the table lets the caller succeed; refused callers all aim at the
 * shared ones, which must come out unchanged.
 */
import { createUserApiKey } from '../../src/api/auth';
import type { Caller } from '../../src/security/authorization-matrix';
import type { Credentials, MatrixContext } from './authorization-context';
import { registerContact } from './fixtures';
import { grantTo, verifiedUser } from './license-view-fixtures';
import { apiBody, heldBooking } from './orders';

export interface MatrixRequest {
  method: string;
  path: string;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Replaces the caller's own credentials for this call (a sign-out gets a session of its own). */
  credentials?: Credentials;
}

/** `allowed`: the table lets this caller succeed here, so a call that uses its target up gets a fresh one. */
export type RequestFor = (ctx: MatrixContext, caller: Caller, allowed: boolean) => MatrixRequest | Promise<MatrixRequest>;

const sa = (ctx: MatrixContext) => `/v1/accounts/${ctx.world.smartAccountId}`;
const order = async (ctx: MatrixContext, allowed: boolean) => (allowed ? await ctx.freshHeldOrder() : ctx.heldOrder.orderId);

/** A grant of va_viewer on Finance to a new user of world A: what a revocation takes away. */
export async function freshGrantId(ctx: MatrixContext): Promise<string> {
  const user = await verifiedUser(ctx.stack.db, ctx.world, ctx.unique('gr'));
  await grantTo(ctx.stack.db, ctx.world.smartAccountId, user, 'va_viewer', 'Finance');
  const row = await ctx.stack.db('role_grants').where({ user_id: user.userId }).first<{ id: string }>('id');
  return String(row.id);
}

/** A key of world A's SA user, which only that user may revoke: a new one when the table lets the caller revoke it. */
export async function userKeyToRevoke(ctx: MatrixContext, allowed: boolean): Promise<string> {
  if (!allowed) return ctx.saUserKeyId;
  return (await createUserApiKey(ctx.stack.db, ctx.callers.saUser.user!.userId, ctx.unique('matrix key'))).id;
}

async function freshTokenId(ctx: MatrixContext): Promise<string> {
  const created = await ctx.api.call('POST', `${sa(ctx)}/registration-tokens`, {
    key: ctx.callers.operator.apiKey,
    body: { virtualAccountPath: 'Finance', expiresInDays: 1, maxUses: 1 },
  });
  return created.body.tokenId;
}

async function freshMember(ctx: MatrixContext): Promise<string> {
  const [user] = await ctx.stack
    .db('users')
    .insert({ email: `${ctx.unique('m')}@partner-${ctx.world.suffix}.test`, partner_id: ctx.world.partnerId })
    .returning<Array<{ id: string; email: string }>>(['id', 'email']);
  await ctx.stack.db('holding_account_subscriptions').insert({ account_id: ctx.world.holdingAccountId, user_id: user.id });
  return user.email;
}

/** Who books world A partner's order: the partner itself, its distributor for it, an operator naming it; everyone else tries to. */
function bookingFor(ctx: MatrixContext, caller: Caller): Record<string, unknown> {
  const body = apiBody(heldBooking(ctx.world, { externalReference: ctx.unique('MATRIX-BOOK') }));
  if (caller === 'operator') return { ...body, bookedByPartnerId: ctx.world.partnerId };
  return caller === 'partner' ? body : { ...body, partnerId: ctx.world.partnerId };
}

export const ORDER_REQUESTS: Record<string, RequestFor> = {
  'POST /v1/orders': (ctx, caller) => ({ method: 'POST', path: '/v1/orders', json: bookingFor(ctx, caller) }),
  'GET /v1/orders': (ctx) => ({ method: 'GET', path: `/v1/orders?holdingAccountId=${ctx.world.holdingAccountId}` }),
  'GET /v1/orders/:orderId': (ctx) => ({ method: 'GET', path: `/v1/orders/${ctx.heldOrder.orderId}` }),
  'POST /v1/orders/:orderId/assignment': async (ctx, _caller, allowed) => ({
    method: 'POST',
    path: `/v1/orders/${await order(ctx, allowed)}/assignment`,
    json: { accountId: ctx.world.smartAccountId },
  }),
  'POST /v1/orders/:orderId/shipments': (ctx) => ({
    method: 'POST',
    path: `/v1/orders/${ctx.heldOrder.orderId}/shipments`,
    json: { lineNumber: 1, shippedOn: '2026-11-20' },
  }),
  'POST /v1/orders/:orderId/cancellation': async (ctx, _caller, allowed) => ({
    method: 'POST',
    path: `/v1/orders/${await order(ctx, allowed)}/cancellation`,
    json: { reason: 'authorization matrix' },
  }),
  'POST /v1/orders/:orderId/delegation-link': (ctx) => ({
    method: 'POST',
    path: `/v1/orders/${ctx.delegatedOrder.orderId}/delegation-link`,
    json: { requestId: ctx.unique('resend') },
  }),
  'POST /v1/order-transfers': async (ctx, caller, allowed) => ({
    method: 'POST',
    path: '/v1/order-transfers',
    json: {
      requestKey: ctx.unique('transfer'),
      accountId: ctx.world.smartAccountId,
      orderIds: [await order(ctx, allowed)],
      ...(caller === 'operator' ? { actingPartnerId: ctx.world.partnerId } : {}),
    },
  }),
  'GET /v1/order-transfers/:batchId': (ctx) => ({ method: 'GET', path: `/v1/order-transfers/${ctx.batchId}` }),
  'GET /v1/emails': (ctx) => ({ method: 'GET', path: `/v1/emails?status=failed&orderId=${ctx.heldOrder.orderId}` }),
  // One resend per email: the first allowed caller sends it, the others are told it was (repeated).
  'POST /v1/emails/:emailId/resend': (ctx) => ({ method: 'POST', path: `/v1/emails/${ctx.failedEmailId}/resend`, json: {} }),
};

export const ACCOUNT_REQUESTS: Record<string, RequestFor> = {
  'GET /v1/smart-accounts': (ctx) => ({ method: 'GET', path: `/v1/smart-accounts?domain=${ctx.world.domain}` }),
  'POST /v1/smart-account-requests': async (ctx) => {
    const domain = `${ctx.unique('req')}.test`;
    const contact = { email: `admin@${domain}`, registeredId: ctx.unique('admin') };
    await registerContact(ctx.stack.db, contact);
    return { method: 'POST', path: '/v1/smart-account-requests', json: { domain, contact, requestedByPartnerId: ctx.world.partnerId } };
  },
  'GET /v1/accounts/:accountId/virtual-accounts': (ctx) => ({ method: 'GET', path: `${sa(ctx)}/virtual-accounts` }),
  'POST /v1/accounts/:accountId/virtual-accounts': (ctx) => ({
    method: 'POST',
    path: `${sa(ctx)}/virtual-accounts`,
    json: { path: `Finance/${ctx.unique('VA')}` },
  }),
  'GET /v1/accounts/:accountId/role-grants': (ctx) => ({ method: 'GET', path: `${sa(ctx)}/role-grants` }),
  'POST /v1/accounts/:accountId/role-grants': (ctx) => ({
    method: 'POST',
    path: `${sa(ctx)}/role-grants`,
    json: { userId: ctx.newcomer.registeredId, role: 'va_viewer', virtualAccountPath: 'Finance' },
  }),
  'DELETE /v1/accounts/:accountId/role-grants/:grantId': async (ctx) => ({
    method: 'DELETE',
    path: `${sa(ctx)}/role-grants/${await freshGrantId(ctx)}`,
  }),
  'GET /v1/accounts/:accountId/registration-tokens': (ctx) => ({ method: 'GET', path: `${sa(ctx)}/registration-tokens` }),
  'POST /v1/accounts/:accountId/registration-tokens': (ctx) => ({
    method: 'POST',
    path: `${sa(ctx)}/registration-tokens`,
    json: { virtualAccountPath: 'Finance', expiresInDays: 1, maxUses: 1 },
  }),
  'DELETE /v1/accounts/:accountId/registration-tokens/:tokenId': async (ctx) => ({
    method: 'DELETE',
    path: `${sa(ctx)}/registration-tokens/${await freshTokenId(ctx)}`,
  }),
  'POST /v1/accounts/:accountId/activation-link': (ctx) => ({
    method: 'POST',
    path: `/v1/accounts/${ctx.requestedAccountId}/activation-link`,
    json: { requestId: ctx.unique('activation') },
  }),
  'GET /v1/holding-accounts/:accountId/members': (ctx) => ({
    method: 'GET',
    path: `/v1/holding-accounts/${ctx.world.holdingAccountId}/members`,
  }),
  'POST /v1/holding-accounts/:accountId/members': (ctx) => ({
    method: 'POST',
    path: `/v1/holding-accounts/${ctx.world.holdingAccountId}/members`,
    json: { email: `${ctx.unique('member')}@partner-${ctx.world.suffix}.test` },
  }),
  'DELETE /v1/holding-accounts/:accountId/members/:email': async (ctx) => ({
    method: 'DELETE',
    path: `/v1/holding-accounts/${ctx.world.holdingAccountId}/members/${encodeURIComponent(await freshMember(ctx))}`,
  }),
};

export const ADMINISTRATION_REQUESTS: Record<string, RequestFor> = {
  'POST /v1/holding-accounts': (ctx) => ({
    method: 'POST',
    path: '/v1/holding-accounts',
    json: { accountId: `pha-${ctx.unique('m')}`, name: 'Matrix holding', ownerPartnerId: ctx.world.partnerId },
  }),
  'POST /v1/partners': (ctx) => {
    const partnerId = ctx.unique('p');
    return {
      method: 'POST',
      path: '/v1/partners',
      json: { partnerId, name: 'Matrix partner', kind: 'partner', notificationEmail: `orders@${partnerId}.test` },
    };
  },
  'POST /v1/partners/:partnerId/resellers': async (ctx) => {
    const resellerId = ctx.unique('r');
    await ctx.stack
      .db('partners')
      .insert({ id: resellerId, name: 'Reseller', kind: 'partner', notification_email: `o@${resellerId}.test` });
    return { method: 'POST', path: `/v1/partners/${ctx.world.distributorId}/resellers`, json: { resellerId } };
  },
  'POST /v1/users': (ctx) => ({
    method: 'POST',
    path: '/v1/users',
    json: { email: `${ctx.unique('u')}@${ctx.world.domain}`, fullName: 'Matrix User' },
  }),
  'GET /v1/me': () => ({ method: 'GET', path: '/v1/me' }),
  'POST /v1/me/api-keys': () => ({ method: 'POST', path: '/v1/me/api-keys', json: { label: 'matrix' } }),
  'DELETE /v1/me/api-keys/:keyId': async (ctx, _caller, allowed) => ({
    method: 'DELETE',
    path: `/v1/me/api-keys/${await userKeyToRevoke(ctx, allowed)}`,
  }),
};

/** Alert subscriptions name a user: always world A's SA user (it may subscribe itself; others need to manage A). */
const subscriber = (ctx: MatrixContext) => ctx.callers.saUser.user!.userId;

/** A product instance in Finance: a new one for a caller the table lets move it, else the seeded one. */
export async function instanceToMove(ctx: MatrixContext, allowed: boolean): Promise<string> {
  const seeded = `pi-finance-${ctx.world.suffix}`;
  if (!allowed) return seeded;
  const id = ctx.unique('pi');
  const row = await ctx.stack.db('product_instances').where({ id: seeded }).first();
  await ctx.stack.db('product_instances').insert({ ...row, id, serial_number: id, hostname: id });
  return id;
}

export const LICENSE_REQUESTS: Record<string, RequestFor> = {
  ...Object.fromEntries(
    ['licenses', 'instances', 'daily-use', 'tokens', 'alerts', 'events', 'events.csv', 'true-ups', 'overage-agreement'].map((view) => [
      `GET /v1/accounts/:accountId/${view}`,
      (ctx: MatrixContext) => ({ method: 'GET', path: `${sa(ctx)}/${view}` }),
    ]),
  ),
  'PUT /v1/accounts/:accountId/alert-subscriptions/:userId': (ctx) => ({
    method: 'PUT',
    path: `${sa(ctx)}/alert-subscriptions/${subscriber(ctx)}`,
  }),
  'DELETE /v1/accounts/:accountId/alert-subscriptions/:userId': (ctx) => ({
    method: 'DELETE',
    path: `${sa(ctx)}/alert-subscriptions/${subscriber(ctx)}`,
  }),
  'PUT /v1/accounts/:accountId/overage-agreement': (ctx) => ({
    method: 'PUT',
    path: `${sa(ctx)}/overage-agreement`,
    json: { allowance: 'unlimited', cadence: 'yearly', firstPeriodStartsOn: '2026-01-01', partnerOfRecord: ctx.world.partnerId },
  }),
  'POST /v1/accounts/:accountId/true-ups/:period/approve': (ctx) => ({ method: 'POST', path: `${sa(ctx)}/true-ups/2026-01-01/approve` }),
  'POST /v1/accounts/:accountId/license-moves': (ctx) => ({
    method: 'POST',
    path: `${sa(ctx)}/license-moves`,
    json: { fromVirtualAccountPath: 'Finance', toVirtualAccountPath: 'Region-US', sku: 'C9300-DNA-E-3Y', quantity: 1 },
  }),
  'POST /v1/accounts/:accountId/product-instances/:instanceId/move': async (ctx, _caller, allowed) => ({
    method: 'POST',
    path: `${sa(ctx)}/product-instances/${await instanceToMove(ctx, allowed)}/move`,
    json: { toVirtualAccountPath: 'Region-US' },
  }),
  // A refused caller aims at the seeded instance, which must come out unchanged.
  'DELETE /v1/accounts/:accountId/product-instances/:instanceId': async (ctx, _caller, allowed) => ({
    method: 'DELETE',
    path: `${sa(ctx)}/product-instances/${await instanceToMove(ctx, allowed)}`,
  }),
};
