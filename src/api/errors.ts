import {
  isGrpcDeadlineError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ErrorObject } from 'ajv';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PlacementRefusal } from '../accounts/placement-rules';
import { databaseTimeoutOf, isDatabaseUnavailable } from '../db/unavailable';
import { ValidationError, type FieldError } from '../orders/order';
import type { RefusalType } from '../common/refusals';
import type { ErrorBody } from './schemas';

/** An HTTP answer other than success, with a machine-readable error code. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly fieldErrors?: FieldError[],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The API's request body limit (src/api/server.ts). */
export const BODY_LIMIT_BYTES = 1024 * 1024;
const BODY_LIMIT_TEXT = '1 MiB';

export const notFound = (what: string) => new HttpError(404, 'NotFound', `${what} does not exist`);
export const forbidden = (message: string) => new HttpError(403, 'Forbidden', message);
/** The order's workflow did not answer within the API's deadline (no worker, or an outage). */
export const unavailable = () => new HttpError(503, 'Unavailable', 'the order did not answer in time; try again');
/** Seconds a client is told to wait (Retry-After) when the database cannot be reached. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;
const fieldsMessage = (errors: FieldError[]) => 'Invalid request: ' + errors.map((e) => `${e.field}: ${e.reason}`).join('; ');
export const badRequest = (errors: FieldError[]) => new HttpError(400, 'ValidationFailed', fieldsMessage(errors), errors);
/** Well-formed, but naming something that does not exist (an unknown SKU): 422 with the fields. */
export const unprocessable = (code: string, errors: FieldError[]) => new HttpError(422, code, fieldsMessage(errors), errors);

/** How each business refusal reads over HTTP: 404 unknown, 403 not allowed, 422 not usable. */
const REFUSAL_STATUS: Record<RefusalType, number> = {
  UnknownPartner: 422,
  UnknownAccount: 422,
  UnknownVirtualAccount: 422,
  AccountNotActive: 422,
  NotAConsumptionTarget: 422,
  NotAHoldingAccount: 422,
  NotASmartAccount: 422,
  NotAuthorized: 403,
  UnknownOrder: 404,
  SmartAccountRequestRefused: 422,
  InvalidLink: 422,
  DomainMismatch: 422,
  UnknownUser: 422,
  UnknownTransferBatch: 404,
  LastAccountAdmin: 409,
};

/** "lines[0].quantity" from Ajv's "/lines/0/quantity" plus the property a keyword names. */
function fieldOf(error: ErrorObject): string {
  const parts = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra =
    (error.params as { missingProperty?: string; additionalProperty?: string }).missingProperty ??
    (error.params as { additionalProperty?: string }).additionalProperty;
  if (extra !== undefined) parts.push(extra);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '') || '(body)';
}

function reasonOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known field';
    case 'discriminator':
      return (error.params as { error?: string }).error === 'mapping' ? `must be one of the documented kinds` : 'is required';
    default: {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return description?.startsWith('must') ? description : (error.message ?? 'is invalid');
    }
  }
}

/** Ajv's errors as field errors, one per field, named the way the domain validators name them. */
export function fieldErrorsOf(errors: ErrorObject[], part: string): FieldError[] {
  const seen = new Map<string, FieldError>();
  // A union of literals (licenseType, status) fails in every branch with "must be equal to
  // constant"; the union's own description says what is allowed, so it is the reason given.
  const unionRules = new Map<string, string>();
  for (const error of errors) {
    let field = fieldOf(error);
    if (part === 'headers') field = `header ${field}`;
    if (error.keyword === 'anyOf') {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      if (description?.startsWith('must')) unionRules.set(field, description);
    }
    // A failed oneOf repeats each branch's complaint; the discriminator error says it better.
    if (error.keyword === 'oneOf' || error.keyword === 'anyOf' || error.keyword === 'if') continue;
    if (error.keyword === 'discriminator') field = field === '(body)' ? 'kind' : `${field}.kind`;
    if (!seen.has(field)) seen.set(field, { field, reason: reasonOf(error) });
  }
  return [...seen.values()].map((e) => (unionRules.has(e.field) ? { ...e, reason: unionRules.get(e.field)! } : e));
}

/** Fastify's own body-parser failures, in the documented error format (docs/API.md). */
function bodyParseError(code: string | undefined): { status: number; body: ErrorBody } | undefined {
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': {
      // The parser also refuses __proto__ and constructor.prototype keys (prototype poisoning) with this code.
      const reason =
        code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
          ? 'must not be empty with content-type application/json'
          : 'must be valid JSON, without __proto__ or constructor.prototype keys';
      return {
        status: 400,
        body: { error: 'ValidationFailed', message: `Invalid request: (body): ${reason}`, errors: [{ field: '(body)', reason }] },
      };
    }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: 'PayloadTooLarge', message: `the body is larger than ${BODY_LIMIT_TEXT}` } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: 'UnsupportedMediaType', message: 'the body must be JSON (content-type application/json)' } };
    default:
      return undefined;
  }
}

function send(reply: FastifyReply, status: number, body: ErrorBody) {
  return reply.status(status).type('application/json').send(body);
}

/**
 * A 503 the client may repeat as it was: the transaction cut short rolled back, so the same
 * request (a usage report with the same reportId) is answered once when it comes again.
 */
function sendDatabaseRetry(reply: FastifyReply, code: 'DatabaseBusy' | 'DatabaseUnavailable', reason: string) {
  return send(reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS)), 503, {
    error: code,
    message: `${reason}; send the same request again in ${DATABASE_RETRY_AFTER_SECONDS} s (a repeated request is never counted twice)`,
  });
}

/** The one error handler: every failure becomes a JSON body with a code and, for a 400, the fields. */
export function handleError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof HttpError) {
    return send(reply, err.statusCode, { error: err.code, message: err.message, ...(err.fieldErrors ? { errors: err.fieldErrors } : {}) });
  }
  if (err instanceof ValidationError) {
    return send(reply, 400, { error: 'ValidationFailed', message: err.message, errors: err.errors });
  }
  const fastifyError = err as FastifyError & { validation?: ErrorObject[]; validationContext?: string };
  if (fastifyError.validation) {
    const errors = fieldErrorsOf(fastifyError.validation, fastifyError.validationContext ?? 'body');
    return send(reply, 400, {
      error: 'ValidationFailed',
      message: fieldsMessage(errors),
      errors,
    });
  }
  if (err instanceof PlacementRefusal) {
    request.log.info({ refusal: { type: err.type, message: err.message } }, 'request refused');
    return send(reply, REFUSAL_STATUS[err.type] ?? 422, { error: err.type, message: err.message });
  }
  if (err instanceof WorkflowUpdateFailedError) {
    // The validator or handler refused: the order's state does not allow it (409), or the
    // request named something unusable (422).
    const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
    const type = cause?.type ?? 'InvalidState';
    const status = type in REFUSAL_STATUS ? REFUSAL_STATUS[type as RefusalType] : type === 'InvalidRequest' ? 422 : 409;
    // A refusal is information: logged at info with its reason, never with a stack trace.
    request.log.info({ refusal: { type, message: cause?.message ?? err.message } }, 'request refused');
    return send(reply, status, { error: type, message: cause?.message ?? err.message });
  }
  if (err instanceof WorkflowNotFoundError) {
    return send(reply, 404, { error: 'NotFound', message: 'order does not exist' });
  }
  if (
    err instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
    isGrpcDeadlineError(err) ||
    isGrpcDeadlineError((err as { cause?: unknown }).cause)
  ) {
    const { statusCode, code, message } = unavailable();
    return send(reply, statusCode, { error: code, message });
  }
  const timedOut = databaseTimeoutOf(err);
  if (timedOut) {
    // The API's statement or idle-in-transaction timeout (src/db/knex.ts): a request never hangs on a lock.
    request.log.warn({ route: request.routeOptions.url, sqlState: timedOut }, 'database did not answer in time');
    return sendDatabaseRetry(reply, 'DatabaseBusy', 'the database did not answer in time');
  }
  if (isDatabaseUnavailable(err)) {
    request.log.warn({ err: { message: (err as Error).message } }, 'database unavailable');
    return sendDatabaseRetry(reply, 'DatabaseUnavailable', 'the database cannot be reached right now');
  }
  const bodyError = bodyParseError(fastifyError.code);
  if (bodyError) return send(reply, bodyError.status, bodyError.body);
  if (fastifyError.statusCode && fastifyError.statusCode < 500) {
    // Fastify's own 4xx: unparsable JSON, a body too large, an unsupported media type...
    return send(reply, fastifyError.statusCode, { error: fastifyError.code ?? 'BadRequest', message: fastifyError.message });
  }
  request.log.error({ err }, 'request failed');
  return send(reply, 500, { error: 'InternalError', message: 'something went wrong on our side; it has been logged' });
}
