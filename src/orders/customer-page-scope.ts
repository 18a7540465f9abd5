import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import { WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LinkError } from '../accounts/customer-links';
import { STYLE_SOURCE } from '../web/layout';
import { FORM_BODY_LIMIT, PageResponse, problemOf, sendPage } from './customer-page-forms';
import { linkProblemPage, problemPage, type LinkKind } from './customer-pages';
import { registerPageHeaders } from '../web/page-headers';

export interface CustomerPageOptions {
  /** Requests per client IP per window on the link routes; 429 beyond (LINK_PAGE_RATE_LIMIT when absent, undefined: none). */
  rateLimit?: { max: number; timeWindowMs: number };
}

/**
 * 30 requests a minute per IP (LINK_PAGE_RATE_LIMIT's default): plenty for a person following a
 * link, few for someone guessing links. Behind a reverse proxy every client shares the proxy's IP
 * (trustProxy is off).
 */
export const CUSTOMER_PAGE_RATE_LIMIT = { max: 30, timeWindowMs: 60_000 };

/**
 * The customer pages' scope: urlencoded forms only, strict security headers (CSP without script,
 * no referrer so the token never leaks, no caching), a rate limit per client IP, and an error
 * handler that answers with a page.
 */
export async function secureCustomerPageScope(
  pages: FastifyInstance,
  options: { https: boolean; rateLimit?: CustomerPageOptions['rateLimit'] },
): Promise<void> {
  const limit = 'rateLimit' in options ? options.rateLimit : CUSTOMER_PAGE_RATE_LIMIT;
  const https = options.https;
  // Only urlencoded forms: JSON or multipart posts are refused with 415 before any handler runs.
  pages.removeAllContentTypeParsers();
  await pages.register(formbody, { bodyLimit: FORM_BODY_LIMIT });
  await registerPageHeaders(pages, { styleSource: STYLE_SOURCE, https });
  if (limit) {
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
  }
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
}
