import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createActivationLinkResender } from '../../activities/accounts/activation-link';
import { createDelegationLinkResender } from '../../activities/orders/link-resend';
import { createEmailResender } from '../../activities/shared/email-resend';
import { createApiKey, type ApiKeyRole } from '../../src/api/auth';
import { buildApi } from '../../src/api/server';
import type { Config } from '../../src/config';
import { createLogger } from '../../src/logging';
import type { TestStack } from './stack';

export interface TestApi {
  app: FastifyInstance;
  /** http://127.0.0.1:<port> of the listening API. */
  baseUrl: string;
  /** Creates an API key (stored hashed, like any other) and returns it in clear. */
  keyFor(role: ApiKeyRole, partnerId?: string): Promise<string>;
  /** fetch() against the API with a key; a JSON body is sent as JSON. */
  call(
    method: string,
    path: string,
    options?: { key?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * The real HTTP API over a test file's stack: its Postgres, its Temporal client and its own
 * task queue (so the orders it books run on this file's worker), listening on a free port.
 */
export async function startTestApi(
  stack: TestStack,
  options: { port?: number; logger?: Logger; configure?: (config: Config) => Config } = {},
): Promise<TestApi> {
  const base = { ...stack.config, temporal: { ...stack.config.temporal, taskQueue: stack.taskQueue } };
  // `configure`: an API of the test's own settings (its own limits, say).
  const config = options.configure ? options.configure(base) : base;
  const app = await buildApi({
    db: stack.db,
    client: stack.client,
    config,
    logger: options.logger ?? createLogger('api-test', 'ERROR'),
    resendDelegationLink: createDelegationLinkResender({ db: stack.db, mailer: stack.mailer, config }),
    resendActivationLink: createActivationLinkResender({ db: stack.db, mailer: stack.mailer, config }),
    resendEmail: createEmailResender({ db: stack.db, mailer: stack.mailer, config }),
  });
  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    app,
    baseUrl,
    async keyFor(role, partnerId) {
      return (await createApiKey(stack.db, { role, partnerId, label: `test ${role} ${partnerId ?? ''}`.trim() })).key;
    },
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.key) headers.authorization = `Bearer ${options.key}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      }
      const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON (an HTML page): keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async close() {
      await app.close();
    },
  };
}

/** The API of a test file: started after its stack, closed before the stack stops. */
export function useTestApi(stack: TestStack): TestApi {
  const api = {} as TestApi;
  beforeAll(async () => {
    Object.assign(api, await startTestApi(stack));
  });
  afterAll(async () => {
    await api.close?.();
  });
  return api;
}
