import { createApiKey } from '../src/api/auth';
import { buildApi } from '../src/api/server';
import { createLogger } from '../src/logging';
import type { BenchStack } from './stack';

/** The product's own HTTP API in the driver, on the level's task queue: the batch transfer is asked for through it. */
export async function startBenchApi(stack: BenchStack, taskQueue: string) {
  const config = { ...stack.config, temporal: { ...stack.config.temporal, taskQueue } };
  const app = await buildApi({ db: stack.db, client: stack.client, config, logger: createLogger('bench-transfer-api', 'ERROR') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    async keyFor(partnerId: string): Promise<string> {
      return (await createApiKey(stack.db, { role: 'partner', partnerId, label: 'bench transfer' })).key;
    },
    async call(method: 'GET' | 'POST', path: string, key: string, body?: unknown): Promise<{ status: number; body: unknown }> {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: await response.json() };
    },
    close: () => app.close(),
  };
}
