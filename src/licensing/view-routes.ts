import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiDependencies } from '../api/dependencies';
import { badRequest, forbidden, HttpError, notFound } from '../api/errors';
import { granteeOf } from '../api/grantee';
import type { Principal } from '../api/auth';
import { errorResponses } from '../api/schemas';
import { AccountIdParams, type AccountIdParamsType } from '../accounts/schemas';
import { mintUserKey, profileOf, revokeUserKey, UserKeyRefusal } from '../accounts/user-keys';
import type { Db } from '../db/knex';
import { csvOf } from './csv';
import { unknownVirtualAccount } from './route-access';
import { listRegistrationTokens } from './tokens';
import { viewScopeOf, visibleVaIds, type ScopeRefusal, type ViewScope } from './views-access';
import { eventsOf } from './views-activity';
import { BadCursor, dailyUseOf, judgedInstancesOf, licensesOf } from './views-licenses';
import {
  CreatedKey,
  CreateMyKeyBody,
  DailyUseQuery,
  DailyUseView,
  EventsQuery,
  EventView,
  InstancesQuery,
  InstanceView,
  KeyIdParams,
  LicenseView,
  Me,
  TokenView,
  ViewQuery,
  type CreateMyKeyBodyType,
  type DailyUseQueryType,
  type EventsQueryType,
  type InstancesQueryType,
  type KeyIdParamsType,
  type ViewQueryType,
} from './view-schemas';

const security = [{ apiKey: [] }];
const tags = ['licenses'];
const WHO =
  'An operator sees everything; a partner or user what its roles cover (a VA role covers its children); 403 without any role on the account.';

/** The caller's scope, or the refusal: 404 unknown account or VA the caller cannot see, 403 no role at all. */
export async function scopeOr4xx(db: Db, principal: Principal, accountId: string, virtualAccountPath?: string): Promise<ViewScope> {
  const outcome = await viewScopeOf(db, granteeOf(principal), accountId, virtualAccountPath);
  if (outcome.ok) return outcome.scope;
  throw refusalError(outcome.reason, accountId, virtualAccountPath);
}

function refusalError(reason: ScopeRefusal, accountId: string, virtualAccountPath: string | undefined): HttpError {
  if (reason === 'unknown-account') return notFound(`Smart Account ${accountId}`);
  if (reason === 'unknown-virtual-account') return unknownVirtualAccount(accountId, virtualAccountPath);
  return forbidden(`this API key has no role on Smart Account ${accountId}; the customer must grant one`);
}

/** The CSV columns of the event log export. */
export const EVENT_CSV_HEADER = ['eventId', 'at', 'virtualAccountPath', 'type', 'subject', 'actor', 'details'] as const;

export function eventCsv(events: Awaited<ReturnType<typeof eventsOf>>): string {
  return csvOf(
    EVENT_CSV_HEADER,
    events.map((e) => [e.eventId, e.at, e.virtualAccountPath, e.type, e.subject, e.actor, e.details]),
  );
}

/** The most events one CSV export holds. */
export const EVENT_CSV_MAX = 10_000;

type Params = { Params: AccountIdParamsType };

/** R23 through the API: the licenses, instances, tokens, alerts, events and chart data a caller may see; R24: a user's own keys. */
export function registerViewRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerLicenseViewRoutes(app, deps.db);
  registerActivityViewRoutes(app, deps.db);
  registerMeRoutes(app, deps.db);
}

/** The options of one GET view of an account: its OpenAPI operation, query and 200 body. */
function view(operationId: string, summary: string, querystring: object, response: object) {
  return {
    schema: {
      tags,
      operationId,
      summary,
      description: WHO,
      security,
      params: AccountIdParams,
      querystring,
      response: { 200: response, ...errorResponses(400, 401, 403, 404) },
    },
  };
}

/** What the account holds: licenses, instances, the daily-use chart and registration tokens. */
function registerLicenseViewRoutes(app: FastifyInstance, db: Db): void {
  app.get<Params & { Querystring: ViewQueryType }>(
    '/accounts/:accountId/licenses',
    view(
      'listLicenses',
      'Licenses per virtual account and SKU: purchased, in use, balance, overage, next expiry (R23)',
      ViewQuery,
      LicenseView,
    ),
    async (request) => {
      const scope = await scopeOr4xx(db, request.principal, request.params.accountId, request.query.virtualAccountPath);
      return { accountId: scope.accountId, licenses: await licensesOf(db, scope) };
    },
  );

  app.get<Params & { Querystring: InstancesQueryType }>(
    '/accounts/:accountId/instances',
    view('listInstances', 'Product instances: state, last contact and use per SKU (R23)', InstancesQuery, InstanceView),
    // The scope is judged in the page's statement: one round trip per answer. A forged cursor is
    // refused after the scope, as every other view refuses a bad query of a caller it refuses.
    async (request) => {
      const { accountId } = request.params;
      const { virtualAccountPath } = request.query;
      let answer;
      try {
        answer = await judgedInstancesOf(db, granteeOf(request.principal), accountId, request.query);
      } catch (err) {
        if (!(err instanceof BadCursor)) throw err;
        await scopeOr4xx(db, request.principal, accountId, virtualAccountPath);
        throw badRequest([{ field: 'after', reason: err.message }]);
      }
      if (answer.refused) throw refusalError(answer.refused, accountId, virtualAccountPath);
      return { accountId, ...answer.page };
    },
  );

  app.get<Params & { Querystring: DailyUseQueryType }>(
    '/accounts/:accountId/daily-use',
    view('getDailyUse', 'Use against purchase per day, per virtual account and SKU: the chart (R23)', DailyUseQuery, DailyUseView),
    async (request) => {
      const scope = await scopeOr4xx(db, request.principal, request.params.accountId, request.query.virtualAccountPath);
      return { accountId: scope.accountId, series: await dailyUseOf(db, scope, request.query.days) };
    },
  );

  app.get<Params & { Querystring: ViewQueryType }>(
    '/accounts/:accountId/tokens',
    view(
      'listTokens',
      'Registration tokens (never the token itself) and how many uses are left (R23): ' +
        'the answer of listRegistrationTokens, for whoever may see the VAs (a path includes its children)',
      ViewQuery,
      TokenView,
    ),
    async (request) => {
      const scope = await scopeOr4xx(db, request.principal, request.params.accountId, request.query.virtualAccountPath);
      return { accountId: scope.accountId, tokens: await listRegistrationTokens(db, scope.accountId, visibleVaIds(scope)) };
    },
  );
}

/** What happened on the account: the event log (also as CSV); alerts are served by the license-time routes. */
function registerActivityViewRoutes(app: FastifyInstance, db: Db): void {
  app.get<Params & { Querystring: EventsQueryType }>(
    '/accounts/:accountId/events',
    view('listEvents', 'The event log, newest first; page back with before=<last eventId> (R23)', EventsQuery, EventView),
    async (request) => {
      const scope = await scopeOr4xx(db, request.principal, request.params.accountId, request.query.virtualAccountPath);
      return {
        accountId: scope.accountId,
        events: await eventsOf(db, scope, { limit: request.query.limit, beforeId: request.query.before }),
      };
    },
  );

  app.get<Params & { Querystring: ViewQueryType }>(
    '/accounts/:accountId/events.csv',
    {
      schema: {
        tags,
        operationId: 'exportEvents',
        summary: `The event log as CSV (newest first, at most ${EVENT_CSV_MAX} rows; cells a spreadsheet would run as formulas are prefixed with ')`,
        description: WHO,
        security,
        params: AccountIdParams,
        querystring: ViewQuery,
        produces: ['text/csv'],
        response: { 200: { type: 'string', description: 'text/csv' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply: FastifyReply) => {
      const scope = await scopeOr4xx(db, request.principal, request.params.accountId, request.query.virtualAccountPath);
      const csv = eventCsv(await eventsOf(db, scope, { limit: EVENT_CSV_MAX }));
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="events-${scope.accountId.replace(/[^A-Za-z0-9._-]/g, '_')}.csv"`)
        .send(csv);
    },
  );
}

function requireUser(principal: Principal): string {
  if (principal.role !== 'user') throw forbidden("only a user's own API key has a profile and user keys; sign in to the pages to make one");
  return principal.userId;
}

/** R24: who a user key acts for, and the user's own keys. */
function registerMeRoutes(app: FastifyInstance, db: Db): void {
  const meTags = ['people'];
  app.get(
    '/me',
    {
      schema: {
        tags: meTags,
        operationId: 'getMe',
        summary: "The user a user key acts for, and the user's live API keys",
        security,
        response: { 200: Me, ...errorResponses(401, 403) },
      },
    },
    async (request) => (await profileOf(db, requireUser(request.principal)))!,
  );
  app.post<{ Body: CreateMyKeyBodyType }>(
    '/me/api-keys',
    {
      schema: {
        tags: meTags,
        operationId: 'createMyApiKey',
        summary: 'Mint another API key acting as this user (shown once)',
        security,
        body: CreateMyKeyBody,
        response: { 201: CreatedKey, ...errorResponses(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      try {
        return reply.status(201).send(await mintUserKey(db, requireUser(request.principal), request.body.label));
      } catch (err) {
        if (err instanceof UserKeyRefusal) throw new HttpError(422, 'KeyRefused', err.message);
        throw err;
      }
    },
  );
  app.delete<{ Params: KeyIdParamsType }>(
    '/me/api-keys/:keyId',
    {
      schema: {
        tags: meTags,
        operationId: 'revokeMyApiKey',
        summary: "Revoke one of this user's API keys (also the one calling): 204, again 204; 404 for another's",
        security,
        params: KeyIdParams,
        response: { 204: { type: 'null', description: 'revoked' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      if ((await revokeUserKey(db, requireUser(request.principal), request.params.keyId)) === 'unknown') {
        throw notFound(`API key ${request.params.keyId} of this user`);
      }
      return reply.status(204).send();
    },
  );
}
