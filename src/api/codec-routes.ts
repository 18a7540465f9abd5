import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AesGcmPayloadCodec, parseEncryptionKeys } from '../temporal/payload-codec';
import { authenticate, type Principal } from './auth';
import { fromJson, PayloadsBody, toJson, type PayloadsBodyType } from './codec-payloads';
import { codecSessions } from './codec-session';
import { errorResponses } from './schemas';
import { forbidden, HttpError } from './errors';
import type { ApiDependencies } from './dependencies';

/**
 * The codec server (R14): Temporal stores every payload sealed, so the Temporal UI and CLI ask
 * this endpoint to open them for display. Only operators may, three ways:
 *   - `/codec/{encode,decode}` with their API key as Bearer (the CLI's `--codec-auth`);
 *   - the same with the session cookie from /codec/session (a UI set up by hand);
 *   - `/codec/ui/<operator key>/{encode,decode}`, called from the Temporal UI's origin only: the
 *     endpoint a UI is configured with carries its own operator key, because the UI cannot send
 *     a header, and a cookie of the API's host is not the UI's to send. `npm start` mints such a
 *     key per start, gives it to the dev server's `--ui-codec-endpoint` and revokes it at stop,
 *     so whoever can open that UI can read its payloads, and nobody else
 *     (docs/SECURITY.md, "Reading payloads").
 */
type Operation = 'encode' | 'decode';

const schemaOf = (operation: Operation, description: string, hide = false) => ({
  hide,
  tags: ['codec'],
  operationId: hide ? `${operation}PayloadsForTemporalUi` : `${operation}Payloads`,
  summary: operation === 'decode' ? 'Open sealed payloads for display (operators)' : 'Seal payloads (operators)',
  description,
  security: [{ apiKey: [] }],
  body: PayloadsBody,
  response: { 200: PayloadsBody, ...errorResponses(400, 401, 403, 503) },
});

/** CORS preflight: the UI posts JSON with an X-Namespace header. */
async function preflight(_request: FastifyRequest, reply: FastifyReply) {
  reply
    .header('access-control-allow-methods', 'POST')
    .header('access-control-allow-headers', 'content-type, x-namespace, authorization')
    .header('access-control-max-age', '600')
    .status(204)
    .send();
}

export async function registerCodecRoutes(app: FastifyInstance, deps: ApiDependencies): Promise<void> {
  const keys = deps.config.payloadEncryptionKeys ? parseEncryptionKeys(deps.config.payloadEncryptionKeys) : [];
  const codec = keys.length ? new AesGcmPayloadCodec(keys) : undefined;
  const sessions = codecSessions(deps, keys[0]?.key);
  const uiOrigin = new URL(deps.config.temporal.uiUrl).origin;

  /** CORS for the Temporal UI's origin only, with credentials (the session cookie). */
  function allowUi(request: FastifyRequest, reply: FastifyReply) {
    reply.header('vary', 'Origin');
    if (request.headers.origin === uiOrigin) {
      reply.header('access-control-allow-origin', uiOrigin);
      reply.header('access-control-allow-credentials', 'true');
    }
  }

  async function run(operation: Operation, principal: Principal | undefined, request: FastifyRequest<{ Body: PayloadsBodyType }>) {
    if (!principal)
      throw new HttpError(401, 'Unauthorized', 'an operator API key (Bearer) or a codec session (/codec/session) is required');
    if (principal.role !== 'operator') throw forbidden('only operators may read or write sealed payloads');
    if (!codec) throw new HttpError(503, 'Unavailable', 'this API has no PAYLOAD_ENCRYPTION_KEYS');
    const payloads = (request.body?.payloads ?? []).map(fromJson);
    const result = operation === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
    request.log.info(
      { operation, payloads: payloads.length, principal: principal.keyId, namespace: request.headers['x-namespace'] },
      'codec',
    );
    return { payloads: result.map(toJson) };
  }

  await app.register(
    async (scope) => {
      await scope.register(formbody, { bodyLimit: 4096 });
      scope.addHook('onRequest', async (request, reply) => {
        allowUi(request, reply);
        reply.header('cache-control', 'no-store');
      });
      scope.options('/:operation', { schema: { hide: true } }, preflight);
      scope.options('/ui/:key/:operation', { schema: { hide: true } }, preflight);

      for (const operation of ['encode', 'decode'] as const) {
        scope.post<{ Body: PayloadsBodyType }>(
          `/${operation}`,
          {
            schema: schemaOf(
              operation,
              'The Temporal codec server protocol. Operator API key (Bearer) or the session cookie from /codec/session.',
            ),
          },
          async (request) =>
            run(operation, (await authenticate(deps.db, request.headers.authorization)) ?? (await sessions.principalOf(request)), request),
        );
        scope.post<{ Body: PayloadsBodyType; Params: { key: string } }>(
          `/ui/:key/${operation}`,
          {
            schema: schemaOf(operation, "The Temporal UI's codec endpoint: an operator key in the path, from the UI's origin only.", true),
          },
          async (request) => {
            if (request.headers.origin !== uiOrigin) {
              throw forbidden(`this endpoint answers the Temporal UI at ${uiOrigin} only; use /codec/${operation} with a Bearer key`);
            }
            return run(operation, await authenticate(deps.db, `Bearer ${request.params.key}`), request);
          },
        );
      }
      sessions.registerRoutes(scope);
    },
    { prefix: '/codec' },
  );
}
