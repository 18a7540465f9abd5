import type { FastifyInstance } from 'fastify';
import type { ApiDependencies } from '../api/dependencies';
import { notFound } from '../api/errors';
import { granteeOf } from '../api/grantee';
import { errorResponses } from '../api/schemas';
import { accountOr404, actorOf, grantAuthorizer } from './account-authorization';
import { grantRole, listRoleGrants, revokeRole } from './role-grants';
import {
  AccountIdParams,
  GrantParams,
  GrantRoleBody,
  RoleGrant,
  RoleGrantList,
  type AccountIdParamsType,
  type GrantParamsType,
  type GrantRoleBodyType,
} from './schemas';

const security = [{ apiKey: [] }];
const tags = ['accounts'];

/** R11, R24: the role grants of a Smart Account, listed, granted and revoked; one function per route. */
export function registerRoleGrantRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerListRoleGrantsRoute(app, deps);
  registerGrantRoleRoute(app, deps);
  registerRevokeRoleRoute(app, deps);
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
      const authorize = grantAuthorizer(request.principal, account.id, 'grant');
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
          '404 when the account has no such grant; 409 LastAccountAdmin for the last sa_admin grant of a user (grant another first).',
        security,
        params: GrantParams,
        response: { 204: { type: 'null', description: 'revoked' }, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(db, request.params.accountId);
      const authorize = grantAuthorizer(request.principal, account.id, 'revoke');
      if ((await revokeRole(db, account.id, request.params.grantId, authorize, actorOf(request.principal))) === 'unknown') {
        throw notFound(`role grant ${request.params.grantId} of account ${account.id}`);
      }
      return reply.status(204).send();
    },
  );
}
