import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/knex';
import { signInFor } from './after-sign-in';
import { appProblemPage, APP_STYLE_SOURCE, renderAppDocument, type AppPage } from './app-layout';
import { csrfMatches, newCsrfValue } from './csrf';
import { cookieOf, sessionUser } from './session';
import { registerPageHeaders } from './page-headers';

/**
 * The shared frame of the pages people sign in to (R23, R24): urlencoded forms only, a strict
 * CSP (no script, the one stylesheet by hash), no caching, a rate limit per IP, double-submit
 * CSRF on every POST (cookie `lf_app_csrf` for the whole site, separate from the per-link cookie
 * of the order pages), and the signed-in user from the session cookie.
 */
export const APP_CSRF_COOKIE = 'lf_app_csrf';
export const CSRF_FIELD = 'csrf';
const CSRF_VALUE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const FORM_BODY_LIMIT = 16 * 1024;

/** A page (or a redirect) to answer with, thrown from anywhere in a handler. */
export class PageAnswer extends Error {
  constructor(
    readonly page: AppPage | undefined,
    readonly redirectTo?: string,
  ) {
    super(page?.title ?? `redirect to ${redirectTo}`);
    this.name = 'PageAnswer';
  }
}

export function sendAppPage(reply: FastifyReply, page: AppPage): FastifyReply {
  return reply.status(page.status).type('text/html; charset=utf-8').send(renderAppDocument(page));
}

export interface PageTools {
  https: boolean;
  /** The CSRF value for this browser's forms (set as a cookie when missing). */
  csrfFor(request: FastifyRequest, reply: FastifyReply): string;
  /** Refuses (403 page) a POST whose form and cookie do not carry the same CSRF value. */
  checkCsrf(request: FastifyRequest): void;
  /** The signed-in user, or a redirect to the sign-in page. */
  signedIn(request: FastifyRequest): Promise<{ userId: string; sessionValue: string }>;
}

/** One value of a form field: undefined when missing or sent more than once. */
export function fieldOf(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

function problemOf(err: FastifyError | Error): AppPage | undefined {
  const statusCode = (err as FastifyError).statusCode;
  if (statusCode === 429)
    return appProblemPage(429, 'Too many requests', 'Too many requests came from your network. Wait a minute and try again.');
  if (statusCode === 503) {
    // Shed under load (src/api/load-shedding.ts): nothing was done.
    return appProblemPage(503, 'Please try again', 'The service is busy right now. Nothing has been changed; try again in a moment.');
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return appProblemPage(
      statusCode,
      'The request could not be read',
      'These pages accept only their own web forms. Nothing has been changed.',
    );
  }
  return undefined;
}

type PageScopeDeps = { db: Db; publicBaseUrl: string; rateLimit?: { max: number; timeWindowMs: number } };

export async function registerPageScope(
  app: FastifyInstance,
  deps: PageScopeDeps,
  routes: (pages: FastifyInstance, tools: PageTools) => void,
): Promise<void> {
  const https = deps.publicBaseUrl.startsWith('https:');
  await app.register(async (pages) => {
    // Pages, not API operations: kept out of the OpenAPI document.
    pages.addHook('onRoute', (route) => {
      route.schema = { ...(route.schema ?? {}), hide: true };
    });
    pages.removeAllContentTypeParsers();
    // Undefined given on purpose (the setting is off): no limit.
    await registerPageProtections(pages, https, 'rateLimit' in deps ? deps.rateLimit : { max: 120, timeWindowMs: 60_000 });
    pages.setErrorHandler(answerPageError);
    routes(pages, pageTools(deps.db, https));
  });
}

/** Form bodies, security headers (CSP, HSTS on https), the rate limit and no caching. */
async function registerPageProtections(
  pages: FastifyInstance,
  https: boolean,
  limit: { max: number; timeWindowMs: number } | undefined,
): Promise<void> {
  await pages.register(formbody, { bodyLimit: FORM_BODY_LIMIT });
  await registerPageHeaders(pages, { styleSource: APP_STYLE_SOURCE, https });
  if (limit) {
    await pages.register(rateLimit, {
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      errorResponseBuilder: (_request, context) =>
        new PageAnswer(
          appProblemPage(429, 'Too many requests', `Too many requests came from your network. Wait ${context.after} and try again.`),
        ),
    });
  }
  pages.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-robots-tag', 'noindex, nofollow');
  });
}

/** A thrown PageAnswer, a 4xx as a page of its own, anything else logged and shown as a 500 page. */
function answerPageError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof PageAnswer) {
    if (err.redirectTo) return reply.status(303).header('location', err.redirectTo).send();
    return sendAppPage(reply, err.page!);
  }
  const problem = problemOf(err);
  if (problem) return sendAppPage(reply, problem);
  request.log.error({ err }, 'page failed');
  return sendAppPage(
    reply,
    appProblemPage(500, 'Something went wrong', 'Something went wrong on our side; it has been logged. Please try again later.'),
  );
}

function pageTools(db: Db, https: boolean): PageTools {
  const csrfCookie = (request: FastifyRequest) => {
    const value = cookieOf(request.headers.cookie, APP_CSRF_COOKIE);
    return value && CSRF_VALUE_PATTERN.test(value) ? value : undefined;
  };
  return {
    https,
    csrfFor(request, reply) {
      const existing = csrfCookie(request);
      if (existing) return existing;
      const value = newCsrfValue();
      reply.header('set-cookie', `${APP_CSRF_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${https ? '; Secure' : ''}`);
      return value;
    },
    checkCsrf(request) {
      if (!csrfMatches(csrfCookie(request), fieldOf(request.body, CSRF_FIELD))) {
        request.log.warn('page form refused: CSRF check failed');
        throw new PageAnswer(
          appProblemPage(
            403,
            'This form could not be verified',
            'The form was sent without the check value of the page it came from (cookies may be blocked, or the page came from another site). Nothing has been changed.',
          ),
        );
      }
    },
    async signedIn(request) {
      const user = await sessionUser(db, request.headers.cookie);
      // Back to the page asked for once signed in (a GET: a form's POST is not to be repeated).
      if (!user) throw new PageAnswer(undefined, request.method === 'GET' ? signInFor(request.url) : '/sign-in');
      return user;
    },
  };
}
