import type { FastifyInstance } from 'fastify';
import { allows } from '../accounts/roles';
import type { ApiDependencies } from '../api/dependencies';
import type { Db } from '../db/knex';
import { forbidden, HttpError } from '../api/errors';
import { errorResponses } from '../api/schemas';
import type { PoolRow } from './pools';
import { removeProductInstance } from './instance-removal';
import {
  instanceLocation,
  MoveRefused,
  moveInstance,
  moveLicenses,
  UNKNOWN_INSTANCE_REASON,
  unknownInstanceMessage,
  virtualAccountByPath,
} from './moves';
import { callerOnSmartAccount, type AccountCaller } from './route-access';
import {
  AccountParams,
  InstanceMoveBody,
  InstanceMoveParams,
  InstanceMoveResponse,
  InstanceRemoveResponse,
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

/**
 * R23: an admin role over the instance's VA (SA admin, or VA admin of it or a parent) removes it.
 * A caller who may not even see that VA is told what an unknown instance is told (404), so the
 * answer does not say an instance exists there; one who sees it but may not manage it, 403.
 */
export function authorizeRemoval(caller: AccountCaller, instanceId: string, path: string): void {
  if (!allows(caller.roles, 'view', path)) throw new MoveRefused('UnknownInstance', unknownInstanceMessage(instanceId));
  if (!allows(caller.roles, 'manage', path)) {
    throw forbidden(`${caller.actor} may not remove product instances of ${path}: that needs sa_admin, or va_admin on it or a parent`);
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
  registerRemoveRoute(app, db);
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
        // An instance in a VA the caller may not see reads as unknown, so a 403 does not confirm it exists.
        if (!allows(caller.roles, 'view', from.path)) throw new MoveRefused('UnknownInstance', unknownInstanceMessage(instanceId));
        authorizeMove(caller, from.path, request.body.toVirtualAccountPath);
        const to = await virtualAccountByPath(db, accountId, request.body.toVirtualAccountPath, 'toVirtualAccountPath');
        return moveInstance(db, { accountId, instanceId, to, actor: caller.actor });
      });
      const view = poolView(await pathsOf(db, accountId));
      return { instanceId, from: result.from.map(view), to: result.to.map(view) };
    },
  );
}

function registerRemoveRoute(app: FastifyInstance, db: Db): void {
  app.delete<{ Params: InstanceMoveParamsType }>(
    '/accounts/:accountId/product-instances/:instanceId',
    {
      schema: {
        tags,
        operationId: 'removeProductInstance',
        summary:
          'Removes a product instance (R19, R23): its use leaves the pools at once, its credentials stop working, its UDI may register again with a new key',
        description:
          '200 with the removed instance, also when it was removed already (nothing is written again). The event log and an ' +
          'instance_removed alert name who removed it. Needs sa_admin, or va_admin on its virtual account or a parent; 403 to a caller ' +
          "who sees the virtual account but may not manage it; 404 UnknownInstance for an instance that is not the account's, or in a " +
          'virtual account the caller may not see.',
        security,
        params: InstanceMoveParams,
        response: { 200: InstanceRemoveResponse, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { accountId, instanceId } = request.params;
      const caller = await callerOnSmartAccount(db, request.principal, accountId);
      const removed = await removeProductInstance(db, {
        accountId,
        instanceId,
        actor: caller.actor,
        authorize: (path) => authorizeRemoval(caller, instanceId, path),
      }).catch((err: unknown) => {
        if (err instanceof MoveRefused && err.code === 'UnknownInstance') {
          throw new HttpError(404, err.code, err.message, [{ field: 'instanceId', reason: UNKNOWN_INSTANCE_REASON }]);
        }
        throw err;
      });
      const view = poolView(await pathsOf(db, accountId));
      return {
        instanceId: removed.instanceId,
        virtualAccountPath: removed.virtualAccountPath,
        productId: removed.productId,
        serialNumber: removed.serialNumber,
        hostname: removed.hostname,
        state: 'removed' as const,
        removedAt: removed.removedAt.toISOString(),
        pools: removed.pools.map(view),
      };
    },
  );
}
