/**
 * The API's request spans (src/observability/http-tracing.ts) on a bare Fastify app: named by
 * route template, the request handled inside the span's context (past body parsing and awaits, so
 * the Temporal client interceptor sees it), a caller's traceparent continued, probes untraced,
 * a 5xx an error.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import Fastify, { type FastifyInstance } from 'fastify';
import { AsyncLocalStorageContext } from '../../src/observability/async-context';
import { traceHttpRequests } from '../../src/observability/http-tracing';

const exporter = new InMemorySpanExporter();
let app: FastifyInstance;
let baseUrl: string;

/** Over a real socket: the body is read on the socket's events, which is what the context must survive. */
async function call(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
  });
  return { statusCode: response.status, json: () => response.json() };
}

beforeAll(async () => {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register({ contextManager: new AsyncLocalStorageContext() });
  app = Fastify();
  traceHttpRequests(app, trace.getTracer('test'));
  app.get('/healthz', async () => ({ ok: true }));
  app.post<{ Params: { id: string } }>('/v1/things/:id', async (_request, reply) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    // What a route that starts a workflow would propagate.
    return reply.status(201).send({ activeSpanId: trace.getActiveSpan()?.spanContext().spanId ?? null });
  });
  app.get('/boom', async () => {
    throw new Error('a bug');
  });
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(() => app.close());
beforeEach(() => exporter.reset());

test('a request is one SERVER span named by its route, and its handler runs inside it past a body of many chunks and an await', async () => {
  const response = await call('POST', '/v1/things/lfk_secret-token', { body: { a: 'x'.repeat(200_000) } });
  expect(response.statusCode).toBe(201);
  const [span] = exporter.getFinishedSpans();
  expect(span.name).toBe('POST /v1/things/:id');
  expect(span.kind).toBe(SpanKind.SERVER);
  expect(span.attributes).toEqual({ 'http.request.method': 'POST', 'http.route': '/v1/things/:id', 'http.response.status_code': 201 });
  expect(JSON.stringify({ name: span.name, attributes: span.attributes, events: span.events })).not.toContain('lfk_secret-token');
  expect(await response.json()).toEqual({ activeSpanId: span.spanContext().spanId });
});

test("a caller's traceparent makes the request part of the caller's trace", async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpanId = '00f067aa0ba902b7';
  await call('POST', '/v1/things/1', { body: {}, headers: { traceparent: `00-${traceId}-${callerSpanId}-01` } });
  const [span] = exporter.getFinishedSpans();
  expect(span.spanContext().traceId).toBe(traceId);
  expect(span.parentSpanId).toBe(callerSpanId);
});

test('probes make no span; a 5xx is an error', async () => {
  expect((await call('GET', '/healthz')).statusCode).toBe(200);
  expect(exporter.getFinishedSpans()).toEqual([]);
  expect((await call('GET', '/boom')).statusCode).toBe(500);
  const [span] = exporter.getFinishedSpans();
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.attributes['http.response.status_code']).toBe(500);
});
