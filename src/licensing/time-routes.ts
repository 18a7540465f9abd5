import { actorOf } from '../accounts/account-authorization';
import { isIsoDate } from '../common/dates';
import { alertEmailDelivery, type AlertEmailDeliveryBody } from '../email/email-views';
import type { FastifyInstance } from 'fastify';
import { allows } from '../accounts/roles';
import type { ApiDependencies } from '../api/dependencies';
import { UPDATE_DEADLINE_MS, withinDeadline } from '../api/deadline';
import { badRequest, forbidden, HttpError, notFound, unprocessable } from '../api/errors';
import { errorResponses } from '../api/schemas';
import { registerMoveRoutes } from './move-routes';
import { readAgreement, setAgreement, type AgreementAllowance } from './agreements';
import { periodOf, type Cadence } from './periods';
import { callerOnSmartAccount, unknownVirtualAccount } from './route-access';
import {
  AccountParams,
  AgreementBody,
  AgreementView,
  AlertList,
  AlertListQuery,
  SubscriptionParams,
  SubscriptionView,
  TrueUpList,
  TrueUpParams,
  TrueUpView,
  type AccountParamsType,
  type AgreementBodyType,
  type AlertListQueryType,
  type SubscriptionParamsType,
  type TrueUpParamsType,
} from './time-schemas';
import type { TrueUpOrder, TrueUpReport } from './true-ups';
import { approveTrueUpUpdate, trueUpWorkflowId } from './workflow-api';

const security = [{ apiKey: [] }];
const tags = ['license use'];

interface AlertRow {
  id: string;
  kind: string;
  subject: string;
  path: string | null;
  day: string;
  message: string;
  created_at: Date;
  emailed_at: Date | null;
  email_delivery: AlertEmailDeliveryBody;
}

interface TrueUpRow {
  account_id: string;
  period: string;
  status: string;
  report: TrueUpReport;
}

/** The true-up as the API shows it; `sees` keeps only the lines and orders of the virtual accounts the caller may view (R24). */
function trueUpView(row: TrueUpRow, sees: (path: string) => boolean = () => true) {
  return {
    accountId: row.account_id,
    period: row.period,
    status: row.status,
    periodEndsOn: row.report.period.endsOn,
    lines: row.report.lines
      .filter((l) => sees(l.virtualAccountPath))
      .map((l) => ({ virtualAccountPath: l.virtualAccountPath, sku: l.sku, peak: l.peak })),
    orderIds: row.report.orders.filter((o) => sees(trueUpOrderPath(o))).map((o) => o.orderId),
    ...(row.report.approvedBy ? { approvedBy: row.report.approvedBy } : {}),
  };
}

/** The virtual account a true-up order deposits into (one order per VA). */
function trueUpOrderPath(order: TrueUpOrder): string {
  const assignment = order.input.assignment as { virtualAccountPath?: string };
  return assignment.virtualAccountPath ?? '';
}

/** Alerts and who is emailed them (R25); overage agreements and their true-ups (R20). */
export function registerLicenseTimeRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerAlertRoutes(app, deps);
  registerAgreementRoutes(app, deps);
  registerTrueUpRoutes(app, deps);
  registerMoveRoutes(app, deps);
}

function registerAlertRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;

  app.get<{ Params: AccountParamsType; Querystring: AlertListQueryType }>(
    '/accounts/:accountId/alerts',
    {
      schema: {
        tags,
        operationId: 'listAlerts',
        summary: "A Smart Account's alerts, newest first (R25): only those of the virtual accounts the caller may view",
        security,
        params: AccountParams,
        querystring: AlertListQuery,
        response: { 200: AlertList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { accountId } = request.params;
      const caller = await callerOnSmartAccount(db, request.principal, accountId);
      const query = db('license_alerts as a')
        .leftJoin('virtual_accounts as va', 'va.id', 'a.virtual_account_id')
        .where('a.account_id', accountId)
        .orderBy('a.id', 'desc')
        .limit(request.query.limit ?? 100)
        .select('a.id', 'a.kind', 'a.subject', 'va.path', 'a.day', 'a.message', 'a.created_at', 'a.emailed_at', alertEmailDelivery(db));
      if (request.query.kind) query.where('a.kind', request.query.kind);
      const narrowTo = request.query.virtualAccountPath;
      if (narrowTo !== undefined || !allows(caller.roles, 'view', null)) {
        const paths: Array<{ id: string; path: string }> = await db('virtual_accounts')
          .where({ account_id: accountId })
          .select('id', 'path');
        const visible = paths.filter((va) => allows(caller.roles, 'view', va.path));
        // As the other views: a VA that does not exist, or that the caller may not see, is a 404, not [].
        if (narrowTo !== undefined && !visible.some((va) => va.path === narrowTo)) throw unknownVirtualAccount(accountId, narrowTo);
        query.whereIn(
          'a.virtual_account_id',
          visible.filter((va) => narrowTo === undefined || va.path === narrowTo || va.path.startsWith(`${narrowTo}/`)).map((va) => va.id),
        );
      }
      const rows = (await query) as AlertRow[];
      return {
        alerts: rows.map((r) => ({
          id: String(r.id),
          kind: r.kind,
          subject: r.subject,
          virtualAccountPath: r.path,
          day: r.day,
          message: r.message,
          createdAt: r.created_at.toISOString(),
          emailedAt: r.emailed_at ? r.emailed_at.toISOString() : null,
          emailDelivery: r.email_delivery,
        })),
      };
    },
  );
  registerSubscriptionRoutes(app, deps);
}

/** Who is emailed an account's alerts (R25): PUT to subscribe, DELETE to unsubscribe. */
function registerSubscriptionRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;

  /** The user themselves, or whoever manages the whole account, may change a subscription. */
  async function authorizeSubscription(principal: Parameters<typeof callerOnSmartAccount>[1], params: SubscriptionParamsType) {
    const caller = await callerOnSmartAccount(db, principal, params.accountId);
    const self = caller.grantee.kind === 'user' && caller.grantee.userId === params.userId;
    if (!self && !allows(caller.roles, 'manage', null))
      throw forbidden(`${caller.actor} may not change the alert subscriptions of ${params.accountId}`);
    const role = await db('role_grants')
      .where({ account_id: params.accountId, user_id: params.userId })
      .whereNull('revoked_at')
      .first<{ id: string } | undefined>('id');
    if (!role) throw new HttpError(422, 'NotAUserOfTheAccount', `user ${params.userId} holds no role on ${params.accountId}`);
  }

  for (const [method, subscribed] of [
    ['PUT', true],
    ['DELETE', false],
  ] as const) {
    app.route<{ Params: SubscriptionParamsType }>({
      method,
      url: '/accounts/:accountId/alert-subscriptions/:userId',
      schema: {
        tags,
        operationId: subscribed ? 'subscribeToAlerts' : 'unsubscribeFromAlerts',
        summary: subscribed
          ? "Email the user the account's alerts (idempotent)"
          : "Stop emailing the user the account's alerts (idempotent)",
        security,
        params: SubscriptionParams,
        response: { 200: SubscriptionView, ...errorResponses(400, 401, 403, 404, 422) },
      },
      handler: async (request) => {
        await authorizeSubscription(request.principal, request.params);
        const { accountId, userId } = request.params;
        if (subscribed)
          await db('alert_subscriptions').insert({ account_id: accountId, user_id: userId }).onConflict(['account_id', 'user_id']).ignore();
        else await db('alert_subscriptions').where({ account_id: accountId, user_id: userId }).delete();
        return { accountId, userId, subscribed };
      },
    });
  }
}

function registerAgreementRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.get<{ Params: AccountParamsType }>(
    '/accounts/:accountId/overage-agreement',
    {
      schema: {
        tags,
        operationId: 'getOverageAgreement',
        summary: "The Smart Account's overage agreement (R20); 404 when it has none",
        security,
        params: AccountParams,
        response: { 200: AgreementView, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await callerOnSmartAccount(db, request.principal, request.params.accountId);
      const agreement = await readAgreement(db, request.params.accountId);
      if (!agreement) throw notFound(`an overage agreement of ${request.params.accountId}`);
      return agreement;
    },
  );

  app.put<{ Params: AccountParamsType; Body: AgreementBodyType }>(
    '/accounts/:accountId/overage-agreement',
    {
      schema: {
        tags,
        operationId: 'setOverageAgreement',
        summary: "Sets the Smart Account's overage agreement (R20) and re-judges its pools at once",
        description:
          'Allowed to the Smart Account admins and operators. partnerOfRecord is required unless allowance is none: it books the true-up orders.',
        security,
        params: AccountParams,
        body: AgreementBody,
        response: { 200: AgreementView, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = await callerOnSmartAccount(db, request.principal, request.params.accountId);
      if (!allows(caller.roles, 'manage', null))
        throw forbidden(`${caller.actor} may not set the overage agreement of ${request.params.accountId}`);
      const { agreement } = await setAgreement(
        db,
        {
          accountId: request.params.accountId,
          // The schema allowed only these values; setAgreement checks them again.
          allowance: request.body.allowance as AgreementAllowance,
          cadence: request.body.cadence as Cadence,
          firstPeriodStartsOn: request.body.firstPeriodStartsOn,
          partnerOfRecord: request.body.partnerOfRecord ?? null,
        },
        caller.actor,
      );
      return agreement;
    },
  );
}

function registerTrueUpRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const { db } = deps;
  app.get<{ Params: AccountParamsType }>(
    '/accounts/:accountId/true-ups',
    {
      schema: {
        tags,
        operationId: 'listTrueUps',
        summary: "The Smart Account's true-ups, one per reconciled period (R20), newest first",
        security,
        params: AccountParams,
        response: { 200: TrueUpList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const caller = await callerOnSmartAccount(db, request.principal, request.params.accountId);
      const rows = await db('true_ups')
        .where({ account_id: request.params.accountId })
        .orderBy('period', 'desc')
        .select<TrueUpRow[]>('account_id', 'period', 'status', 'report');
      return { trueUps: rows.map((row) => trueUpView(row, (path) => allows(caller.roles, 'view', path))) };
    },
  );

  app.post<{ Params: TrueUpParamsType }>(
    '/accounts/:accountId/true-ups/:period/approve',
    {
      schema: {
        tags,
        operationId: 'approveTrueUp',
        summary: 'Approves a booked true-up: its orders ship and provision, and the pools hold the licenses (R20)',
        description:
          'Allowed to the Smart Account admins, the partner of record and operators. 409 when the true-up is not awaiting approval. ' +
          '400 naming period when it is not a real date; 422 NotAPeriod naming period when it is not the first day of one of the ' +
          "account's reconciliation periods; 404 when that period has no true-up.",
        security,
        params: TrueUpParams,
        response: { 200: TrueUpView, ...errorResponses(400, 401, 403, 404, 409, 422, 503) },
      },
    },
    async (request) => {
      const { accountId, period } = request.params;
      if (!isIsoDate(period)) throw badRequest([{ field: 'period', reason: 'must be a real date YYYY-MM-DD' }]);
      const caller = await callerOnSmartAccount(db, request.principal, accountId).catch((err: unknown) => {
        // The partner of record may approve without a role on the account.
        if (err instanceof HttpError && err.statusCode === 403) return undefined;
        throw err;
      });
      const row = await db('true_ups')
        .where({ account_id: accountId, period })
        .first<TrueUpRow | undefined>('account_id', 'period', 'status', 'report');
      // An outsider learns nothing, not even whether the period has a true-up.
      if (!row && !caller) throw forbidden(`only the Smart Account admins, the partner of record or an operator may approve true-ups`);
      if (!row) throw await missingTrueUp(db, accountId, period);
      const principal = request.principal;
      const partnerOfRecord =
        (principal.role === 'partner' || principal.role === 'distributor') && principal.partnerId === row.report.partnerId;
      if (!partnerOfRecord && !(caller && allows(caller.roles, 'manage', null))) {
        throw forbidden(`only the Smart Account admins, the partner of record or an operator may approve this true-up`);
      }
      // Settled in Postgres already: the workflow may be gone, so answer without asking it.
      if (row.status === 'approved' || row.status === 'nothing_to_reconcile') {
        throw new HttpError(409, 'InvalidState', `the true-up of ${period} is ${row.status.replace(/_/g, ' ')}, not awaiting approval`);
      }
      const approvedBy = actorOf(principal);
      await withinDeadline(deps.client, UPDATE_DEADLINE_MS, () =>
        deps.client.workflow.getHandle(trueUpWorkflowId(accountId, period)).executeUpdate(approveTrueUpUpdate, { args: [{ approvedBy }] }),
      );
      return trueUpView({ ...row, status: 'approved', report: { ...row.report, approvedBy } });
    },
  );
}

/** Why a caller with a role finds no true-up: `period` names no period of the account (422), or that period has none (404). */
async function missingTrueUp(db: ApiDependencies['db'], accountId: string, period: string): Promise<HttpError> {
  const agreement = await readAgreement(db, accountId);
  if (agreement && periodOf(agreement.firstPeriodStartsOn, agreement.cadence, period)?.startsOn !== period) {
    return unprocessable('NotAPeriod', [
      {
        field: 'period',
        reason: `must be the first day of a reconciliation period of ${accountId} (${agreement.cadence} from ${agreement.firstPeriodStartsOn})`,
      },
    ]);
  }
  return notFound(`a true-up of ${accountId} for the period ${period}`);
}
