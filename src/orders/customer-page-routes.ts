import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  LinkError,
  activateSmartAccount,
  openActivation,
  openDelegation,
  submitCustomerChoice,
  type OpenedDelegation,
  type SmartAccountChoice,
} from '../accounts/customer-links';
import type { Db } from '../db/knex';
import type { FieldError } from './order';
import type { OrderStatus } from './order-lifecycle';
import { isWellFormedToken } from '../security/tokens';
import type { CustomerChoice } from './workflow-api';
import { clearedCsrfCookieHeader, csrfCookieHeader, csrfCookieOf, csrfMatches, newCsrfValue } from '../web/csrf';
import { renderDocument, STYLE_SOURCE, type Page } from '../web/layout';
import {
  CSRF_FIELD,
  activationDonePage,
  activationFormPage,
  delegationDonePage,
  delegationFormPage,
  linkProblemPage,
  orderClosedPage,
  parseDestination,
  problemPage,
  type LinkKind,
  type OrderSummary,
} from './customer-pages';
import type { ApiDependencies } from '../api/dependencies';
import type { AccountRow, OrderLineRow } from '../db/rows';

/**
 * The customer pages behind the delegation and activation links in the emails:
 *
 *   GET  /delegations/:token   the order and the Smart Accounts of the contact's domain (R3, S4)
 *   POST /delegations/:token   the contact's choice: an existing account (+ virtual account) or a new one
 *   GET  /activations/:token   the requested Smart Account and an Activate button (S4, S5)
 *   POST /activations/:token   activates it
 *
 * Server-rendered HTML without script. The link's token is the only credential, so these routes
 * live outside /v1 (no API key) in a scope of their own: urlencoded forms only, double-submit
 * CSRF check on every POST, strict security headers (CSP without script, no referrer so the
 * token never leaks, no caching) and a rate limit per client IP. Everything they do goes through
 * src/accounts/customer-links.ts.
 */

export interface CustomerPageOptions {
  /** Requests per client IP per window on the link routes; 429 beyond. */
  rateLimit?: { max: number; timeWindowMs: number };
}

/**
 * 30 requests a minute per IP: plenty for a person following a link, few for someone guessing
 * links. Behind a reverse proxy every client shares the proxy's IP (trustProxy is off).
 */
export const CUSTOMER_PAGE_RATE_LIMIT = { max: 30, timeWindowMs: 60_000 };

/** A form of a few fields; anything larger is not from these pages. */
const FORM_BODY_LIMIT = 16 * 1024;

const ACCOUNT_NAME_MAX = 120;

/** A page to answer with, thrown from anywhere in a handler. */
class PageResponse extends Error {
  constructor(readonly page: Page) {
    super(page.title);
    this.name = 'PageResponse';
  }
}

/** Order states that take no customer choice any more. */
const CLOSED_ORDER_STATUSES = ['Cancelled', 'Fulfilled'] as const;

/** Workflow refusal types that mean "this choice is not usable" (422); anything else is the order's state (409). */
const UNUSABLE_CHOICE_TYPES = new Set([
  'DomainMismatch',
  'UnknownAccount',
  'UnknownVirtualAccount',
  'AccountNotActive',
  'NotAConsumptionTarget',
  'InvalidLink',
  'InvalidRequest',
]);

function sendPage(reply: FastifyReply, page: Page): FastifyReply {
  return reply.status(page.status).type('text/html; charset=utf-8').send(renderDocument(page));
}

type FormBody = Record<string, string | string[] | undefined>;

/** One value of a form field: undefined when missing or sent more than once. */
function fieldOf(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as FormBody)[name];
  return typeof value === 'string' ? value : undefined;
}

async function loadOrderSummary(db: Db, orderId: string): Promise<{ summary: OrderSummary; status: string }> {
  const order = await db('orders as o')
    .join('partners as p', 'p.id', 'o.partner_id')
    .where('o.id', orderId)
    .first<{ id: string; external_reference: string; status: string; partner_name: string }>(
      'o.id',
      'o.external_reference',
      'o.status',
      'p.name as partner_name',
    );
  const lines = await db<OrderLineRow>('order_lines')
    .where({ order_id: orderId })
    .orderBy('line_number')
    .select('line_number', 'sku', 'quantity', 'license_type', 'term_months');
  return {
    status: order.status,
    summary: {
      orderId: order.id,
      externalReference: order.external_reference,
      partnerName: order.partner_name,
      lines: lines.map((l) => ({
        lineNumber: l.line_number,
        sku: l.sku,
        quantity: l.quantity,
        licenseType: l.license_type,
        termMonths: l.term_months ?? null,
      })),
    },
  };
}

/** The contact's choice from the form, or the fields that are wrong with it. */
function choiceFrom(
  body: unknown,
  smartAccounts: SmartAccountChoice[],
): { choice: CustomerChoice; account?: SmartAccountChoice; errors?: undefined } | { errors: FieldError[] } {
  switch (fieldOf(body, 'choice')) {
    case 'existing': {
      const raw = fieldOf(body, 'destination');
      const destination = raw === undefined ? undefined : parseDestination(raw);
      const account = destination && smartAccounts.find((a) => a.accountId === destination.accountId);
      const pathListed = destination?.virtualAccountPath === undefined || account?.virtualAccounts.includes(destination.virtualAccountPath);
      if (!destination || !account || !pathListed) {
        return {
          errors: [
            {
              field: 'destination',
              reason:
                raw === undefined
                  ? 'Choose the Smart Account (and, if you want, a virtual account) for the licenses'
                  : 'Choose one of the Smart Accounts listed',
            },
          ],
        };
      }
      const choice: CustomerChoice = {
        kind: 'existing',
        accountId: account.accountId,
        ...(destination.virtualAccountPath !== undefined ? { virtualAccountPath: destination.virtualAccountPath } : {}),
      };
      return { choice, account };
    }
    case 'create': {
      const name = fieldOf(body, 'accountName')?.trim() ?? '';
      let reason: string | undefined;
      if (!name) reason = 'Enter a name for the new Smart Account';
      else if (name.length > ACCOUNT_NAME_MAX) reason = `The name must be at most ${ACCOUNT_NAME_MAX} characters`;
      else if (/[\u0000-\u001f\u007f]/.test(name)) reason = 'The name must be one line of text';
      if (reason) return { errors: [{ field: 'accountName', reason }] };
      return { choice: { kind: 'create', accountName: name } };
    }
    default:
      return { errors: [{ field: 'choice', reason: 'Choose an existing Smart Account or create a new one' }] };
  }
}

/** The workflow's refusal of a choice, as the page shows it: 422 for an unusable choice, 409 for the order's state. */
function refusalOf(err: WorkflowUpdateFailedError): { status: number; message: string } {
  const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
  const type = cause?.type ?? 'InvalidState';
  return { status: UNUSABLE_CHOICE_TYPES.has(type) ? 422 : 409, message: cause?.message ?? err.message };
}

function problemOf(err: FastifyError | Error): Page | undefined {
  const statusCode = (err as FastifyError).statusCode;
  if (statusCode === 413)
    return problemPage(413, 'The form is too large', 'The form sent was larger than these pages ever send. Nothing has been changed.');
  if (statusCode === 415) {
    return problemPage(
      415,
      'The form could not be read',
      'These pages accept only web forms (application/x-www-form-urlencoded). Nothing has been changed.',
    );
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return problemPage(statusCode, 'The request could not be read', 'Open the link from the email again. Nothing has been changed.');
  }
  return undefined;
}

export async function registerCustomerPages(app: FastifyInstance, deps: ApiDependencies, options: CustomerPageOptions = {}): Promise<void> {
  const limit = options.rateLimit ?? CUSTOMER_PAGE_RATE_LIMIT;
  const https = deps.config.publicBaseUrl.startsWith('https:');
  const { db, client } = deps;

  // An encapsulated scope: the plugins, parsers, hooks and error handler below apply to these
  // routes only, never to /v1.
  await app.register(async (pages) => {
    // Only urlencoded forms: JSON or multipart posts are refused with 415 before any handler runs.
    pages.removeAllContentTypeParsers();
    await pages.register(formbody, { bodyLimit: FORM_BODY_LIMIT });
    await pages.register(helmet, {
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          styleSrc: [STYLE_SOURCE],
          formAction: ["'self'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
        },
      },
      // The token is in the path: no page may send it on as a Referer.
      referrerPolicy: { policy: 'no-referrer' },
      xFrameOptions: { action: 'deny' },
      strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    });
    await pages.register(rateLimit, {
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      errorResponseBuilder: (_request, context) =>
        new PageResponse(
          problemPage(
            429,
            'Too many requests',
            `Too many requests came from your network in a short time. Wait ${context.after} and open the link again.`,
          ),
        ),
    });
    pages.addHook('onSend', async (_request, reply) => {
      // Pages behind a personal link: never stored by a browser or a proxy.
      reply.header('cache-control', 'no-store');
      reply.header('x-robots-tag', 'noindex, nofollow');
    });

    pages.setErrorHandler((err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
      const kind: LinkKind = request.url.startsWith('/activations/') ? 'activation' : 'delegation';
      if (err instanceof PageResponse) return sendPage(reply, err.page);
      if (err instanceof LinkError) {
        request.log.info({ reason: err.reason, link: kind }, 'customer link refused');
        return sendPage(reply, linkProblemPage(err.reason, kind));
      }
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        return sendPage(
          reply,
          problemPage(503, 'Please try again', 'The order did not answer in time. Nothing has been changed; please try again in a moment.'),
        );
      }
      const problem = problemOf(err);
      if (problem) return sendPage(reply, problem);
      request.log.error({ err }, 'customer page failed');
      return sendPage(
        reply,
        problemPage(500, 'Something went wrong', 'Something went wrong on our side; it has been logged. Please try again later.'),
      );
    });

    /** A POST must carry the cookie the page set and the same value in its hidden field; 403 before anything is read or written. */
    function checkCsrf(request: FastifyRequest<{ Params: { token: string } }>, linkPath: string): string {
      const cookie = csrfCookieOf(request.headers.cookie);
      if (!csrfMatches(cookie, fieldOf(request.body, CSRF_FIELD))) {
        request.log.warn('customer form refused: CSRF check failed');
        throw new PageResponse(
          problemPage(
            403,
            'This form could not be verified',
            'The form was sent without the check value of the page it came from (cookies may be blocked, or the page was opened in another browser). Nothing has been changed.',
            isWellFormedToken(request.params.token) ? linkPath : undefined,
          ),
        );
      }
      return cookie!;
    }

    function setCsrfCookie(request: FastifyRequest, reply: FastifyReply, linkPath: string): string {
      // Keep the value of a page already open in another tab, so its form still works.
      const value = csrfCookieOf(request.headers.cookie) ?? newCsrfValue();
      reply.header('set-cookie', csrfCookieHeader(value, linkPath, https));
      return value;
    }

    async function openDelegationPage(token: string): Promise<{ opened: OpenedDelegation; order: OrderSummary }> {
      const opened = await openDelegation(db, token);
      const { summary, status } = await loadOrderSummary(db, opened.orderId);
      if ((CLOSED_ORDER_STATUSES as readonly string[]).includes(status)) {
        throw new PageResponse(orderClosedPage(summary, status as (typeof CLOSED_ORDER_STATUSES)[number]));
      }
      return { opened, order: summary };
    }

    const routeOptions = { bodyLimit: FORM_BODY_LIMIT, schema: { hide: true } };

    pages.get<{ Params: { token: string } }>('/delegations/:token', routeOptions, async (request, reply) => {
      const { token } = request.params;
      const { opened, order } = await openDelegationPage(token);
      const csrfToken = setCsrfCookie(request, reply, `/delegations/${token}`);
      return sendPage(reply, delegationFormPage({ order, domain: opened.domain, smartAccounts: opened.smartAccounts, csrfToken }));
    });

    pages.post<{ Params: { token: string } }>('/delegations/:token', routeOptions, async (request, reply) => {
      const { token } = request.params;
      const linkPath = `/delegations/${token}`;
      const csrfToken = checkCsrf(request, linkPath);
      const { opened, order } = await openDelegationPage(token);
      const values = { destination: fieldOf(request.body, 'destination'), accountName: fieldOf(request.body, 'accountName') };
      const formView = { order, domain: opened.domain, smartAccounts: opened.smartAccounts, csrfToken, values };

      const parsed = choiceFrom(request.body, opened.smartAccounts);
      if (parsed.errors) return sendPage(reply, delegationFormPage({ ...formView, errors: parsed.errors }, 400));

      let status: OrderStatus;
      try {
        status = await submitCustomerChoice({ db, client }, token, parsed.choice);
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) {
          const refusal = refusalOf(err);
          request.log.info({ orderId: opened.orderId, refusal: refusal.message }, 'customer choice refused');
          // Shown on the form as it is now (a link used up meanwhile shows the "used" page instead).
          const again = await openDelegationPage(token);
          return sendPage(
            reply,
            delegationFormPage(
              { ...formView, order: again.order, smartAccounts: again.opened.smartAccounts, refusal: refusal.message },
              refusal.status,
            ),
          );
        }
        if (err instanceof WorkflowNotFoundError) {
          throw new PageResponse(problemPage(409, 'This order no longer takes a choice', 'The order is closed. Nothing has been changed.'));
        }
        throw err;
      }
      request.log.info({ orderId: opened.orderId, choice: parsed.choice.kind, phase: status.phase }, 'customer choice recorded');
      reply.header('set-cookie', clearedCsrfCookieHeader(linkPath, https));

      const accountName = status.customerAccountId
        ? ((await db<AccountRow>('accounts').where({ id: status.customerAccountId }).first('name'))?.name ?? status.customerAccountId)
        : parsed.choice.kind === 'create'
          ? parsed.choice.accountName
          : (parsed.account?.name ?? parsed.choice.accountId);
      const outcome =
        status.phase === 'AwaitingActivation'
          ? { kind: 'awaiting-activation' as const, accountName, created: parsed.choice.kind === 'create' }
          : {
              kind: 'deposited' as const,
              accountName,
              ...(parsed.choice.kind === 'existing' && parsed.choice.virtualAccountPath
                ? { virtualAccountPath: parsed.choice.virtualAccountPath }
                : {}),
            };
      return sendPage(reply, delegationDonePage(order, opened.domain, outcome));
    });

    pages.get<{ Params: { token: string } }>('/activations/:token', routeOptions, async (request, reply) => {
      const { token } = request.params;
      const { account } = await openActivation(db, token);
      const csrfToken = setCsrfCookie(request, reply, `/activations/${token}`);
      return sendPage(reply, activationFormPage({ account, csrfToken }));
    });

    pages.post<{ Params: { token: string } }>('/activations/:token', routeOptions, async (request, reply) => {
      const { token } = request.params;
      const linkPath = `/activations/${token}`;
      checkCsrf(request, linkPath);
      const { account } = await openActivation(db, token);
      await activateSmartAccount({ db, client, taskQueue: deps.config.temporal.taskQueue }, token);
      request.log.info({ accountId: account.id }, 'smart account activated through its link');
      reply.header('set-cookie', clearedCsrfCookieHeader(linkPath, https));
      return sendPage(reply, activationDonePage(account));
    });
  });
}
