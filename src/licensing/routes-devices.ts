import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, FastifyRequest, LogLevel } from 'fastify';
import type { ApiDependencies } from '../api/dependencies';
import { badRequest } from '../api/errors';
import { errorResponses } from '../api/schemas';
import { clientIpOf, deviceCredentialOf, deviceLimitKeyOf, rateLimiters, type RateLimitHook } from '../api/rate-limits';
import { admitDeviceRequest, authenticateDevice, forgetOldSignatures, type DeviceCaller } from './device-auth';
import { openSession, sessionOfTicket, type OpenedSession } from './device-sessions';
import { KnownSkus } from './known-skus';
import { LicenseRefusal } from './refusals';
import { registerInstance, renewCredential } from './registration';
import { REPORT_BATCHES_IN_FLIGHT, UsageReportBatcher } from './report-queue';
import { reportUsage } from './reports';
import {
  CredentialResponse,
  InstanceParams,
  OpenSessionBody,
  RegisterBody,
  SessionResponse,
  SigningKeysResponse,
  UsageAnswerResponse,
  UsageReportBody,
  type InstanceParamsType,
  type OpenSessionBodyType,
  type RegisterBodyType,
  type UsageReportBodyType,
  invalidSkus,
} from './schemas';
import { parseSigningKeys, type SigningKeys } from './signing';

const tags = ['devices'];
/** A report names at most a few hundred SKUs: 64 KB is plenty, and bounds what an abuser can send. */
const DEVICE_BODY_LIMIT = 64 * 1024;
const SWEEP_INTERVAL_MS = 60_000;

/**
 * `level` when the logger is more verbose than it (info, debug), else undefined: the logger's own.
 * Undefined keeps Fastify from giving each request's child logger a level of its own, which costs.
 */
function atMostAsVerboseAs(log: FastifyBaseLogger, level: LogLevel): LogLevel | undefined {
  const values = (log as { levels?: { values: Record<string, number> } }).levels?.values;
  const current = values?.[log.level];
  const wanted = values?.[level];
  return current !== undefined && wanted !== undefined && current < wanted ? level : undefined;
}

/**
 * The routes product instances call (R16, R17), in a scope of their own: no API key. Registration
 * presents a token; every other request is signed by the device (src/licensing/device-auth.ts).
 * The signing-key list is public, so a device can check answers offline.
 */
export function deviceRoutes(deps: ApiDependencies): FastifyPluginAsync {
  return async (app) => {
    const keys = deps.config.licenseSigningKeys ? parseSigningKeys(deps.config.licenseSigningKeys) : undefined;
    const requireKeys = (): SigningKeys => {
      if (!keys) throw new LicenseRefusal('SigningNotConfigured', 'this service has no LICENSE_SIGNING_KEYS: devices cannot be served');
      return keys;
    };
    const rawBodies = new WeakMap<FastifyRequest, string>();
    const callers = new WeakMap<FastifyRequest, DeviceCaller>();

    // The device signs the body's exact bytes, so they are kept as they came.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: DEVICE_BODY_LIMIT }, (request, body, done) => {
      rawBodies.set(request, body as string);
      try {
        done(null, body === '' ? undefined : JSON.parse(body as string));
      } catch {
        done(Object.assign(new Error('the body is not valid JSON'), { statusCode: 400, code: 'InvalidJson' }), undefined);
      }
    });

    /** Signed requests: the credential and signature are checked before the body is validated. */
    const authenticate = (request: FastifyRequest<{ Params: InstanceParamsType }>, _reply: unknown, done: (err?: Error) => void) => {
      try {
        const caller = authenticateDevice(requireKeys(), {
          method: request.method,
          path: request.url,
          body: rawBodies.get(request) ?? '',
          headers: request.headers,
        });
        if (caller.claims.instanceId !== request.params.instanceId) {
          throw new LicenseRefusal(
            'NotThisInstance',
            `instanceId: an instance reports only for itself (this credential is ${caller.claims.instanceId})`,
          );
        }
        callers.set(request, caller);
        done();
      } catch (err) {
        done(err as Error);
      }
    };

    // Spent signatures older than the clock-skew window are forgotten at most once a minute, started
    // by a signed request's handler (no hook on every answer) and not waited for.
    let lastSweep = 0;
    const sweepOldSignatures = (log: FastifyBaseLogger): void => {
      const now = Date.now();
      if (now - lastSweep < SWEEP_INTERVAL_MS) return;
      lastSweep = now;
      forgetOldSignatures(deps.db).catch((err: unknown) => log.warn({ err }, 'forgetting old device signatures failed'));
    };

    // Group commit (USAGE_REPORT_BATCH_SIZE > 1): reports arriving together share one transaction.
    const batcher =
      keys && deps.config.usageReportBatchSize > 1
        ? new UsageReportBatcher(deps.db, keys, {
            batchSize: deps.config.usageReportBatchSize,
            batchesInFlight: REPORT_BATCHES_IN_FLIGHT,
            onBatchFailed: (err, reports) => app.log.warn({ err, reports }, 'a batch of usage reports failed as a whole; each went alone'),
          })
        : undefined;
    // Counted before the signature is checked: a throttled device costs neither crypto nor a query.
    const limiters = await rateLimiters(app);
    const tools = {
      requireKeys,
      authenticate,
      sweepOldSignatures,
      callerOf: (request: FastifyRequest) => callers.get(request)!,
      batcher,
      knownSkus: new KnownSkus(deps.db),
      perCredential: limiters(deps.config.rateLimits.perDeviceCredential, 'this device credential', byCredential(keys), { headers: false }),
      perClientIp: limiters(deps.config.rateLimits.deviceRegistrationPerIp, 'this client address', clientIpOf, { headers: false }),
      reportLogLevel: atMostAsVerboseAs(app.log, 'warn'),
    };
    registerOpenRoutes(app, deps, tools);
    registerSignedRoutes(app, deps, tools);
    registerSessionRoute(app, deps, tools);
  };
}

/** DEVICE_RATE_LIMIT's counter of a request: its credential's, or on a session the one of the credential that opened it. */
function byCredential(keys: SigningKeys | undefined): (request: FastifyRequest) => string {
  return deviceCredentialOf((ticket) => (keys ? sessionOfTicket(keys, ticket)?.limitKey : undefined));
}

interface DeviceRouteTools {
  requireKeys: () => SigningKeys;
  authenticate: (request: FastifyRequest<{ Params: InstanceParamsType }>, reply: unknown, done: (err?: Error) => void) => void;
  /** Forgets old spent signatures now and then (at most once a minute), not waited for. */
  sweepOldSignatures: (log: FastifyBaseLogger) => void;
  /** The usage-report route's log level: warn, or the service's when that is quieter. */
  reportLogLevel?: LogLevel;
  callerOf: (request: FastifyRequest) => DeviceCaller;
  batcher?: UsageReportBatcher;
  knownSkus: KnownSkus;
  /** DEVICE_RATE_LIMIT, per credential: the signed routes. */
  perCredential: RateLimitHook[];
  /** DEVICE_REGISTRATION_RATE_LIMIT, per client IP: the routes without a credential. */
  perClientIp: RateLimitHook[];
}

/** The published keys and registration: no credential yet. */
function registerOpenRoutes(app: FastifyInstance, deps: ApiDependencies, tools: DeviceRouteTools): void {
  const { db } = deps;

  app.get(
    '/license-signing-keys',
    {
      onRequest: tools.perClientIp,
      schema: {
        tags,
        operationId: 'listLicenseSigningKeys',
        summary: 'The public keys that sign credentials and usage answers: a device checks answers offline against them',
        response: { 200: SigningKeysResponse, ...errorResponses(429, 503) },
      },
    },
    async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(tools.requireKeys().published),
  );

  app.post<{ Body: RegisterBodyType }>(
    '/devices/registrations',
    {
      onRequest: tools.perClientIp,
      bodyLimit: DEVICE_BODY_LIMIT,
      schema: {
        tags,
        operationId: 'registerProductInstance',
        summary: 'Register a product instance with a registration token and its identity (R16)',
        description:
          '201 registered (one token use spent); 200 when this UDI was registered already with the same public key (nothing spent). ' +
          '401 UnknownToken; 403 TokenExpired, TokenRevoked, HoldingAccountToken, AccountNotActive; 409 TokenUsedUp, UdiRegisteredWithAnotherKey, UdiRegisteredElsewhere (another VA: move it instead).',
        body: RegisterBody,
        response: { 200: CredentialResponse, 201: CredentialResponse, ...errorResponses(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const registered = await registerInstance(db, tools.requireKeys(), request.body);
      return reply
        .status(registered.alreadyRegistered ? 200 : 201)
        .header('cache-control', 'no-store')
        .send({ ...registered, expiresAt: registered.expiresAt.toISOString(), renewAfter: registered.renewAfter.toISOString() });
    },
  );
}

/** What a registered instance asks, signed with its key or on a session: usage reports, credential renewals, sessions. */
function registerSignedRoutes(app: FastifyInstance, deps: ApiDependencies, tools: DeviceRouteTools): void {
  const { db } = deps;

  app.post<{ Params: InstanceParamsType; Body: UsageReportBodyType }>(
    '/devices/:instanceId/usage-reports',
    {
      bodyLimit: DEVICE_BODY_LIMIT,
      // A fleet reports thousands of times a second: no info line per request and per answer
      // (docs/OBSERVABILITY.md); warnings and errors are still logged.
      ...(tools.reportLogLevel ? { logLevel: tools.reportLogLevel } : {}),
      onRequest: tools.perCredential,
      preValidation: tools.authenticate,
      schema: {
        tags,
        operationId: 'reportUsage',
        security: [{ device: [] }, { deviceSession: [] }],
        summary: 'Report what this instance uses (R17): the signed answer states Authorized, Overage or OutOfCompliance per SKU',
        description:
          'Signed by the device (headers authorization: Device <credential>, x-device-timestamp, x-device-signature), ' +
          'or on a session (authorization: DeviceSession <ticket>, x-device-signature its HMAC). ' +
          'The same reportId again returns the stored answer. 401 InvalidCredential, StaleRequest, ReplayedRequest, InvalidSignature, InvalidSession, SessionExpired; ' +
          '403 NotThisInstance, InstanceRemoved; 400 for a malformed report; 422 UnknownSku for a SKU no license exists of, ' +
          'named as usage.<sku> (a SKU that exists but this VA does not hold is answered OutOfCompliance). ' +
          'Nothing changes on a 400 or 422, and the signature is not spent: the report can be sent again corrected.',
        params: InstanceParams,
        body: UsageReportBody,
        response: { 200: UsageAnswerResponse, ...errorResponses(400, 401, 403, 422, 429, 503) },
      },
    },
    async (request) => {
      const badSkus = invalidSkus(request.body.usage);
      if (badSkus.length > 0) throw badRequest(badSkus);
      // Before the report is queued: a refused report spends no signature and writes nothing.
      await tools.knownSkus.check(request.body.usage);
      tools.sweepOldSignatures(request.log);
      if (tools.batcher) return tools.batcher.submit(tools.callerOf(request), request.body);
      return reportUsage(db, tools.requireKeys(), tools.callerOf(request), request.body);
    },
  );

  app.post<{ Params: InstanceParamsType }>(
    '/devices/:instanceId/credential-renewals',
    {
      bodyLimit: DEVICE_BODY_LIMIT,
      onRequest: tools.perCredential,
      preValidation: tools.authenticate,
      schema: {
        tags,
        operationId: 'renewCredential',
        security: [{ device: [] }, { deviceSession: [] }],
        summary: "Renew this instance's credential (R16): a fresh one, valid a year from now",
        params: InstanceParams,
        response: { 200: CredentialResponse, ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      tools.sweepOldSignatures(request.log);
      const renewed = await renewCredential(db, tools.requireKeys(), tools.callerOf(request));
      return reply.header('cache-control', 'no-store').send({
        ...renewed,
        expiresAt: renewed.expiresAt.toISOString(),
        renewAfter: renewed.renewAfter.toISOString(),
      });
    },
  );
}

/**
 * A session (src/licensing/device-sessions.ts), opened with the device's Ed25519 signature only:
 * later requests carry an HMAC under the agreed key.
 */
function registerSessionRoute(app: FastifyInstance, deps: ApiDependencies, tools: DeviceRouteTools): void {
  const { db } = deps;
  app.post<{ Params: InstanceParamsType; Body: OpenSessionBodyType }>(
    '/devices/:instanceId/sessions',
    {
      bodyLimit: DEVICE_BODY_LIMIT,
      onRequest: tools.perCredential,
      preValidation: tools.authenticate,
      schema: {
        tags,
        operationId: 'openDeviceSession',
        summary:
          'Open a session (docs/DEVICES.md "Sessions"): later requests carry an HMAC under the agreed key instead of an Ed25519 signature',
        description:
          'Signed by the device with its Ed25519 key (Authorization: Device <credential>); a session cannot open another. ' +
          "The body is the device's fresh X25519 public key; the session key is HKDF-SHA256 of the X25519 shared secret " +
          "(salt the instance ID, info license-device-session-v1, the device's and the server's public keys). " +
          'Later requests send Authorization: DeviceSession <ticket> and X-Device-Signature = base64url HMAC-SHA256(session key, the signing input), ' +
          'refused 401 InvalidSession (not a ticket of this service) or SessionExpired. Nothing is stored: the ticket holds the session. ' +
          '401 InvalidCredential, StaleRequest, ReplayedRequest, InvalidSignature; 403 NotThisInstance, InstanceRemoved.',
        security: [{ device: [] }],
        params: InstanceParams,
        body: OpenSessionBody,
        response: { 201: SessionResponse, ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const caller = tools.callerOf(request);
      if (caller.viaSession) {
        throw new LicenseRefusal(
          'InvalidCredential',
          'header authorization: a session is opened with "Device <credential>" and its signature, not on a session',
        );
      }
      // A key that is no X25519 key is a 400 before anything is spent.
      const opened = openSessionOr400(tools.requireKeys(), caller, request, deps.config.deviceSessionTtlMs);
      tools.sweepOldSignatures(request.log);
      // The signature is spent, and a removed instance or a revoked credential refused, as on any signed request.
      await db.transaction((trx) => admitDeviceRequest(trx, caller));
      return reply.status(201).header('cache-control', 'no-store').send(opened);
    },
  );
}

/** The session for the device's X25519 key in the body, counted against the credential it was opened with. */
function openSessionOr400(
  keys: SigningKeys,
  caller: DeviceCaller,
  request: FastifyRequest<{ Body: OpenSessionBodyType }>,
  ttlMs: number,
): OpenedSession {
  const credential = /^Device\s+(\S+)$/.exec(request.headers.authorization ?? '')![1];
  try {
    return openSession(keys, { claims: caller.claims, limitKey: deviceLimitKeyOf(credential) }, request.body.publicKey, ttlMs);
  } catch {
    throw badRequest([{ field: 'publicKey', reason: 'must be a usable X25519 public key' }]);
  }
}
