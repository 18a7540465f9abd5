import type { FastifyInstance } from 'fastify';
import { allows } from '../accounts/roles';
import type { ApiDependencies } from '../api/dependencies';
import type { Db } from '../db/knex';
import { forbidden, HttpError } from '../api/errors';
import { errorResponses } from '../api/schemas';
import type { PoolRow } from './pools';
import { instanceLocation, MoveRefused, moveInstance, moveLicenses, virtualAccountByPath } from './moves';
import { callerOnSmartAccount, type AccountCaller } from './route-access';
import {
  AccountParams,
  InstanceMoveBody,
  InstanceMoveParams,
  InstanceMoveResponse,
  LicenseMoveBody,
  LicenseMoveResponse,
  type AccountParamsType,
  type InstanceMoveBodyType,
  type InstanceMoveParamsType,
  type LicenseMoveBodyType,
} from './time-schemas';

const security = [{ apiKey: [] }];
const tags = ['license use'];

/** R21: SA admins, and VA admins of BOTH virtual accounts, may move. */
function authorizeMove(caller: AccountCaller, fromPath: string, toPath: string): void {
  for (const path of [fromPath, toPath]) {
    if (!allows(caller.roles, 'manage', path)) {
      throw forbidden(
        `${caller.actor} may not move licenses or devices in or out of ${path}: a move needs an admin role on both virtual accounts`,
      );
    }
  }
}

/** A move the account's state refuses reads as 422 with its code; an unknown VA or instance as 404. */
async function refusalsAsHttp<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof MoveRefused)) throw err;
    const status = err.code === 'UnknownVirtualAccount' || err.code === 'UnknownInstance' ? 404 : 422;
    throw new HttpError(status, err.code, err.message);
  }
}

async function pathsOf(db: Db, accountId: string): Promise<Map<string, string>> {
  const rows: Array<{ id: string; path: string }> = await db('virtual_accounts').where({ account_id: accountId }).select('id', 'path');
  return new Map(rows.map((r) => [String(r.id), r.path]));
}

const poolView = (paths: Map<string, string>) => (pool: PoolRow) => ({
  virtualAccountPath: paths.get(pool.virtualAccountId) ?? '',
  sku: pool.sku,
  purchased: pool.purchased,
  authorized: pool.authorized,
  overage: pool.overage,
  unserved: pool.unserved,
});

export function registerMoveRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.post<{ Params: AccountParamsType; Body: LicenseMoveBodyType }>(
    '/accounts/:accountId/license-moves',
    {
      schema: {
        tags,
        operationId: 'moveLicenses',
        summary: 'Moves licenses of one SKU between two virtual accounts of the Smart Account; both pools change at once (R21)',
        description:
          'Unexpired licenses move, perpetual and latest-ending first, splitting allocations. 422 NotEnoughLicenses when the source holds fewer; ' +
          '422 WouldLeaveShortfall when licenses in use would go, unless allowShortfall is true. Needs sa_admin, or va_admin on both virtual accounts.',
        security,
        params: AccountParams,
        body: LicenseMoveBody,
        response: { 200: LicenseMoveResponse, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { accountId } = request.params;
      const body = request.body;
      const caller = await callerOnSmartAccount(db, request.principal, accountId);
      authorizeMove(caller, body.fromVirtualAccountPath, body.toVirtualAccountPath);
      const result = await refusalsAsHttp(async () =>
        moveLicenses(db, {
          accountId,
          from: await virtualAccountByPath(db, accountId, body.fromVirtualAccountPath, 'fromVirtualAccountPath'),
          to: await virtualAccountByPath(db, accountId, body.toVirtualAccountPath, 'toVirtualAccountPath'),
          sku: body.sku,
          quantity: body.quantity,
          allowShortfall: body.allowShortfall ?? false,
          actor: caller.actor,
        }),
      );
      const view = poolView(await pathsOf(db, accountId));
      return { moved: result.moved, shortfall: result.shortfall, from: view(result.from), to: view(result.to) };
    },
  );

  app.post<{ Params: InstanceMoveParamsType; Body: InstanceMoveBodyType }>(
    '/accounts/:accountId/product-instances/:instanceId/move',
    {
      schema: {
        tags,
        operationId: 'moveProductInstance',
        summary:
          'Moves a product instance and its use to another virtual account of the Smart Account; both pools are re-judged at once (R21)',
        security,
        params: InstanceMoveParams,
        body: InstanceMoveBody,
        response: { 200: InstanceMoveResponse, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { accountId, instanceId } = request.params;
      const caller = await callerOnSmartAccount(db, request.principal, accountId);
      const result = await refusalsAsHttp(async () => {
        const from = await instanceLocation(db, accountId, instanceId);
        authorizeMove(caller, from.path, request.body.toVirtualAccountPath);
        const to = await virtualAccountByPath(db, accountId, request.body.toVirtualAccountPath, 'toVirtualAccountPath');
        return moveInstance(db, { accountId, instanceId, to, actor: caller.actor });
      });
      const view = poolView(await pathsOf(db, accountId));
      return { instanceId, from: result.from.map(view), to: result.to.map(view) };
    },
  );
}
