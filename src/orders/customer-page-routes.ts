import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  activateSmartAccount,
  openActivation,
  openDelegation,
  submitCustomerChoice,
  type OpenedDelegation,
  type SmartAccountChoice,
} from '../accounts/customer-links';
import type { ApiDependencies } from '../api/dependencies';
import type { Db } from '../db/knex';
import type { AccountRow } from '../db/rows';
import { isWellFormedToken } from '../security/tokens';
import { clearedCsrfCookieHeader, csrfCookieHeader, csrfCookieOf, csrfMatches, newCsrfValue } from '../web/csrf';
import {
  CLOSED_ORDER_STATUSES,
  FORM_BODY_LIMIT,
  PageResponse,
  choiceFrom,
  fieldOf,
  loadOrderSummary,
  refusalOf,
  sendPage,
} from './customer-page-forms';
import { secureCustomerPageScope, type CustomerPageOptions } from './customer-page-scope';
import {
  CSRF_FIELD,
  activationDonePage,
  activationFormPage,
  delegationDonePage,
  delegationFormPage,
  orderClosedPage,
  problemPage,
  type OrderSummary,
} from './customer-pages';
import type { OrderStatus } from './order-lifecycle';
import type { CustomerChoice } from './workflow-api';

export { CUSTOMER_PAGE_RATE_LIMIT, type CustomerPageOptions } from './customer-page-scope';

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

type DelegationOutcome = Parameters<typeof delegationDonePage>[2];

const routeOptions = { bodyLimit: FORM_BODY_LIMIT, schema: { hide: true } };

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

function setCsrfCookie(request: FastifyRequest, reply: FastifyReply, linkPath: string, https: boolean): string {
  // Keep the value of a page already open in another tab, so its form still works.
  const value = csrfCookieOf(request.headers.cookie) ?? newCsrfValue();
  reply.header('set-cookie', csrfCookieHeader(value, linkPath, https));
  return value;
}

async function openDelegationPage(db: Db, token: string): Promise<{ opened: OpenedDelegation; order: OrderSummary }> {
  const opened = await openDelegation(db, token);
  const { summary, status } = await loadOrderSummary(db, opened.orderId);
  if ((CLOSED_ORDER_STATUSES as readonly string[]).includes(status)) {
    throw new PageResponse(orderClosedPage(summary, status as (typeof CLOSED_ORDER_STATUSES)[number]));
  }
  return { opened, order: summary };
}

/** What the done page says: the account the licenses went to, and whether it waits for activation. */
async function delegationOutcome(
  db: Db,
  status: OrderStatus,
  parsed: { choice: CustomerChoice; account?: SmartAccountChoice },
): Promise<DelegationOutcome> {
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
  return outcome;
}

/** POST /delegations/:token: the contact's choice, checked on the page, then by the order's workflow. */
async function submitDelegationForm(
  deps: ApiDependencies,
  https: boolean,
  request: FastifyRequest<{ Params: { token: string } }>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const { db, client } = deps;
  const { token } = request.params;
  const linkPath = `/delegations/${token}`;
  const csrfToken = checkCsrf(request, linkPath);
  const { opened, order } = await openDelegationPage(db, token);
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
      const again = await openDelegationPage(db, token);
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

  const outcome = await delegationOutcome(db, status, parsed);
  return sendPage(reply, delegationDonePage(order, opened.domain, outcome));
}

export async function registerCustomerPages(app: FastifyInstance, deps: ApiDependencies, options: CustomerPageOptions = {}): Promise<void> {
  const https = deps.config.publicBaseUrl.startsWith('https:');
  const { db, client } = deps;

  // An encapsulated scope: the plugins, parsers, hooks and error handler apply to these routes only, never to /v1.
  await app.register(async (pages) => {
    // LINK_PAGE_RATE_LIMIT unless the caller sets its own (undefined: no limit).
    const rateLimit = 'rateLimit' in options ? options.rateLimit : deps.config.rateLimits.linkPagesPerIp;
    await secureCustomerPageScope(pages, { https, rateLimit });

    pages.get<{ Params: { token: string } }>('/delegations/:token', routeOptions, async (request, reply) => {
      const { token } = request.params;
      const { opened, order } = await openDelegationPage(db, token);
      const csrfToken = setCsrfCookie(request, reply, `/delegations/${token}`, https);
      return sendPage(reply, delegationFormPage({ order, domain: opened.domain, smartAccounts: opened.smartAccounts, csrfToken }));
    });

    pages.post<{ Params: { token: string } }>('/delegations/:token', routeOptions, (request, reply) =>
      submitDelegationForm(deps, https, request, reply),
    );

    pages.get<{ Params: { token: string } }>('/activations/:token', routeOptions, async (request, reply) => {
      const { token } = request.params;
      const { account } = await openActivation(db, token);
      const csrfToken = setCsrfCookie(request, reply, `/activations/${token}`, https);
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
