import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Ajv, { type Options as AjvOptions } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { redactUrl } from '../logging';
import { traceHttpRequests } from '../observability/http-tracing';
import { authenticate, type Principal } from './auth';
import type { ApiDependencies } from './dependencies';
import { BODY_LIMIT_BYTES, handleError, HttpError } from './errors';
import { registerAccountRoutes } from '../accounts/routes';
import { registerAdministrationRoutes } from '../accounts/admin-routes';
import { registerCodecRoutes } from './codec-routes';
import { registerCustomerPages } from '../orders/customer-page-routes';
import { registerPeoplePages } from '../accounts/people-page-routes';
import { registerHealthRoutes } from './health-routes';
import { recordRoutes } from './route-list';
import { registerLicenseTimeRoutes } from '../licensing/time-routes';
import { registerOrderRoutes } from '../orders/routes';
import { registerTransferBatchRoutes } from '../orders/transfer-routes';
import { registerViewRoutes } from '../licensing/view-routes';
import { registerLicensePages } from '../licensing/page-routes';
import { SHARED_SCHEMAS } from './schemas';
import { registerResendLinkRoute } from '../orders/link-routes';
import { registerEmailRoutes } from '../email/routes';
import { deviceRoutes } from '../licensing/routes-devices';
import { registerTokenRoutes } from '../licensing/routes-tokens';
import { registerLoadShedding } from './load-shedding';
import { apiKeyOf, rateLimiters } from './rate-limits';

export type { ApiDependencies };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every /v1 route. */
    principal: Principal;
  }
}

export const API_VERSION = '1.0.0';

/** The longest path parameter the router passes on to the route's schema, percent-encoded. */
export const MAX_PATH_PARAMETER_LENGTH = 1024;

/**
 * Request bodies are validated strictly: no type coercion ("5" is not 5), no silently dropped
 * unknown fields, and every error reported at once. Query strings and paths arrive as text, so
 * they are coerced to the schema's types.
 */
function validatorCompiler(): (route: { schema: object; httpPart?: string }) => ReturnType<Ajv['compile']> {
  const strict: AjvOptions = {
    allErrors: true,
    removeAdditional: false,
    useDefaults: true,
    coerceTypes: false,
    discriminator: true,
    verbose: true,
    strict: false,
  };
  const bodyAjv = addFormats(new Ajv(strict));
  const textAjv = addFormats(new Ajv({ ...strict, coerceTypes: 'array' }));
  for (const schema of SHARED_SCHEMAS) {
    bodyAjv.addSchema(schema);
    textAjv.addSchema(schema);
  }
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema);
}

/**
 * The HTTP API: orders and accounts for ordering systems, partners and operators (API key),
 * the customer pages behind the email links (the link's token), the OpenAPI document, and
 * health endpoints. Built without listening, so tests use the same app through `inject` or a port.
 */
export async function buildApi(deps: ApiDependencies): Promise<FastifyInstance> {
  // Typed here: Fastify infers its logger type from this option, and the app's type must stay the default.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: false,
    // The router's default (100 characters) refused valid IDs with a 414 before their schema was
    // asked: an account ID may be 128 characters, a member's address 254 (more once percent-encoded).
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
  });
  recordRoutes(app);
  // First, so the span covers the request from its first hook to its answer.
  if (deps.tracer) traceHttpRequests(app, deps.tracer);
  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: 'NotFound', message: `no route ${request.method} ${redactUrl(request.url)}` });
  });
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  // Before every hook but the trace's: a shed request costs nothing but its 503 (and its span).
  await registerLoadShedding(app, deps.config.loadShedding);

  await registerOpenApi(app, deps);

  registerHealthRoutes(app, deps);

  await app.register((v1) => registerKeyedRoutes(v1, deps), { prefix: '/v1' });
  // Product instances sign their requests instead of holding an API key (R16, R17).
  await app.register(deviceRoutes(deps), { prefix: '/v1' });

  await registerCustomerPages(app, deps);
  await registerPeoplePages(app, deps);
  await registerLicensePages(app, deps);
  await registerCodecRoutes(app, deps);

  return app;
}

/** Every /v1 route an API key opens: orders, accounts, the complete view, license use, tokens. */
async function registerKeyedRoutes(v1: FastifyInstance, deps: ApiDependencies): Promise<void> {
  // The API speaks JSON only: any other body is a 415, not a string that fails validation.
  v1.removeContentTypeParser(['text/plain']);
  // Counted before the key is looked up, by the key's digest: a throttled caller costs no query.
  const limiters = await rateLimiters(v1);
  for (const hook of limiters(deps.config.rateLimits.perApiKey, 'this API key', apiKeyOf)) v1.addHook('onRequest', hook);
  v1.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = await authenticate(deps.db, request.headers.authorization);
    if (!principal) {
      // A missing key and a wrong one are both 401, but the caller is told which it was.
      const message = request.headers.authorization
        ? 'the API key is not valid: unknown, revoked or malformed (Authorization: Bearer lfk_...)'
        : 'an API key is required: Authorization: Bearer lfk_...';
      throw new HttpError(401, 'Unauthorized', message);
    }
    request.principal = principal;
    const log = request.log.child({ principal: principalLabel(principal) });
    request.log = log;
    reply.log = log;
  });
  v1.addHook('onSend', async (_request, reply) => {
    if (reply.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="license-fulfillment"');
  });
  registerOrderRoutes(v1, deps);
  registerTransferBatchRoutes(v1, deps);
  registerResendLinkRoute(v1, deps);
  registerEmailRoutes(v1, deps);
  registerAccountRoutes(v1, deps);
  registerAdministrationRoutes(v1, deps);
  registerViewRoutes(v1, deps);
  registerLicenseTimeRoutes(v1, deps);
  registerTokenRoutes(v1, deps);
}

/** How the log names a caller: never the key, only whose it is. */
function principalLabel(principal: Principal): string {
  if (principal.role === 'operator') return 'operator';
  return principal.role === 'user' ? `user:${principal.userId}` : `${principal.role}:${principal.partnerId}`;
}

/** The OpenAPI document (/openapi.json) and Swagger UI (/docs). */
async function registerOpenApi(app: FastifyInstance, deps: ApiDependencies): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'License fulfillment API',
        version: API_VERSION,
        description:
          "Book software-license orders and follow them until their licenses are provisioned in the customer's Smart Account. " +
          "Every /v1 route needs `Authorization: Bearer <API key>`; a partner key sees its own orders, a distributor key also its resellers', an operator key everything. " +
          'Any route may answer 429 TooManyRequests (a per-key, per-device or per-address limit, counted in each API server) or 503 Overloaded (load shed): nothing was done, send the same request again after Retry-After.',
      },
      servers: [{ url: deps.config.publicBaseUrl }],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (lfk_...) issued by an operator' },
          device: {
            type: 'http',
            scheme: 'Device',
            description:
              "A device's credential (Authorization: Device <credential>), with X-Device-Timestamp and X-Device-Signature, its Ed25519 signature of the request (docs/DEVICES.md)",
          },
          deviceSession: {
            type: 'http',
            scheme: 'DeviceSession',
            description:
              'A device session ticket (Authorization: DeviceSession <ticket>), with X-Device-Timestamp and X-Device-Signature, the HMAC-SHA256 of the request under the session key (docs/DEVICES.md "Sessions")',
          },
        },
      },
      tags: [
        { name: 'orders', description: 'Booking and following orders' },
        { name: 'accounts', description: 'Smart Accounts, virtual accounts, holding-account members and role grants' },
        { name: 'administration', description: 'Partners, resellers, holding accounts and users (operators)' },
        { name: 'licenses', description: 'The complete view of a Smart Account: licenses, instances, tokens, alerts, events (R23)' },
        { name: 'people', description: "A user's own profile and API keys (R24)" },
        { name: 'license use', description: 'Alerts, overage agreements and true-ups, moves between virtual accounts (R20, R21, R25)' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'codec', description: 'The codec server: operators read the encrypted payloads in the Temporal UI and CLI (R14)' },
      ],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: false } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
