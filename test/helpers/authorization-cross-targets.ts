/**
 * What the route × caller table cannot show: a caller allowed on a URL naming, inside it, what is
 * not theirs (another customer's grant, token, instance or user under A's URL; another virtual
 * account of A; another device's instance). Each must be refused and change nothing.
 */
import { newSessionKeyPair } from '../../src/device-client/protocol';
import type { Caller, Expected, MatrixRow } from '../../src/security/authorization-matrix';
import type { MatrixContext } from './authorization-context';
import type { MatrixRequest } from './authorization-requests';
import type { Cell } from './authorization-runner';

export interface CrossTarget {
  what: string;
  caller: Caller;
  expected: Expected;
  request: (ctx: MatrixContext, b: OtherTargets) => MatrixRequest;
}

/** Rows of customer B (and of A's Region-US) that A's callers name under their own URLs. */
export interface OtherTargets {
  bGrantId: string;
  bTokenId: string;
  bInstanceId: string;
  bUserId: string;
  bMemberEmail: string;
  regionTokenId: string;
  /** The key of B's distributor: a distributor, but not of A's partner. */
  bDistributorKey: string;
}

export async function otherTargets(ctx: MatrixContext): Promise<OtherTargets> {
  const { db } = ctx.stack;
  const b = ctx.otherWorld;
  const token = async (accountId: string, virtualAccountPath: string) =>
    (
      await ctx.api.call('POST', `/v1/accounts/${accountId}/registration-tokens`, {
        key: ctx.callers.operator.apiKey,
        body: { virtualAccountPath, expiresInDays: 1, maxUses: 1 },
      })
    ).body.tokenId as string;
  const seeded = await db('product_instances')
    .where({ id: `pi-finance-${ctx.world.suffix}` })
    .first();
  const bFinance = await db('virtual_accounts').where({ account_id: b.smartAccountId, path: 'Finance' }).first<{ id: string }>('id');
  const bInstanceId = `pi-b-${b.suffix}`;
  await db('product_instances').insert({
    ...seeded,
    id: bInstanceId,
    account_id: b.smartAccountId,
    virtual_account_id: bFinance.id,
    serial_number: bInstanceId,
  });
  const bGrant = await db('role_grants').where({ account_id: b.smartAccountId }).whereNotNull('user_id').first<{ id: string }>('id');
  return {
    bGrantId: String(bGrant.id),
    bTokenId: await token(b.smartAccountId, 'Finance'),
    bInstanceId,
    bUserId: ctx.callers.otherCustomerUser.user!.userId,
    bMemberEmail: b.holdingMemberEmail,
    regionTokenId: await token(ctx.world.smartAccountId, 'Region-US'),
    bDistributorKey: await ctx.api.keyFor('distributor', b.distributorId),
  };
}

const sa = (ctx: MatrixContext) => `/v1/accounts/${ctx.world.smartAccountId}`;

/** What a distributor may do for its resellers it may not do for another distributor's: B's distributor on A's order and holding account. */
const asOtherDistributor = (b: OtherTargets, request: Omit<MatrixRequest, 'credentials'>): MatrixRequest => ({
  ...request,
  credentials: { apiKey: b.bDistributorKey },
});

const OTHER_DISTRIBUTOR: CrossTarget[] = [
  ['reads', 'GET', '', undefined],
  ['ships', 'POST', '/shipments', { lineNumber: 1, shippedOn: '2026-11-20' }],
  ['cancels', 'POST', '/cancellation', { reason: 'not its reseller' }],
  ['resends the delegation link of', 'POST', '/delegation-link', { requestId: 'not-its-reseller' }],
].map(([verb, method, tail, json]) => ({
  what: `B's distributor ${String(verb)} A's order`,
  caller: 'partnerWithoutRole',
  expected: '403',
  request: (ctx: MatrixContext, b: OtherTargets) => {
    const order = tail === '/delegation-link' ? ctx.delegatedOrder : ctx.heldOrder;
    return asOtherDistributor(b, { method: String(method), path: `/v1/orders/${order.orderId}${String(tail)}`, json });
  },
}));

export const CROSS_TARGETS: CrossTarget[] = [
  ...OTHER_DISTRIBUTOR,
  {
    what: "B's distributor lists the members of A's partner's holding account",
    caller: 'partnerWithoutRole',
    expected: '403',
    request: (ctx, b) => asOtherDistributor(b, { method: 'GET', path: `/v1/holding-accounts/${ctx.world.holdingAccountId}/members` }),
  },
  {
    what: "A's SA admin revokes B's grant under A's URL",
    caller: 'saAdmin',
    expected: '404',
    request: (ctx, b) => ({ method: 'DELETE', path: `${sa(ctx)}/role-grants/${b.bGrantId}` }),
  },
  {
    what: "A's SA admin revokes B's grant on A's people page",
    caller: 'saAdmin',
    expected: '404',
    request: (ctx, b) => ({
      method: 'POST',
      path: `/accounts/${ctx.world.smartAccountId}/people/grants/${b.bGrantId}/revoke`,
      form: { csrf: ctx.csrf },
    }),
  },
  {
    what: "A's SA admin revokes B's registration token under A's URL",
    caller: 'saAdmin',
    expected: '404',
    request: (ctx, b) => ({ method: 'DELETE', path: `${sa(ctx)}/registration-tokens/${b.bTokenId}` }),
  },
  {
    what: "A's SA admin moves B's product instance under A's URL",
    caller: 'saAdmin',
    expected: '404',
    request: (ctx, b) => ({
      method: 'POST',
      path: `${sa(ctx)}/product-instances/${b.bInstanceId}/move`,
      json: { toVirtualAccountPath: 'Finance' },
    }),
  },
  {
    what: "A's SA admin removes B's product instance under A's URL",
    caller: 'saAdmin',
    expected: '404',
    request: (ctx, b) => ({ method: 'DELETE', path: `${sa(ctx)}/product-instances/${b.bInstanceId}` }),
  },
  {
    what: "A's SA admin removes B's product instance on A's VA page",
    caller: 'saAdmin',
    expected: '404',
    request: (ctx, b) => ({
      method: 'POST',
      path: `/accounts/${ctx.world.smartAccountId}/instances/${b.bInstanceId}/remove`,
      form: { csrf: ctx.csrf, returnPath: 'Finance' },
    }),
  },
  {
    what: "A's SA admin subscribes B's user to A's alerts",
    caller: 'saAdmin',
    expected: '422',
    request: (ctx, b) => ({ method: 'PUT', path: `${sa(ctx)}/alert-subscriptions/${b.bUserId}` }),
  },
  {
    what: "A's partner removes a member of B's holding account under its own holding account's URL",
    caller: 'partner',
    expected: '404',
    request: (ctx, b) => ({
      method: 'DELETE',
      path: `/v1/holding-accounts/${ctx.world.holdingAccountId}/members/${encodeURIComponent(b.bMemberEmail)}`,
    }),
  },
  {
    what: "A's Finance VA admin revokes a Region-US token (not its to see: as if there were none)",
    caller: 'vaAdmin',
    expected: '404',
    request: (ctx, b) => ({ method: 'DELETE', path: `${sa(ctx)}/registration-tokens/${b.regionTokenId}` }),
  },
  {
    what: "A's Finance VA viewer narrows the licenses view to Region-US",
    caller: 'vaViewer',
    expected: '404',
    request: (ctx) => ({ method: 'GET', path: `${sa(ctx)}/licenses?virtualAccountPath=Region-US` }),
  },
  {
    what: "A's Finance VA viewer opens the Region-US page",
    caller: 'vaViewer',
    expected: '404',
    request: (ctx) => ({ method: 'GET', path: `/accounts/${ctx.world.smartAccountId}/va?path=Region-US` }),
  },
  {
    what: "A's Finance VA viewer exports Region-US's events",
    caller: 'vaViewer',
    expected: '404',
    request: (ctx) => ({ method: 'GET', path: `${sa(ctx)}/events.csv?virtualAccountPath=Region-US` }),
  },
  {
    what: "A's Finance VA admin creates a virtual account outside Finance",
    caller: 'vaAdmin',
    expected: '403',
    request: (ctx) => ({ method: 'POST', path: `${sa(ctx)}/virtual-accounts`, json: { path: 'Intruder' } }),
  },
  {
    what: "A's Finance VA user makes a Region-US registration token",
    caller: 'vaUser',
    expected: '403',
    request: (ctx) => ({
      method: 'POST',
      path: `${sa(ctx)}/registration-tokens`,
      json: { virtualAccountPath: 'Region-US', expiresInDays: 1, maxUses: 1 },
    }),
  },
  {
    what: "A's Finance VA admin grants sa_admin on the people page",
    caller: 'vaAdmin',
    expected: '403',
    request: (ctx) => ({
      method: 'POST',
      path: `/accounts/${ctx.world.smartAccountId}/people/grants`,
      form: { csrf: ctx.csrf, granteeKind: 'user', grantee: ctx.newcomer.registeredId, role: 'sa_admin' },
    }),
  },
  {
    what: "A's device reports as B's instance with its own credential",
    caller: 'device',
    expected: '403',
    request: (ctx, b) => ({
      method: 'POST',
      path: `/v1/devices/${b.bInstanceId}/usage-reports`,
      json: { reportId: ctx.unique('x'), usage: {} },
    }),
  },
  {
    what: "A's device opens a session as B's instance with its own credential",
    caller: 'device',
    expected: '403',
    request: (_ctx, b) => ({
      method: 'POST',
      path: `/v1/devices/${b.bInstanceId}/sessions`,
      json: { publicKey: newSessionKeyPair().publicKey },
    }),
  },
];

/** Cross-target probes as cells the runner sends (their "route" is the probe's description). */
export function crossCells(ctx: MatrixContext, b: OtherTargets): Cell[] {
  return CROSS_TARGETS.map((target) => {
    const row = { route: target.what, note: '', expected: {} } as unknown as MatrixRow;
    return { row, caller: target.caller, expected: target.expected, request: target.request(ctx, b) };
  });
}
