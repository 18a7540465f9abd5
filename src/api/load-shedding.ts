import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoadSheddingConfig } from '../config';
import { HttpError } from './errors';

/**
 * Load shedding: past what an API process can answer in time, a request is refused at once with
 * 503 and Retry-After before any work is done for it, so an overloaded API answers quickly rather
 * than time its callers out, and what it did accept it finishes. Three signals: requests in flight
 * (the API waits on Postgres and Temporal, so overload shows there before the CPU), the mean
 * event-loop delay and the V8 heap (both @fastify/under-pressure, sampled every `sampleIntervalMs`).
 * Liveness and readiness are never shed: a busy process is neither dead nor unready.
 */

const NEVER_SHED = new Set(['/healthz', '/readyz']);

const isNeverShed = (request: FastifyRequest) => NEVER_SHED.has(request.routeOptions.url ?? '');

/**
 * The 503 of a shed request, thrown so that every scope answers it its own way (the API's error
 * format: a code and a message naming the reason; a page on the pages), Retry-After already set.
 */
function shed(reply: FastifyReply, retryAfterS: number, reason: string): HttpError {
  reply.header('retry-after', String(retryAfterS));
  return new HttpError(
    503,
    'Overloaded',
    `this API server is overloaded (${reason}); nothing was done: send the same request again in ${retryAfterS} s`,
  );
}

const PRESSURE_REASONS: Record<string, string> = {
  eventLoopDelay: 'its event loop is delayed',
  heapUsedBytes: 'its memory is nearly used up',
};

export async function registerLoadShedding(
  app: FastifyInstance,
  config: LoadSheddingConfig,
  options: { sampleIntervalMs?: number } = {},
): Promise<void> {
  const { maxInFlight, maxEventLoopDelayMs, maxHeapUsedBytes, retryAfterS } = config;
  if (maxInFlight > 0) {
    let inFlight = 0;
    const done = () => inFlight--;
    // A callback hook, not an async one: every request passes here, and a promise each is work for nothing.
    app.addHook('onRequest', (request, reply, next) => {
      if (isNeverShed(request)) return next();
      if (inFlight >= maxInFlight) return next(shed(reply, retryAfterS, `${maxInFlight} requests in flight`));
      inFlight++;
      // 'close' comes once the answer is sent or the client went away: either way it is done.
      reply.raw.once('close', done);
      next();
    });
  }
  if (maxEventLoopDelayMs > 0 || maxHeapUsedBytes > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs,
      maxHeapUsedBytes,
      sampleInterval: options.sampleIntervalMs ?? 1000,
      // Undefined lets the request go on; a rejection goes to the scope's error handler.
      pressureHandler: (request, reply, type) =>
        isNeverShed(request) ? undefined : Promise.reject(shed(reply, retryAfterS, PRESSURE_REASONS[type] ?? type)),
    });
  }
}
