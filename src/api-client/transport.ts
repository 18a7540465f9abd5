import { ApiError, expandPath, isErrorBody, OPERATIONS, type OperationId, type PathParams } from './operations';

/** Where and how the client talks to the API. */
export interface Transport {
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  timeoutMs: number | undefined;
  /** Times a request the API turned away unprocessed (429 TooManyRequests, 503 Overloaded) is sent again. */
  retries?: number;
  /** Longest wait a Retry-After may ask for (ms). */
  maxRetryAfterMs?: number;
}

/** Answers that say nothing was done and when to come back: the same request is safe to send again. */
const TURNED_AWAY = new Set(['429 TooManyRequests', '503 Overloaded']);
const DEFAULT_RETRIES = 3;
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

export type Query = Record<string, string | number | boolean | undefined>;

export interface OperationRequest {
  params?: PathParams;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  acceptStatuses?: number[];
  /** The answer is text (CSV), returned as is. */
  text?: boolean;
}

/**
 * One call of an operation: the request built from OPERATIONS, the answer parsed, a refusal
 * thrown as an ApiError (an answer that is not the API's JSON gets code UnexpectedResponse).
 */
export async function callOperation<T>(transport: Transport, operationId: OperationId, request: OperationRequest): Promise<T> {
  const { method, path } = OPERATIONS[operationId];
  const url = new URL(transport.baseUrl + expandPath(path, request.params ?? {}));
  for (const [name, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${transport.apiKey}`, ...request.headers };
  let body: string | undefined;
  if (request.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(request.body);
  }
  const send = () =>
    transport.fetch(url, {
      method,
      headers,
      body,
      ...(transport.timeoutMs !== undefined ? { signal: AbortSignal.timeout(transport.timeoutMs) } : {}),
    });
  const { response, text, parsed, isJson } = await sendUntilServed(transport, send);
  if (response.ok || request.acceptStatuses?.includes(response.status)) {
    if (request.text) return text as T;
    if (response.status === 204 || !text) return undefined as T;
    if (!isJson)
      throw new ApiError(
        response.status,
        'UnexpectedResponse',
        `${method} ${path} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
        [],
        operationId,
      );
    return parsed as T;
  }
  if (isJson && isErrorBody(parsed)) {
    throw new ApiError(response.status, parsed.error, parsed.message, parsed.errors ?? [], operationId);
  }
  throw new ApiError(
    response.status,
    'UnexpectedResponse',
    `${method} ${path} answered ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
    [],
    operationId,
  );
}

async function readAnswer(response: Response): Promise<{ response: Response; text: string; parsed: unknown; isJson: boolean }> {
  const text = await response.text();
  try {
    return { response, text, parsed: text ? JSON.parse(text) : undefined, isJson: Boolean(text) };
  } catch {
    return { response, text, parsed: undefined, isJson: false };
  }
}

/**
 * Sends the request, and again after the Retry-After while the API turns it away unprocessed (a
 * rate limit, load shedding), at most `retries` more times; any other answer is returned at once.
 */
async function sendUntilServed(transport: Transport, send: () => Promise<Response>) {
  const retries = transport.retries ?? DEFAULT_RETRIES;
  for (let attempt = 0; ; attempt++) {
    const answer = await readAnswer(await send());
    const code = answer.isJson && isErrorBody(answer.parsed) ? answer.parsed.error : '';
    if (attempt >= retries || !TURNED_AWAY.has(`${answer.response.status} ${code}`)) return answer;
    const asked = Number(answer.response.headers.get('retry-after'));
    const waitMs = Number.isFinite(asked) && asked >= 0 ? asked * 1000 : 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.min(waitMs, transport.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS)));
  }
}
