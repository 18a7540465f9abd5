import type { FastifyInstance } from 'fastify';
import { requireOperator } from '../api/access';
import type { ApiDependencies } from '../api/dependencies';
import { errorResponses } from '../api/schemas';
import {
  HoldingAccount,
  HoldingAccountBody,
  Partner,
  PartnerBody,
  PartnerIdParams,
  ResellerBody,
  ResellerLink,
  User,
  UserBody,
  type HoldingAccountBodyType,
  type PartnerBodyType,
  type PartnerIdParamsType,
  type ResellerBodyType,
  type UserBodyType,
} from './admin-schemas';
import { createHoldingAccount, createPartner, createUser, linkReseller } from './platform-admin';

const security = [{ apiKey: [] }];
const tags = ['administration'];
const IDEMPOTENT =
  '201 created; the same request again: 200 with the same resource, nothing written; other values for an existing one: 409 Conflict naming each field that differs.';

/** Platform administration (operators only): partners, the reseller link, holding accounts, users; one function per route. */
export function registerAdministrationRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerCreatePartnerRoute(app, deps);
  registerLinkResellerRoute(app, deps);
  registerCreateHoldingAccountRoute(app, deps);
  registerCreateUserRoute(app, deps);
}

function registerCreatePartnerRoute(app: FastifyInstance, { db }: ApiDependencies): void {
  app.post<{ Body: PartnerBodyType }>(
    '/partners',
    {
      schema: {
        tags,
        operationId: 'createPartner',
        summary: 'Create a partner (a reseller or direct partner) or a distributor',
        description: `Operators only. ${IDEMPOTENT}`,
        security,
        body: PartnerBody,
        response: { 200: Partner, 201: Partner, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      requireOperator(request.principal, 'create partners');
      const { partner, created } = await createPartner(db, request.body);
      return reply.status(created ? 201 : 200).send(partner);
    },
  );
}

function registerLinkResellerRoute(app: FastifyInstance, { db }: ApiDependencies): void {
  app.post<{ Params: PartnerIdParamsType; Body: ResellerBodyType }>(
    '/partners/:partnerId/resellers',
    {
      schema: {
        tags,
        operationId: 'linkReseller',
        summary: 'Link a reseller to its distributor (R10, two-tier)',
        description:
          'Operators only. 201 linked; 200 when linked already. 422 UnknownPartner, NotADistributor (the path names a partner), ' +
          'NotAReseller (the body names a distributor).',
        security,
        params: PartnerIdParams,
        body: ResellerBody,
        response: { 200: ResellerLink, 201: ResellerLink, ...errorResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      requireOperator(request.principal, 'link resellers to distributors');
      const { link, created } = await linkReseller(db, request.params.partnerId, request.body.resellerId);
      return reply.status(created ? 201 : 200).send(link);
    },
  );
}

function registerCreateHoldingAccountRoute(app: FastifyInstance, { db }: ApiDependencies): void {
  app.post<{ Body: HoldingAccountBodyType }>(
    '/holding-accounts',
    {
      schema: {
        tags,
        operationId: 'createHoldingAccount',
        summary: 'Create a Partner Holding Account (R4) for a partner or distributor; active at once',
        description: `Operators only. ${IDEMPOTENT} 422 UnknownPartner for an unknown owner. Its virtual accounts: POST /v1/accounts/{accountId}/virtual-accounts.`,
        security,
        body: HoldingAccountBody,
        response: { 200: HoldingAccount, 201: HoldingAccount, ...errorResponses(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      requireOperator(request.principal, 'create holding accounts');
      const { account, created } = await createHoldingAccount(db, request.body);
      return reply
        .status(created ? 201 : 200)
        .header('location', `/v1/accounts/${encodeURIComponent(account.accountId)}/virtual-accounts`)
        .send(account);
    },
  );
}

function registerCreateUserRoute(app: FastifyInstance, { db }: ApiDependencies): void {
  app.post<{ Body: UserBodyType }>(
    '/users',
    {
      schema: {
        tags,
        operationId: 'createUser',
        summary: 'Create a user by email and full name, without a registered user ID',
        description:
          `Operators only. ${IDEMPOTENT} Emails compare case-insensitively; a user known without a name gets this one. ` +
          "A registered user ID comes only from the user's own verification, never from this route.",
        security,
        body: UserBody,
        response: { 200: User, 201: User, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      requireOperator(request.principal, 'create users');
      const { user, created } = await createUser(db, request.body);
      return reply.status(created ? 201 : 200).send(user);
    },
  );
}
