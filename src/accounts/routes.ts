import type { FastifyInstance } from 'fastify';
import {
  addHoldingAccountMember,
  assertAccountKind,
  createVirtualAccount,
  listHoldingAccountMembers,
  listVirtualAccounts,
  loadAccount,
  removeHoldingAccountMember,
  requestSmartAccount,
  searchSmartAccounts,
} from './account-admin';
import type { AccountRow } from './placement-rules';
import { grantRole, listRoleGrants, mayManageGrant, revokeRole } from './role-grants';
import type { Db } from '../db/knex';
import { actingPartner } from '../api/access';
import {
  AccountIdParams,
  AddMemberBody,
  CreatedVirtualAccount,
  CreateVirtualAccountBody,
  GrantParams,
  GrantRoleBody,
  HoldingAccountMember,
  HoldingAccountMemberList,
  MemberParams,
  RoleGrant,
  RoleGrantList,
  SearchSmartAccountsQuery,
  SmartAccountRequestBody,
  SmartAccountRequestResponse,
  SmartAccountSearchResponse,
  VirtualAccountList,
  type AccountIdParamsType,
  type AddMemberBodyType,
  type CreateVirtualAccountBodyType,
  type GrantParamsType,
  type GrantRoleBodyType,
  type MemberParamsType,
  type SearchSmartAccountsQueryType,
  type SmartAccountRequestBodyType,
} from './schemas';
import type { Principal } from '../api/auth';
import { granteeOf } from '../api/grantee';
import { rolesOn, seesAccount, type HeldRole, type RoleName } from './roles';
import { forbidden, notFound } from '../api/errors';
import { errorResponses } from '../api/schemas';
import type { ApiDependencies } from '../api/dependencies';
import type { DistributorResellerRow } from '../db/rows';

const security = [{ apiKey: [] }];
const tags = ['accounts'];

/**
 * Who may see and change what in an account (R10, R11). An operator acts for the customer and the
 * platform, so may do everything. Inside a customer Smart Account a partner acts only through a
 * role the customer granted; a Partner Holding Account belongs to its partner, and in two-tier to
 * that partner's distributor too.
 */

async function accountOr404(db: Db, accountId: string): Promise<AccountRow> {
  const account = await loadAccount(db, accountId);
  if (!account) throw notFound(`account ${accountId}`);
  return account;
}

/** The holding account's owner, or a distributor the owner resells for (R10). */
async function ownsOrDistributes(db: Db, partnerId: string, account: AccountRow): Promise<boolean> {
  if (!account.owner_partner_id) return false;
  if (account.owner_partner_id === partnerId) return true;
  return Boolean(
    await db<DistributorResellerRow>('distributor_resellers')
      .where({ distributor_id: partnerId, reseller_id: account.owner_partner_id })
      .first('reseller_id'),
  );
}

/** The caller's live roles on a Smart Account (a partner's or a user's; an operator holds every right). */
async function callerRoles(db: Db, principal: Principal, accountId: string): Promise<HeldRole[]> {
  return rolesOn(db, granteeOf(principal), accountId);
}

function callerName(principal: Exclude<Principal, { role: 'operator' }>): string {
  return principal.role === 'user' ? `user ${principal.userId}` : `partner "${principal.partnerId}"`;
}

/** A holding account is its partner's: a user key never owns or distributes one. */
async function holdingAccountIsCallers(db: Db, principal: Exclude<Principal, { role: 'operator' }>, account: AccountRow): Promise<boolean> {
  return principal.role !== 'user' && ownsOrDistributes(db, principal.partnerId, account);
}

async function authorizeVirtualAccountRead(db: Db, principal: Principal, account: AccountRow): Promise<void> {
  if (principal.role === 'operator') return;
  const allowed =
    account.kind === 'holding_account'
      ? await holdingAccountIsCallers(db, principal, account)
      : seesAccount(await callerRoles(db, principal, account.id));
  if (!allowed) {
    throw forbidden(
      account.kind === 'holding_account'
        ? `holding account ${account.id} belongs to another partner`
        : `${callerName(principal)} has no role on Smart Account ${account.id}; the customer must grant it one`,
    );
  }
}

/** Creating inside a Smart Account needs sa_admin, or va_admin on a virtual account the new path lies under. */
async function authorizeVirtualAccountCreate(db: Db, principal: Principal, account: AccountRow, path: string): Promise<void> {
  if (principal.role === 'operator') return;
  if (account.kind === 'holding_account') {
    if (!(await holdingAccountIsCallers(db, principal, account)))
      throw forbidden(`holding account ${account.id} belongs to another partner`);
    return;
  }
  const roles = await callerRoles(db, principal, account.id);
  const allowed = roles.some((r) => r.role === 'sa_admin' || (r.role === 'va_admin' && r.path !== null && path.startsWith(`${r.path}/`)));
  if (!allowed) {
    throw forbidden(
      `${callerName(principal)} may not create virtual accounts in Smart Account ${account.id}: ` +
        'that needs the sa_admin role, or va_admin on a parent of the new path',
    );
  }
}

/** R9/R10: the members of a holding account are its partner's (and its distributor's) business. */
async function authorizeHoldingAccount(db: Db, principal: Principal, account: AccountRow): Promise<void> {
  assertAccountKind(account, 'holding_account');
  if (principal.role === 'operator') return;
  if (!(await holdingAccountIsCallers(db, principal, account))) throw forbidden(`holding account ${account.id} belongs to another partner`);
}

/** Who did it, as the event log and role_grants.granted_by name a caller. */
export function actorOf(principal: Principal): string {
  if (principal.role === 'operator') return 'operator';
  return principal.role === 'user' ? `user:${principal.userId}` : `partner:${principal.partnerId}`;
}

/**
 * R24: the customer's admins grant and revoke roles themselves. The caller's own roles decide:
 * `manage` on the scope of the role (sa_admin for sa_* roles, va_admin at or above the VA for
 * va_* roles); an operator records grants for the customer.
 */
function grantAuthorizer(db: Db, principal: Principal, accountId: string, verb: 'grant' | 'revoke') {
  return async (role: RoleName, path: string | null): Promise<void> => {
    if (principal.role === 'operator') return;
    if (mayManageGrant(await callerRoles(db, principal, accountId), role, path)) return;
    throw forbidden(
      `${callerName(principal)} may not ${verb} ${role}${path ? ` on ${path}` : ''} in Smart Account ${accountId}: ` +
        (path ? 'that needs sa_admin, or va_admin on that virtual account or a parent of it' : 'that needs the sa_admin role'),
    );
  };
}

/** Accounts: Smart Account search and requests, virtual accounts, holding-account members, role grants; one function per route. */
export function registerAccountRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerSearchSmartAccountsRoute(app, deps);
  registerRequestSmartAccountRoute(app, deps);
  registerListVirtualAccountsRoute(app, deps);
  registerCreateVirtualAccountRoute(app, deps);
  registerListHoldingAccountMembersRoute(app, deps);
  registerAddHoldingAccountMemberRoute(app, deps);
  registerRemoveHoldingAccountMemberRoute(app, deps);
  registerListRoleGrantsRoute(app, deps);
  registerGrantRoleRoute(app, deps);
  registerRevokeRoleRoute(app, deps);
}

function registerSearchSmartAccountsRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.get<{ Querystring: SearchSmartAccountsQueryType }>(
    '/smart-accounts',
    {
      schema: {
        tags,
        operationId: 'searchSmartAccounts',
        summary: 'Find the Smart Accounts of a domain (R2): check before requesting a new one',
        description:
          'Any key may search. Virtual accounts are listed only for an operator, or for a partner holding a role on that account.',
        security,
        querystring: SearchSmartAccountsQuery,
        response: { 200: SmartAccountSearchResponse, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      return { smartAccounts: await searchSmartAccounts(db, request.query.domain, granteeOf(request.principal)) };
    },
  );
}

function registerRequestSmartAccountRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.post<{ Body: SmartAccountRequestBodyType }>(
    '/smart-account-requests',
    {
      schema: {
        tags,
        operationId: 'requestSmartAccount',
        summary: "Request a Smart Account on the end customer's behalf (R2); the contact is emailed an activation link",
        description:
          '202: the account is created pending activation and its contact receives an activation email (and reminders). ' +
          'Repeating the request for the same domain and contact answers 200 with alreadyRequested: true and writes and mails nothing new. ' +
          "422 SmartAccountRequestRefused when the contact's email domain is not the requested domain or the contact has no registered user ID. " +
          'A partner key requests for its own partner; an operator key must give requestedByPartnerId.',
        security,
        body: SmartAccountRequestBody,
        response: { 200: SmartAccountRequestResponse, 202: SmartAccountRequestResponse, ...errorResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const requestedByPartnerId = actingPartner(request.principal, request.body.requestedByPartnerId, 'requestedByPartnerId');
      const result = await requestSmartAccount(
        { db, client: deps.client, taskQueue: deps.config.temporal.taskQueue },
        { domain: request.body.domain, contact: request.body.contact, requestedByPartnerId },
      );
      request.log.info({ accountId: result.accountId, alreadyRequested: result.alreadyRequested }, 'Smart Account requested');
      return reply.status(result.alreadyRequested ? 200 : 202).send(result);
    },
  );
}

function registerListVirtualAccountsRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.get<{ Params: AccountIdParamsType }>(
    '/accounts/:accountId/virtual-accounts',
    {
      schema: {
        tags,
        operationId: 'listVirtualAccounts',
        summary: 'The virtual accounts of a Smart Account or holding account, parents first',
        description:
          'Operator; a partner or distributor with any live role on the Smart Account; the owner of a holding account or its distributor.',
        security,
        params: AccountIdParams,
        response: { 200: VirtualAccountList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const account = await accountOr404(db, request.params.accountId);
      await authorizeVirtualAccountRead(db, request.principal, account);
      return { virtualAccounts: await listVirtualAccounts(db, account.id) };
    },
  );
}

function registerCreateVirtualAccountRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.post<{ Params: AccountIdParamsType; Body: CreateVirtualAccountBodyType }>(
    '/accounts/:accountId/virtual-accounts',
    {
      schema: {
        tags,
        operationId: 'createVirtualAccount',
        summary: 'Create a virtual account (and any missing parents)',
        description:
          '201 created; 200 with created: false when it existed. Operator; a partner with sa_admin, or va_admin on a parent of the path; ' +
          'the owner of a holding account or its distributor. 422 for a closed account.',
        security,
        params: AccountIdParams,
        body: CreateVirtualAccountBody,
        response: { 200: CreatedVirtualAccount, 201: CreatedVirtualAccount, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(db, request.params.accountId);
      await authorizeVirtualAccountCreate(db, request.principal, account, request.body.path);
      const result = await createVirtualAccount(db, account.id, request.body.path);
      return reply.status(result.created ? 201 : 200).send(result);
    },
  );
}

function registerListHoldingAccountMembersRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.get<{ Params: AccountIdParamsType }>(
    '/holding-accounts/:accountId/members',
    {
      schema: {
        tags,
        operationId: 'listHoldingAccountMembers',
        summary: "The members signed up for a holding account's notifications (R9)",
        description: 'Operator; the owning partner; its distributor. 422 when the account is not a holding account.',
        security,
        params: AccountIdParams,
        response: { 200: HoldingAccountMemberList, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const account = await accountOr404(db, request.params.accountId);
      await authorizeHoldingAccount(db, request.principal, account);
      return { members: await listHoldingAccountMembers(db, account.id) };
    },
  );
}

function registerAddHoldingAccountMemberRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.post<{ Params: AccountIdParamsType; Body: AddMemberBodyType }>(
    '/holding-accounts/:accountId/members',
    {
      schema: {
        tags,
        operationId: 'addHoldingAccountMember',
        summary: "Sign a member up: they are told when the holding account's orders are fulfilled (R9)",
        description: '201 added; 200 when already a member (nothing written). Operator; the owning partner; its distributor.',
        security,
        params: AccountIdParams,
        body: AddMemberBody,
        response: { 200: HoldingAccountMember, 201: HoldingAccountMember, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(db, request.params.accountId);
      await authorizeHoldingAccount(db, request.principal, account);
      const { member, added } = await addHoldingAccountMember(db, account.id, request.body);
      return reply.status(added ? 201 : 200).send(member);
    },
  );
}

function registerRemoveHoldingAccountMemberRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.delete<{ Params: MemberParamsType }>(
    '/holding-accounts/:accountId/members/:email',
    {
      schema: {
        tags,
        operationId: 'removeHoldingAccountMember',
        summary: "Remove a member's sign-up; the user stays known",
        description: '204 removed; 404 when the email is not a member. Operator; the owning partner; its distributor.',
        security,
        params: MemberParams,
        response: { 204: { type: 'null', description: 'removed' }, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(db, request.params.accountId);
      await authorizeHoldingAccount(db, request.principal, account);
      if (!(await removeHoldingAccountMember(db, account.id, request.params.email))) {
        throw notFound(`member ${request.params.email} of holding account ${account.id}`);
      }
      return reply.status(204).send();
    },
  );
}

function registerListRoleGrantsRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.get<{ Params: AccountIdParamsType }>(
    '/accounts/:accountId/role-grants',
    {
      schema: {
        tags,
        operationId: 'listRoleGrants',
        summary: 'The live roles partners and users hold on a Smart Account (R11, R24)',
        description:
          'An operator sees every grant; a partner or user those on the scopes its roles let it see (an SA-level role: all) and its own. ' +
          '422 for a holding account.',
        security,
        params: AccountIdParams,
        response: { 200: RoleGrantList, ...errorResponses(400, 401, 404, 422) },
      },
    },
    async (request) => {
      const account = await accountOr404(db, request.params.accountId);
      return { roleGrants: await listRoleGrants(db, account.id, granteeOf(request.principal)) };
    },
  );
}

function registerGrantRoleRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.post<{ Params: AccountIdParamsType; Body: GrantRoleBodyType }>(
    '/accounts/:accountId/role-grants',
    {
      schema: {
        tags,
        operationId: 'grantRole',
        summary: 'Grant a partner or a user (by registered user ID) a role on the Smart Account (R11, R24)',
        description:
          "The caller's own roles decide: sa_admin grants any role; va_admin grants va_* roles on its virtual account and below; " +
          'an operator records grants for the customer; anyone else 403. sa_admin and sa_user cover the whole account and take no ' +
          'virtualAccountPath; va_admin, va_user and va_viewer need one. 201 granted; 200 with the existing grant when the same live ' +
          'grant exists. 422 for an unknown partner, user or virtual account, a holding account or a closed account.',
        security,
        params: AccountIdParams,
        body: GrantRoleBody,
        response: { 200: RoleGrant, 201: RoleGrant, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(db, request.params.accountId);
      const authorize = grantAuthorizer(db, request.principal, account.id, 'grant');
      const { grant, created } = await grantRole(db, account.id, request.body, actorOf(request.principal), authorize);
      return reply
        .status(created ? 201 : 200)
        .header('location', `/v1/accounts/${encodeURIComponent(account.id)}/role-grants/${grant.grantId}`)
        .send(grant);
    },
  );
}

function registerRevokeRoleRoute(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.delete<{ Params: GrantParamsType }>(
    '/accounts/:accountId/role-grants/:grantId',
    {
      schema: {
        tags,
        operationId: 'revokeRole',
        summary: 'Revoke a role grant (R11, R24)',
        description:
          'Who may grant the role may revoke it (see grantRole). 204 revoked, also when it was revoked already; ' +
          '404 when the account has no such grant.',
        security,
        params: GrantParams,
        response: { 204: { type: 'null', description: 'revoked' }, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(db, request.params.accountId);
      const authorize = grantAuthorizer(db, request.principal, account.id, 'revoke');
      if ((await revokeRole(db, account.id, request.params.grantId, authorize)) === 'unknown') {
        throw notFound(`role grant ${request.params.grantId} of account ${account.id}`);
      }
      return reply.status(204).send();
    },
  );
}
