import { isGrpcCancelledError, isGrpcDeadlineError, type Client } from '@temporalio/client';
import { unavailable } from './errors';

/**
 * How long the API waits for an order's workflow to answer. A query or an Update needs a worker:
 * without one the call would wait indefinitely, so it gets a deadline and the caller a 503
 * ("try again") instead of a hung request. Updates run an activity, so they get longer.
 */
export const QUERY_DEADLINE_MS = 10_000;
export const UPDATE_DEADLINE_MS = 30_000;

const causeOf = (err: unknown) => (err as { cause?: unknown } | undefined)?.cause;

export async function withinDeadline<T>(client: Client, ms: number, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  try {
    return await client.withDeadline(deadline, call);
  } catch (err) {
    // gRPC reports a passed deadline as DEADLINE_EXCEEDED or, when the call is torn down while
    // it waits, as CANCELLED; either way, once the deadline has passed the order did not answer.
    const timedOut = [err, causeOf(err)].some((e) => isGrpcDeadlineError(e) || isGrpcCancelledError(e));
    if (timedOut && Date.now() >= deadline - 100) {
      throw unavailable();
    }
    throw err;
  }
}
