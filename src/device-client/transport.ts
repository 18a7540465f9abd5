import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * How the device client sends a request: one exchange, the answer's status, headers and body text.
 * The default is node:http(s) over keep-alive connections shared by every client in the process;
 * a `fetch` (the client's option) is used instead when given. Per report, fetch (undici and its
 * WHATWG streams) cost the bench's fleet about as much CPU as signing and verifying together.
 */
export interface DeviceResponse {
  status: number;
  header(name: string): string | undefined;
  text: string;
}
export type DeviceTransport = (method: string, url: string, headers: Record<string, string>, body?: string) => Promise<DeviceResponse>;

const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/** A request that takes longer than this (no answer at all) fails as a network error, and is retried. */
const REQUEST_TIMEOUT_MS = 60_000;

export const nodeHttpTransport: DeviceTransport = (method, url, headers, body) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    if (!secure && target.protocol !== 'http:') {
      reject(new Error(`${url}: only http and https URLs`));
      return;
    }
    const sent = (secure ? httpsRequest : httpRequest)(
      target,
      {
        method,
        agent: secure ? agents.https : agents.http,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            header: (name) => {
              const value = response.headers[name.toLowerCase()];
              return Array.isArray(value) ? value[0] : value;
            },
            text: chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    sent.on('timeout', () => sent.destroy(new Error(`${method} ${url}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    sent.on('error', reject);
    sent.end(body);
  });

/** The same exchange through a `fetch` (a test's or a runtime's own). */
export function fetchTransport(fetchFn: typeof fetch): DeviceTransport {
  return async (method, url, headers, body) => {
    const response = await fetchFn(url, { method, headers, body });
    const text = await response.text();
    return { status: response.status, header: (name) => response.headers.get(name) ?? undefined, text };
  };
}
