import type { Config } from '../config';

/** One answer of the API to the quick start: the status (0 when nothing answered) and the parsed body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** Times an overloaded (503 Overloaded) or throttling (429) API is asked again, after its Retry-After. */
const BUSY_RETRIES = 5;

/**
 * One JSON request to the API. No answer at all (refused, timed out) is status 0 with the reason
 * as body. A 503 Overloaded or a 429 is sent again after its Retry-After (at most 10 s), as the
 * typed client does: nothing was done, and a freshly started API sheds while its start-up work
 * still shows in its event-loop delay.
 */
export async function callApi(
  base: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<ApiAnswer> {
  for (let attempt = 0; ; attempt++) {
    const answer = await callApiOnce(base, method, path, options);
    const busy =
      answer.status === 429 || (answer.status === 503 && (answer.body as { error?: string } | undefined)?.error === 'Overloaded');
    if (!busy || attempt >= BUSY_RETRIES) return answer;
    await new Promise((resolve) => setTimeout(resolve, Math.min(10, answer.retryAfterS ?? 1) * 1000));
  }
}

async function callApiOnce(
  base: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; timeoutMs?: number },
): Promise<ApiAnswer & { retryAfterS?: number }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // an HTML page (Swagger UI) or plain text: kept as text
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    return { status: response.status, body, ...(retryAfter > 0 ? { retryAfterS: retryAfter } : {}) };
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    return { status: 0, body: cause?.message ?? (err as Error).message };
  }
}

/** The answer's body when its status is expected; otherwise stops the quick start with what the API said. */
export function expectStatus<T = unknown>(answer: ApiAnswer, expected: number[], what: string): T {
  if (expected.includes(answer.status)) return answer.body as T;
  const said = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  throw new Error(`API: ${what} answered ${answer.status === 0 ? 'nothing' : answer.status}${said ? `: ${said.slice(0, 600)}` : ''}`);
}

/** Polls `read` every 200 ms until `done` says so or the time is up; returns the last value read. */
export async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Where this process reaches a server listening on `host:port` (a wildcard host means loopback). */
export function localUrl(listen: string): string {
  const at = listen.lastIndexOf(':');
  let host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.slice(at + 1)}`;
}

/**
 * The base URL to print for the API: PUBLIC_BASE_URL when it points at this machine's API_LISTEN
 * port (so Swagger UI's "Try it out", which calls the OpenAPI document's server, is same-origin),
 * else the listen address itself.
 */
export function shownApiUrl(config: Config): string {
  const listenPort = config.apiListen.slice(config.apiListen.lastIndexOf(':') + 1);
  const pub = new URL(config.publicBaseUrl);
  const pubPort = pub.port || (pub.protocol === 'https:' ? '443' : '80');
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(pub.hostname);
  return local && pubPort === listenPort && pub.pathname.replace(/\/+$/, '') === '' ? config.publicBaseUrl : localUrl(config.apiListen);
}
