import type { FastifyInstance } from 'fastify';
import { loadAccount } from '../accounts/account-admin';
import type { AccountRow } from '../accounts/placement-rules';
import { allows, rolesOn, type Grantee, type HeldRole } from '../accounts/roles';
import type { Principal } from '../api/auth';
import type { ApiDependencies } from '../api/dependencies';
import { forbidden, HttpError, notFound } from '../api/errors';
import { granteeOf } from '../api/grantee';
import { AccountIdParams, type AccountIdParamsType } from '../accounts/schemas';
import { errorResponses } from '../api/schemas';
import type { Db } from '../db/knex';
import {
  CreatedTokenResponse,
  CreateTokenBody,
  TokenListQuery,
  TokenListResponse,
  TokenParams,
  TokenResponse,
  type CreateTokenBodyType,
  type TokenListQueryType,
  type TokenParamsType,
} from './schemas';
import { createRegistrationToken, listRegistrationTokens, loadToken, revokeRegistrationToken } from './tokens';
import { actorOf } from './route-access';

const security = [{ apiKey: [] }];
const tags = ['license use'];

function describeGrantee(grantee: Grantee): string {
  return grantee.kind === 'operator'
    ? 'operator'
    : grantee.kind === 'partner'
      ? `partner "${grantee.partnerId}"`
      : `user ${grantee.userId}`;
}

/** The customer Smart Account the tokens live in: 404 unknown, 422 for a holding account (R15). */
async function tokenAccount(db: Db, accountId: string): Promise<AccountRow> {
  const account = await loadAccount(db, accountId);
  if (!account) throw notFound(`account ${accountId}`);
  if (account.kind === 'holding_account') {
    throw new HttpError(
      422,
      'NotASmartAccount',
      `account ${accountId} is a Partner Holding Account: its licenses serve no device until transferred, so its virtual accounts have no registration tokens`,
    );
  }
  return account;
}

async function virtualAccountId(db: Db, accountId: string, path: string): Promise<string> {
  const row: { id: string } | undefined = await db('virtual_accounts').where({ account_id: accountId, path }).first('id');
  if (!row) throw new HttpError(422, 'UnknownVirtualAccount', `virtual account "${path}" does not exist in account ${accountId}`);
  return String(row.id);
}

async function rolesOf(db: Db, principal: Principal, accountId: string): Promise<{ grantee: Grantee; roles: HeldRole[] }> {
  const grantee = granteeOf(principal);
  return { grantee, roles: await rolesOn(db, grantee, accountId) };
}

function requireUse(grantee: Grantee, roles: HeldRole[], accountId: string, path: string): void {
  if (!allows(roles, 'use', path)) {
    throw forbidden(
      `${describeGrantee(grantee)} may not manage registration tokens of virtual account "${path}" in ${accountId}: ` +
        'that needs sa_admin, sa_user, or va_admin / va_user on it or a parent',
    );
  }
}

/** The VAs of the account whose tokens the caller may manage; 403 when there is none. */
async function usableVaIds(db: Db, grantee: Grantee, roles: HeldRole[], accountId: string): Promise<string[]> {
  const vas: Array<{ id: string; path: string }> = await db('virtual_accounts').where({ account_id: accountId }).select('id', 'path');
  const usable = vas.filter((va) => allows(roles, 'use', va.path)).map((va) => String(va.id));
  if (usable.length === 0) throw forbidden(`${describeGrantee(grantee)} may not manage registration tokens in ${accountId}`);
  return usable;
}

/** R15: registration tokens of a VA, created, listed and revoked by whoever may `use` it. */
export function registerTokenRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerCreateRoute(app, deps.db);
  registerListRoute(app, deps.db);
  registerRevokeRoute(app, deps.db);
}

function registerCreateRoute(app: FastifyInstance, db: Db): void {
  app.post<{ Params: AccountIdParamsType; Body: CreateTokenBodyType }>(
    '/accounts/:accountId/registration-tokens',
    {
      schema: {
        tags,
        operationId: 'createRegistrationToken',
        summary: 'Create a registration token in a virtual account (R15): shown once, stored hashed',
        description:
          '201 with the token. Operator; sa_admin, sa_user, or va_admin / va_user on the VA or a parent. ' +
          '422 NotASmartAccount for a holding account, UnknownVirtualAccount for a path that does not exist.',
        security,
        params: AccountIdParams,
        body: CreateTokenBody,
        response: { 201: CreatedTokenResponse, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const account = await tokenAccount(db, request.params.accountId);
      const { grantee, roles } = await rolesOf(db, request.principal, account.id);
      requireUse(grantee, roles, account.id, request.body.virtualAccountPath);
      const vaId = await virtualAccountId(db, account.id, request.body.virtualAccountPath);
      const { token, view } = await createRegistrationToken(
        db,
        { accountId: account.id, virtualAccountId: vaId },
        {
          expiresInDays: request.body.expiresInDays,
          maxUses: request.body.maxUses,
          description: request.body.description ?? '',
          exportControlled: request.body.exportControlled ?? false,
        },
        actorOf(grantee),
      );
      return reply
        .status(201)
        .header('location', `/v1/accounts/${encodeURIComponent(account.id)}/registration-tokens/${view.tokenId}`)
        .header('cache-control', 'no-store')
        .send({ ...view, token });
    },
  );
}

function registerListRoute(app: FastifyInstance, db: Db): void {
  app.get<{ Params: AccountIdParamsType; Querystring: TokenListQueryType }>(
    '/accounts/:accountId/registration-tokens',
    {
      schema: {
        tags,
        operationId: 'listRegistrationTokens',
        summary: 'The registration tokens of a Smart Account (or of one VA) the caller may use (R15); never the tokens themselves',
        description:
          'Newest first, at most 1000. The same answer, from the same query, as listTokens (GET /accounts/{accountId}/tokens), ' +
          'which lists what the caller may see (any role, a VA and its children) rather than what it may use. ' +
          '403 without sa_admin, sa_user, or va_admin / va_user on the VA (or on any VA when none is named); ' +
          '422 NotASmartAccount, UnknownVirtualAccount.',
        security,
        params: AccountIdParams,
        querystring: TokenListQuery,
        response: { 200: TokenListResponse, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const account = await tokenAccount(db, request.params.accountId);
      const { grantee, roles } = await rolesOf(db, request.principal, account.id);
      const path = request.query.virtualAccountPath;
      if (path !== undefined) {
        requireUse(grantee, roles, account.id, path);
        return {
          accountId: account.id,
          tokens: await listRegistrationTokens(db, account.id, [await virtualAccountId(db, account.id, path)]),
        };
      }
      return {
        accountId: account.id,
        tokens: await listRegistrationTokens(db, account.id, await usableVaIds(db, grantee, roles, account.id)),
      };
    },
  );
}

function registerRevokeRoute(app: FastifyInstance, db: Db): void {
  app.delete<{ Params: TokenParamsType }>(
    '/accounts/:accountId/registration-tokens/:tokenId',
    {
      schema: {
        tags,
        operationId: 'revokeRegistrationToken',
        summary: 'Revoke a registration token (R15): instances it registered stay, nothing new registers with it',
        description:
          '200 with the token, also when it was revoked already. 403 without sa_admin, sa_user, or va_admin / va_user on some VA ' +
          "of the account (before the token is looked up), or on the token's VA when the caller sees it; 404 when the account has no " +
          'such token or it is of a virtual account the caller may not see (the same answer: nothing says it exists).',
        security,
        params: TokenParams,
        response: { 200: TokenResponse, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const account = await tokenAccount(db, request.params.accountId);
      const { grantee, roles } = await rolesOf(db, request.principal, account.id);
      // Refused before the token is read, as the other routes: a caller without a role learns nothing of it.
      await usableVaIds(db, grantee, roles, account.id);
      const existing = await loadToken(db, account.id, request.params.tokenId);
      // A token of a VA the caller may not see is answered as one that does not exist: no existence leak.
      if (!existing || !allows(roles, 'view', existing.virtualAccountPath)) {
        throw notFound(`registration token ${request.params.tokenId} of account ${account.id}`);
      }
      requireUse(grantee, roles, account.id, existing.virtualAccountPath);
      const revoked = await revokeRegistrationToken(db, account.id, existing.tokenId, actorOf(grantee));
      return revoked!;
    },
  );
}
