/**
 * Runs the cells of the authorization matrix: each caller sends what it holds (its API key as a
 * Bearer, its browser's cookies, or its device's signed headers) from a loopback address of its
 * own, so the pages' per-client rate limits count each caller apart, as they would on the network.
 */
import { request as httpRequest } from 'node:http';
import { CALLERS, isAllowed, type Caller, type Expected, type MatrixRow } from '../../src/security/authorization-matrix';
import { cookieHeaderOf, type MatrixContext } from './authorization-context';
import type { MatrixRequest, RequestFor } from './authorization-requests';

export interface Cell {
  row: MatrixRow;
  caller: Caller;
  expected: Expected;
  request?: MatrixRequest;
}

export interface Answer {
  cell: Cell;
  status: number;
  text: string;
  location?: string;
}

function send(ctx: MatrixContext, caller: Caller, req: MatrixRequest): Promise<Omit<Answer, 'cell'>> {
  const credentials = req.credentials ?? ctx.callers[caller];
  const body = req.json !== undefined ? JSON.stringify(req.json) : req.form ? new URLSearchParams(req.form).toString() : '';
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  if (req.json !== undefined) headers['content-type'] = 'application/json';
  if (req.form) headers['content-type'] = 'application/x-www-form-urlencoded';
  if (credentials.apiKey) headers.authorization = `Bearer ${credentials.apiKey}`;
  if (credentials.device) Object.assign(headers, credentials.device.signedHeaders(req.method, req.path, body));
  if (credentials.user || caller !== 'device') headers.cookie = cookieHeaderOf(ctx, credentials);
  const url = new URL(ctx.api.baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        localAddress: `127.0.0.${10 + CALLERS.indexOf(caller)}`,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), location: res.headers.location }),
        );
        res.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Runs `work` over `items`, at most `limit` at a time, in order of start. */
export async function inPool<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function cellsOf(rows: MatrixRow[], which: 'refused' | 'allowed'): Cell[] {
  return rows.flatMap((row) =>
    CALLERS.filter((caller) => isAllowed(row.expected[caller]) === (which === 'allowed')).map((caller) => ({
      row,
      caller,
      expected: row.expected[caller],
    })),
  );
}

/** Builds each cell's request (fresh targets are made here, before anything is counted). */
export async function prepare(ctx: MatrixContext, requests: Record<string, RequestFor>, cells: Cell[], limit: number): Promise<void> {
  await inPool(cells, limit, async (cell) => {
    cell.request = await requests[cell.row.route](ctx, cell.caller, isAllowed(cell.expected));
  });
}

export async function run(ctx: MatrixContext, cells: Cell[], limit: number): Promise<Answer[]> {
  return inPool(cells, limit, async (cell) => {
    try {
      return { cell, ...(await send(ctx, cell.caller, cell.request!)) };
    } catch (err) {
      return { cell, status: 0, text: String(err) };
    }
  });
}

/** A page's "sign in first": a redirect to the sign-in page (signing out also ends there, and is allowed). */
function toSignIn(answer: Answer): boolean {
  // The sign-in page may name the page asked for (?next=), to return there once signed in.
  return answer.location?.split('?')[0] === '/sign-in' && answer.cell.row.route !== 'POST /sign-out';
}

/** The answer as the table writes it: `none` when a 2xx shows nothing of world A (its suffix appears nowhere). */
export function observed(ctx: MatrixContext, answer: Answer): string {
  const { status, text } = answer;
  if (status >= 200 && status < 300) return text.includes(ctx.world.suffix) ? '2xx' : 'none';
  if (status >= 300 && status < 400) return toSignIn(answer) ? 'signin' : '3xx';
  return String(status);
}

/** Whether the answer is the one the table expects; `2xx` accepts a body with nothing of A only where the table says `none`. */
export function matches(ctx: MatrixContext, answer: Answer): boolean {
  const { expected } = answer.cell;
  const { status, text } = answer;
  if (expected === '2xx') return status >= 200 && status < 300;
  if (expected === 'none') return status >= 200 && status < 300 && !text.includes(ctx.world.suffix);
  if (expected === '3xx') return status >= 300 && status < 400 && !toSignIn(answer);
  if (expected === 'signin') return status >= 300 && status < 400 && toSignIn(answer);
  return String(status) === expected;
}
