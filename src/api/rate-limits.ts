import rateLimitPlugin from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimit } from '../config';
import { sha256 } from '../device-client/protocol';
import { HttpError } from './errors';

/**
 * Rate limits of the JSON API (the pages keep their own, src/web/page-scope.ts): per API key on
 * every keyed /v1 route, per device credential on the signed device routes, per client IP on
 * device registration. One counter per caller in each API process's memory (@fastify/rate-limit's
 * LocalStore), so two API processes let a caller through twice as often. The caller is told when
 * to come back (Retry-After) in the API's error format; the X-RateLimit-* headers come with the
 * answers of a limited route, except where the limit says `headers: false` (the device routes: a
 * device acts on Retry-After alone, and three headers on every report are bytes and work for no one).
 */

export type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** The X-RateLimit-* headers off; a 429 still says Retry-After. */
const NO_RATE_HEADERS = { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false };

/** Callers remembered per limit (least recently seen forgotten first): a fleet of devices fits. */
const REMEMBERED_CALLERS = 50_000;

/** "1 min", "10 s", "1 h": the window in the words of a message. */
function windowText(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** A short, stable name for a secret the caller presents (never the secret itself, even in memory). */
function digestOf(secret: string): string {
  return sha256(secret).toString('base64url', 0, 16);
}

/** The bearer token's digest, or the client IP when there is none to count by. */
export function apiKeyOf(request: FastifyRequest): string {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  return match ? `key:${digestOf(match[1])}` : `ip:${request.ip}`;
}

/**
 * The device credential's digest (checked later; an unchecked one only spends its own counter), or
 * the client IP. A session (`DeviceSession <ticket>`) counts against the credential that opened it,
 * named in its ticket (`limitKeyOfTicket`: this service's own seal, so not forgeable), never a
 * counter of its own: a new session does not give a device a fresh allowance.
 */
export function deviceCredentialOf(limitKeyOfTicket: (ticket: string) => string | undefined): (request: FastifyRequest) => string {
  return (request) => {
    const match = /^(Device|DeviceSession)\s+(\S+)$/.exec(request.headers.authorization ?? '');
    const limitKey = !match ? undefined : match[1] === 'Device' ? deviceLimitKeyOf(match[2]) : limitKeyOfTicket(match[2]);
    return limitKey ?? `ip:${request.ip}`;
  };
}

/** The counter of a device credential (also sealed in the tickets of the sessions it opens). */
export function deviceLimitKeyOf(credential: string): string {
  return `device:${digestOf(credential)}`;
}

export function clientIpOf(request: FastifyRequest): string {
  return `ip:${request.ip}`;
}

/**
 * Registers @fastify/rate-limit in `scope` without a global limit and returns a maker of limiter
 * hooks: each counts its own callers (`keyOf`) against its own limit. `per` names the caller in
 * the 429's message ("this API key").
 */
export async function rateLimiters(
  scope: FastifyInstance,
): Promise<
  (
    limit: RateLimit | undefined,
    per: string,
    keyOf: (request: FastifyRequest) => string,
    options?: { headers?: boolean },
  ) => RateLimitHook[]
> {
  await scope.register(rateLimitPlugin, { global: false });
  return (limit, per, keyOf, { headers = true } = {}) => {
    if (!limit) return [];
    const hook = scope.rateLimit({
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      keyGenerator: keyOf,
      ...(headers ? {} : { addHeadersOnExceeding: NO_RATE_HEADERS, addHeaders: { ...NO_RATE_HEADERS, 'retry-after': true } }),
      // Read by LocalStore.child: how many callers this limit remembers.
      ...({ cache: REMEMBERED_CALLERS } as object),
      errorResponseBuilder: (_request, context) =>
        new HttpError(
          429,
          'TooManyRequests',
          `too many requests for ${per}: at most ${limit.max} per ${windowText(limit.timeWindowMs)} on this API server; nothing was done, send the same request again in ${context.after}`,
        ),
    });
    return [hook as unknown as RateLimitHook];
  };
}
