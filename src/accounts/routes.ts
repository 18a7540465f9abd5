import type { FastifyInstance } from 'fastify';
import {
  addHoldingAccountMember,
  createVirtualAccount,
  listHoldingAccountMembers,
  listVirtualAccounts,
  removeHoldingAccountMember,
  requestSmartAccount,
  searchSmartAccounts,
} from './account-admin';
import { accountOr404, authorizeHoldingAccount, authorizeVirtualAccountCreate, authorizeVirtualAccountRead } from './account-authorization';
import { registerRoleGrantRoutes } from './role-grant-routes';
import { registerActivationLinkRoute } from './activation-link-route';
import { actingPartner } from '../api/access';
import {
  AccountIdParams,
  AddMemberBody,
  CreatedVirtualAccount,
  CreateVirtualAccountBody,
  HoldingAccountMember,
  HoldingAccountMemberList,
  MemberParams,
  SearchSmartAccountsQuery,
  SmartAccountRequestBody,
  SmartAccountRequestResponse,
  SmartAccountSearchResponse,
  VirtualAccountList,
  type AccountIdParamsType,
  type AddMemberBodyType,
  type CreateVirtualAccountBodyType,
  type MemberParamsType,
  type SearchSmartAccountsQueryType,
  type SmartAccountRequestBodyType,
} from './schemas';
import { granteeOf } from '../api/grantee';
import { notFound } from '../api/errors';
import { errorResponses } from '../api/schemas';
import type { ApiDependencies } from '../api/dependencies';

const security = [{ apiKey: [] }];
const tags = ['accounts'];

/** Accounts: Smart Account search and requests, virtual accounts, holding-account members, role grants; one function per route. */
export function registerAccountRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerSearchSmartAccountsRoute(app, deps);
  registerRequestSmartAccountRoute(app, deps);
  registerListVirtualAccountsRoute(app, deps);
  registerCreateVirtualAccountRoute(app, deps);
  registerListHoldingAccountMembersRoute(app, deps);
  registerAddHoldingAccountMemberRoute(app, deps);
  registerRemoveHoldingAccountMemberRoute(app, deps);
  registerRoleGrantRoutes(app, deps);
  registerActivationLinkRoute(app, deps);
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
      // Domains are case-insensitive: ACME.com is acme.com.
      return { smartAccounts: await searchSmartAccounts(db, request.query.domain.toLowerCase(), granteeOf(request.principal)) };
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
