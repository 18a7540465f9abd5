import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import { Type, type Static } from '@sinclair/typebox';
import type { Payload } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/knex';
import { AesGcmPayloadCodec, parseEncryptionKeys } from '../temporal/payload-codec';
import { html, trusted, type SafeHtml } from '../web/html';
import { STYLE_SOURCE, STYLESHEET } from '../web/layout';
import { authenticate, type Principal } from './auth';
import { errorResponses } from './schemas';
import { forbidden, HttpError } from './errors';
import type { ApiDependencies } from './dependencies';
import type { ApiKeyRow } from '../db/rows';

/**
 * The codec server (R14): Temporal stores every payload sealed, so the Temporal UI and CLI ask
 * this endpoint to open them for display. Only operators may: with their API key
 * (`temporal workflow show --codec-endpoint .../codec --codec-auth "Bearer lfk_..."`), or, for
 * the UI, with a session cookie they get by signing in once at /codec/session. The cookie is
 * HttpOnly and SameSite=Strict (the UI and the API are on the same site), names the operator's
 * key and expires; revoking the key ends it.
 */

const COOKIE = 'lf_codec';
const SESSION_SECONDS = 8 * 3600;

const PayloadJson = Type.Object(
  {
    metadata: Type.Optional(Type.Record(Type.String(), Type.String({ description: 'base64' }))),
    data: Type.Optional(Type.String({ description: 'base64' })),
  },
  { additionalProperties: false },
);
const PayloadsBody = Type.Object({ payloads: Type.Array(PayloadJson, { maxItems: 1000 }) }, { additionalProperties: false });
type PayloadsBodyType = Static<typeof PayloadsBody>;

function fromJson(p: Static<typeof PayloadJson>): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}
function toJson(p: Payload): Static<typeof PayloadJson> {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

export async function registerCodecRoutes(app: FastifyInstance, deps: ApiDependencies): Promise<void> {
  const keys = deps.config.payloadEncryptionKeys ? parseEncryptionKeys(deps.config.payloadEncryptionKeys) : [];
  const codec = keys.length ? new AesGcmPayloadCodec(keys) : undefined;
  // A key of its own for signing sessions, derived from the current payload key.
  const sessionKey = keys.length
    ? Buffer.from(hkdfSync('sha256', keys[0].key, Buffer.alloc(0), 'license-fulfillment codec session', 32))
    : undefined;
  const uiOrigin = new URL(deps.config.temporal.uiUrl).origin;
  const secure = deps.config.publicBaseUrl.startsWith('https:');

  const sign = (value: string) => createHmac('sha256', sessionKey!).update(value).digest('base64url');

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

  /** CORS for the Temporal UI's origin only, with credentials (the session cookie). */
  function allowUi(request: FastifyRequest, reply: FastifyReply) {
    reply.header('vary', 'Origin');
    if (request.headers.origin === uiOrigin) {
      reply.header('access-control-allow-origin', uiOrigin);
      reply.header('access-control-allow-credentials', 'true');
    }
  }

  await app.register(
    async (scope) => {
      await scope.register(formbody, { bodyLimit: 4096 });

      scope.addHook('onRequest', async (request, reply) => {
        allowUi(request, reply);
        reply.header('cache-control', 'no-store');
      });

      scope.options('/:operation', { schema: { hide: true } }, async (_request, reply) => {
        reply
          .header('access-control-allow-methods', 'POST')
          .header('access-control-allow-headers', 'content-type, x-namespace, authorization')
          .header('access-control-max-age', '600')
          .status(204)
          .send();
      });

      for (const operation of ['encode', 'decode'] as const) {
        scope.post<{ Body: PayloadsBodyType }>(
          `/${operation}`,
          {
            schema: {
              tags: ['codec'],
              operationId: `${operation}Payloads`,
              summary: operation === 'decode' ? 'Open sealed payloads for display (operators)' : 'Seal payloads (operators)',
              description: 'The Temporal codec server protocol. Operator API key (Bearer) or the session cookie from /codec/session.',
              security: [{ apiKey: [] }],
              body: PayloadsBody,
              response: { 200: PayloadsBody, ...errorResponses(400, 401, 403, 503) },
            },
          },
          async (request) => {
            const principal =
              (await authenticate(deps.db, request.headers.authorization)) ?? (await sessionPrincipal(deps.db, cookieOf(request, COOKIE)));
            if (!principal)
              throw new HttpError(401, 'Unauthorized', 'an operator API key (Bearer) or a codec session (/codec/session) is required');
            if (principal.role !== 'operator') throw forbidden('only operators may read or write sealed payloads');
            if (!codec) throw new HttpError(503, 'Unavailable', 'this API has no PAYLOAD_ENCRYPTION_KEYS');
            const payloads = request.body.payloads.map(fromJson);
            const result = operation === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
            request.log.info(
              { operation, payloads: payloads.length, principal: principal.keyId, namespace: request.headers['x-namespace'] },
              'codec',
            );
            return { payloads: result.map(toJson) };
          },
        );
      }

      /** The operators' sign-in page: no script, its stylesheet by hash, framed by nobody. */
      const page = (title: string, body: SafeHtml): string =>
        html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} – License fulfillment</title><style>${trusted(STYLESHEET)}</style></head><body>${body}</body></html>`.toString();
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
          `${COOKIE}=${value}; Path=/codec; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}${secure ? '; Secure' : ''}`,
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
    },
    { prefix: '/codec' },
  );
}
