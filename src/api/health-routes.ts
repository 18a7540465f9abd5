import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDependencies } from './dependencies';

const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Optional(Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) }))),
});

async function check(work: () => Promise<unknown>, timeoutMs: number): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /healthz: the process is up (a load balancer's liveness probe; never touches a dependency).
 * /readyz: Postgres and Temporal both answer, so requests can be served (readiness probe).
 */
export function registerHealthRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  app.get(
    '/healthz',
    { logLevel: 'warn', schema: { tags: ['health'], operationId: 'health', summary: 'Liveness', response: { 200: HealthResponse } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        operationId: 'ready',
        summary: 'Readiness: Postgres and Temporal answer',
        response: { 200: HealthResponse, 503: HealthResponse },
      },
    },
    async (_request, reply) => {
      const [postgres, temporal] = await Promise.all([
        check(() => deps.db.raw('select 1'), 2_000),
        check(() => deps.client.connection.workflowService.getSystemInfo({}), 2_000),
      ]);
      const ok = postgres.ok && temporal.ok;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { postgres, temporal } });
    },
  );
}
