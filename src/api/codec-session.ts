import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/knex';
import type { ApiKeyRow } from '../db/rows';
import { html, trusted, type SafeHtml } from '../web/html';
import { STYLE_SOURCE, STYLESHEET } from '../web/layout';
import { authenticate, type Principal } from './auth';
import type { ApiDependencies } from './dependencies';

/**
 * The operators' codec session for a Temporal UI that does not carry its own codec key (a
 * Temporal server the quick start did not start): signing in once at /codec/session sets an
 * HttpOnly, SameSite=Strict cookie naming the operator's key, signed and expiring; revoking the
 * key ends it.
 */
export const CODEC_COOKIE = 'lf_codec';
const SESSION_SECONDS = 8 * 3600;

export interface CodecSessions {
  principalOf(request: FastifyRequest): Promise<Principal | undefined>;
  registerRoutes(scope: FastifyInstance): void;
}

function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/** The operators' sign-in page: no script, its stylesheet by hash, framed by nobody. */
const page = (title: string, body: SafeHtml): string =>
  html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} – License fulfillment</title><style>${trusted(STYLESHEET)}</style></head><body>${body}</body></html>`.toString();

/** Sessions signed with a key of their own, derived from the current payload key. */
export function codecSessions(deps: ApiDependencies, payloadKey: Buffer | undefined): CodecSessions {
  const sessionKey = payloadKey
    ? Buffer.from(hkdfSync('sha256', payloadKey, Buffer.alloc(0), 'license-fulfillment codec session', 32))
    : undefined;
  const sign = (value: string) => createHmac('sha256', sessionKey!).update(value).digest('base64url');
  const secure = deps.config.publicBaseUrl.startsWith('https:');

  async function sessionPrincipal(db: Db, cookie: string | undefined): Promise<Principal | undefined> {
    if (!cookie || !sessionKey) return undefined;
    const [keyId, expires, mac] = cookie.split('.');
    if (!keyId || !expires || !mac || !/^\d+$/.test(keyId) || !/^\d+$/.test(expires)) return undefined;
    const expected = Buffer.from(sign(`${keyId}.${expires}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    if (Number(expires) * 1000 <= Date.now()) return undefined;
    const row = await db<ApiKeyRow>('api_keys').where({ id: keyId, role: 'operator' }).whereNull('revoked_at').first('id');
    return row ? { role: 'operator', keyId } : undefined;
  }

  function registerRoutes(scope: FastifyInstance): void {
    scope.addHook('onSend', async (request, reply) => {
      if (request.url.startsWith('/codec/session')) {
        reply.header(
          'content-security-policy',
          `default-src 'none'; style-src ${STYLE_SOURCE}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
        );
        reply.header('referrer-policy', 'no-referrer');
        reply.header('x-frame-options', 'DENY');
      }
    });

    scope.get('/session', { schema: { hide: true } }, async (_request, reply) => {
      reply.type('text/html; charset=utf-8').send(
        page(
          'Sign in to read payloads',
          html`<main><h1>Read encrypted payloads in the Temporal UI</h1>
<p>Order data is stored encrypted in Temporal. Sign in with an <strong>operator</strong> API key to let the Temporal UI at <a href="${deps.config.temporal.uiUrl}">${deps.config.temporal.uiUrl}</a> open it for ${SESSION_SECONDS / 3600} hours.</p>
<form method="post" action="/codec/session">
<label for="apiKey">Operator API key</label>
<input id="apiKey" name="apiKey" type="password" autocomplete="off" required>
<button type="submit">Sign in</button>
</form>
<p>In the UI, open the codec settings, set the endpoint <code>${deps.config.publicBaseUrl}/codec</code> and tick <em>Include cross-origin credentials</em>.</p></main>`,
        ),
      );
    });

    scope.post<{ Body: { apiKey?: string } }>('/session', { schema: { hide: true } }, async (request, reply) => {
      const principal = await authenticate(deps.db, `Bearer ${String(request.body?.apiKey ?? '')}`);
      if (!principal || principal.role !== 'operator' || !sessionKey) {
        return reply
          .status(principal ? 403 : 401)
          .type('text/html; charset=utf-8')
          .send(
            page(
              'Not signed in',
              html`<main><h1>Not signed in</h1><p>That is not a valid operator API key.</p><p><a href="/codec/session">Try again</a></p></main>`,
            ),
          );
      }
      const expires = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
      const value = `${principal.keyId}.${expires}.${sign(`${principal.keyId}.${expires}`)}`;
      reply.header(
        'set-cookie',
        `${CODEC_COOKIE}=${value}; Path=/codec; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}${secure ? '; Secure' : ''}`,
      );
      request.log.info({ principal: principal.keyId }, 'codec session opened');
      return reply
        .type('text/html; charset=utf-8')
        .send(
          page(
            'Signed in',
            html`<main><h1>Signed in</h1><p>The Temporal UI can now show order data for the next ${SESSION_SECONDS / 3600} hours.</p><p><a href="${deps.config.temporal.uiUrl}">Open the Temporal UI</a></p></main>`,
          ),
        );
    });
  }

  return { principalOf: (request) => sessionPrincipal(deps.db, cookieOf(request, CODEC_COOKIE)), registerRoutes };
}
