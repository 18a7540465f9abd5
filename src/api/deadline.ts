import type { Client } from '@temporalio/client';

/**
 * How long the API waits for an order's workflow to answer. A query or an Update needs a worker:
 * without one the call would wait indefinitely, so it gets a deadline and the caller a 503
 * ("try again") instead of a hung request. Updates run an activity, so they get longer.
 */
export const QUERY_DEADLINE_MS = 10_000;
export const UPDATE_DEADLINE_MS = 30_000;

export function withinDeadline<T>(client: Client, ms: number, call: () => Promise<T>): Promise<T> {
  return client.withDeadline(Date.now() + ms, call);
}
