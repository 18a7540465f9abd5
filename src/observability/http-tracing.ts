import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** Probes answer every few seconds and start nothing: their spans would only bury the bookings'. */
const UNTRACED_ROUTES = new Set(['/healthz', '/readyz']);

/**
 * One SERVER span per API request, named by method and route template (`POST /v1/orders`, never
 * the URL, which may hold a link token), continuing the caller's trace when it sends a
 * `traceparent`. The request runs inside the span's context, so the Temporal client interceptor
 * (src/observability/tracing.ts) makes the workflow it starts part of the same trace.
 */
export function traceHttpRequests(app: FastifyInstance, tracer: Tracer): void {
  const traced = new WeakMap<FastifyRequest, { span: Span; context: Context }>();

  app.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const route = request.routeOptions.url;
    if (route !== undefined && UNTRACED_ROUTES.has(route)) return done();
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = tracer.startSpan(
      `${request.method} ${route ?? 'unknown route'}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route ?? '' } },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    traced.set(request, { span, context: spanContext });
    context.with(spanContext, done);
  });
  // Entered again before validation: the body is read on the request stream's events, and whatever
  // path parsing took, the handler (and every await in it) must run inside the request's span.
  app.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const entry = traced.get(request);
    if (!entry) return done();
    context.with(entry.context, done);
  });
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    endSpan(traced.get(request)?.span, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request: FastifyRequest, done: HookHandlerDoneFunction) => {
    endSpan(traced.get(request)?.span, undefined);
    done();
  });
}

/** 5xx is an error of ours; a 4xx is the caller's mistake, answered as designed. */
function endSpan(span: Span | undefined, statusCode: number | undefined): void {
  if (!span) return;
  if (statusCode === undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client closed the request' });
  } else {
    span.setAttribute('http.response.status_code', statusCode);
    if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
