import { readFile } from 'node:fs/promises';
import { ApiError, type BookedOrder, type BookOrderRequest } from '../api-client';
import { apiClient, CliFailure, describeFailure } from '../cli/context';
import { formatTable } from '../cli/table';

/** `orders book`: reading one booking or a bulk file, sending them a few at a time, and the summary. */

export type BookingOutcome = 'booked' | 'alreadyBooked' | 'refused' | 'failed' | 'notSent';

export interface BookingResult {
  /** 1-based position in the file. */
  index: number;
  externalReference: string | null;
  outcome: BookingOutcome;
  idempotencyKey?: string;
  orderId?: string;
  workflowId?: string;
  /** The booked assignment was refused at once: the order waits for a valid one (POST .../assignment). */
  assignmentRefused?: { error: string; message: string };
  error?: { status?: number; code: string; message: string; errors?: Array<{ field: string; reason: string }> };
}

export async function readBookings(file: string): Promise<{ bookings: unknown[]; bulk: boolean }> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliFailure(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliFailure(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw new CliFailure(`${file} holds an empty array: nothing to book`);
    return { bookings: parsed, bulk: true };
  }
  if (typeof parsed === 'object' && parsed !== null) return { bookings: [parsed], bulk: false };
  throw new CliFailure(`${file} must hold one booking (a JSON object) or an array of bookings`);
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function referenceOf(booking: unknown): string | null {
  const ref = (booking as { externalReference?: unknown } | null)?.externalReference;
  return typeof ref === 'string' ? ref : null;
}

function errorOf(err: unknown): NonNullable<BookingResult['error']> {
  if (err instanceof ApiError) {
    return { status: err.status, code: err.code, message: err.message, ...(err.fieldErrors.length > 0 ? { errors: err.fieldErrors } : {}) };
  }
  return { code: 'NotSent', message: describeFailure(err).replace(/^error: /, '') };
}

function outcomeLabel(result: BookingResult): string {
  switch (result.outcome) {
    case 'booked':
      return 'booked';
    case 'alreadyBooked':
      return 'already booked';
    case 'refused':
      return 'refused';
    case 'failed':
      return 'failed';
    case 'notSent':
      return 'not sent';
  }
}

export function progressLine(result: BookingResult, total: number): string {
  const position = `[${String(result.index).padStart(String(total).length)}/${total}]`;
  const ref = result.externalReference ?? '(no externalReference)';
  const refused = result.assignmentRefused ? ` (assignment refused: ${result.assignmentRefused.message})` : '';
  if (result.orderId) return `${position} ${ref}: ${outcomeLabel(result)}, order ${result.orderId}${refused}`;
  const fields = (result.error?.errors ?? []).map((e) => `\n${' '.repeat(position.length + 1)}  ${e.field}: ${e.reason}`).join('');
  return `${position} ${ref}: ${outcomeLabel(result)}: ${result.error?.message ?? ''}${result.error?.status ? ` [${result.error.status} ${result.error.code}]` : ''}${fields}`;
}

/**
 * Books every booking of the file, a few at a time. A refusal (4xx) is recorded and the rest go
 * on; a failure to reach the API or a server error stops sending, since the next one would fail
 * the same way. With an Idempotency-Key prefix, the n-th booking is sent with key <prefix>-<n>,
 * so re-running the same file after an interruption books nothing twice.
 */
export async function bookAll(
  bookings: unknown[],
  options: { idempotencyKeyPrefix?: string; concurrency: number },
  onResult: (result: BookingResult) => void,
): Promise<BookingResult[]> {
  const client = apiClient();
  const results: BookingResult[] = bookings.map((booking, i) => ({
    index: i + 1,
    externalReference: referenceOf(booking),
    outcome: 'notSent' as const,
    ...(options.idempotencyKeyPrefix ? { idempotencyKey: `${options.idempotencyKeyPrefix}-${i + 1}` } : {}),
  }));
  let next = 0;
  let stopped = false;
  const work = async () => {
    while (!stopped && next < bookings.length) {
      const i = next++;
      const result = results[i];
      try {
        // The file is sent as written: the API validates it and names every field at fault.
        const booked: BookedOrder = await client.bookOrder(
          bookings[i] as BookOrderRequest,
          result.idempotencyKey ? { idempotencyKey: result.idempotencyKey } : {},
        );
        Object.assign(result, {
          outcome: booked.alreadyBooked ? 'alreadyBooked' : 'booked',
          orderId: booked.orderId,
          workflowId: booked.workflowId,
          ...(booked.assignmentRefused ? { assignmentRefused: booked.assignmentRefused } : {}),
        });
      } catch (err) {
        const refused = err instanceof ApiError && err.status < 500;
        Object.assign(result, { outcome: refused ? 'refused' : 'failed', error: errorOf(err) });
        if (!refused) stopped = true;
      }
      onResult(result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, bookings.length) }, work));
  for (const result of results)
    if (result.outcome === 'notSent') result.error = { code: 'NotSent', message: 'not sent: an earlier booking failed' };
  return results;
}

export function renderBulkSummary(results: BookingResult[]): string {
  const count = (outcome: BookingOutcome) => results.filter((r) => r.outcome === outcome).length;
  const table = formatTable(
    ['#', 'REFERENCE', 'RESULT', 'ORDER ID', 'DETAIL'],
    results.map((r) => [
      r.index,
      r.externalReference,
      outcomeLabel(r),
      r.orderId,
      r.error ? `${r.error.message}${r.error.status ? ` [${r.error.status} ${r.error.code}]` : ''}` : undefined,
    ]),
  );
  const parts = [`${count('booked')} booked`, `${count('alreadyBooked')} already booked`, `${count('refused')} refused`];
  if (count('failed') > 0) parts.push(`${count('failed')} failed`);
  if (count('notSent') > 0) parts.push(`${count('notSent')} not sent`);
  return `${table}\n\n${results.length} bookings: ${parts.join(', ')}`;
}
