import { ApiError, expandPath, isErrorBody, OPERATIONS, type OperationId, type PathParams } from './operations';

/** Where and how the client talks to the API. */
export interface Transport {
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  timeoutMs: number | undefined;
}

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
  const response = await transport.fetch(url, {
    method,
    headers,
    body,
    ...(transport.timeoutMs !== undefined ? { signal: AbortSignal.timeout(transport.timeoutMs) } : {}),
  });
  const text = await response.text();
  let parsed: unknown;
  let isJson = false;
  if (text) {
    try {
      parsed = JSON.parse(text);
      isJson = true;
    } catch {
      // not JSON: handled below
    }
  }
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
