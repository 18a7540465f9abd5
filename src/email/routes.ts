import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { authorizedOrder, requireOperator, scopeOrders } from '../api/access';
import type { Principal } from '../api/auth';
import type { ApiDependencies } from '../api/dependencies';
import { HttpError, notFound } from '../api/errors';
import { errorResponses } from '../api/schemas';
import type { Db } from '../db/knex';
import type { EmailOutboxRow } from '../db/rows';
import {
  EmailIdParams,
  EmailList,
  EmailListQuery,
  EmailResent,
  emailView,
  ResendEmailBody,
  selectEmailColumns,
  type EmailIdParamsType,
  type EmailListBody,
  type EmailListQueryType,
  type EmailRowWithResend,
  type ResendEmailBodyType,
} from './email-views';
import { EmailResendRefusal } from './resend-refusal';

const security = [{ apiKey: [] }];
const tags = ['orders'];

/**
 * The outbox for people (issue 18 item 1): the emails the SMTP server refused for good, with its
 * answer, and the one call that sends such an email again. An operator sees every email; a
 * partner (or distributor) those of the orders it may see, by the same rule as GET /v1/orders.
 */
export function registerEmailRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerListEmailsRoute(app, deps);
  registerResendEmailRoute(app, deps);
}

/** Restricts an email_outbox query (alias e) to the emails of the orders the principal may see. */
function scopeEmails(db: Db, principal: Principal, query: Knex.QueryBuilder): void {
  if (principal.role === 'operator') return;
  const visibleOrders: Knex.QueryBuilder = db('orders').select('orders.id');
  query.whereIn('e.order_id', scopeOrders(visibleOrders, db, principal));
}

function registerListEmailsRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.get<{ Querystring: EmailListQueryType }>(
    '/emails',
    {
      schema: {
        tags,
        operationId: 'listEmails',
        summary: "Emails by delivery status, newest first: by default the failed ones, with the SMTP server's answer",
        description:
          'failed: the SMTP server refused the email for good (5xx); nothing retries it, POST /v1/emails/{emailId}/resend sends it again. ' +
          "pending: not sent yet (4xx or an outage: retried with backoff). A partner key sees the emails of its own orders only (alert emails are operators'). " +
          'Pages of limit (default 100); nextCursor goes back as after.',
        security,
        querystring: EmailListQuery,
        response: { 200: EmailList, ...errorResponses(400, 401) },
      },
    },
    async (request): Promise<EmailListBody> => {
      const { db } = deps;
      const { status = 'failed', orderId, after } = request.query;
      const limit = request.query.limit ?? 100;
      const query = db('email_outbox as e')
        .where('e.status', status)
        .orderBy('e.id', 'desc')
        .limit(limit + 1);
      if (orderId !== undefined) query.where('e.order_id', orderId);
      if (after !== undefined) query.where('e.id', '<', after);
      scopeEmails(db, request.principal, query);
      const rows = (await selectEmailColumns(db, query)) as EmailRowWithResend[];
      const page = rows.slice(0, limit);
      return { emails: page.map(emailView), nextCursor: rows.length > limit ? String(page[page.length - 1].id) : null };
    },
  );
}

function registerResendEmailRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Params: EmailIdParamsType; Body: ResendEmailBodyType }>(
    '/emails/:emailId/resend',
    {
      schema: {
        tags,
        operationId: 'resendEmail',
        summary: 'Send a failed email again, to the corrected address (to) or the same one',
        description:
          'Once per email: a second call answers the same resend (repeated: true) and sends nothing new, or sends it now if it is still pending. ' +
          "The answer is the new email: sent, or failed again with the server's answer. 409 for an email that did not fail, or that carries a secure link " +
          '(the delegation-link and activation-link routes send a new link); 503 when the SMTP server did not take it yet (the same call tries again). ' +
          "A partner key resends its own orders' emails; alert and account emails need an operator key.",
        security,
        params: EmailIdParams,
        body: ResendEmailBody,
        response: { 200: EmailResent, ...errorResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request) => {
      const { emailId } = request.params;
      const row = await deps.db<EmailOutboxRow>('email_outbox').where({ id: emailId }).first('order_id');
      if (!row) throw notFound(`email ${emailId}`);
      if (row.order_id !== null) await authorizedOrder(deps.db, deps.client, request.principal, row.order_id);
      else requireOperator(request.principal, 'resend an email that belongs to no order (an alert or account email)');
      if (!deps.resendEmail) throw new HttpError(503, 'Unavailable', 'this API cannot send email');
      const resentBy = request.principal.role === 'operator' ? 'operator' : `${request.principal.role}:${principalId(request.principal)}`;
      let repeated: boolean;
      try {
        ({ repeated } = await deps.resendEmail(emailId, { ...(request.body?.to ? { to: request.body.to } : {}), resentBy }));
      } catch (err) {
        if (!(err instanceof EmailResendRefusal)) throw err;
        throw err.code === 'NotFound'
          ? notFound(err.message)
          : new HttpError(err.code === 'Unavailable' ? 503 : 409, err.code, err.message);
      }
      const [resend] = (await selectEmailColumns(
        deps.db,
        deps.db('email_outbox as e').where('e.resend_of', emailId),
      )) as EmailRowWithResend[];
      request.log.info({ emailId, resendId: String(resend.id), status: resend.status, repeated }, 'email resent');
      return { email: emailView(resend), repeated };
    },
  );
}

function principalId(principal: Exclude<Principal, { role: 'operator' }>): string {
  return principal.role === 'user' ? principal.userId : principal.partnerId;
}
