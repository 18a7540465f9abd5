import { ApplicationFailure } from '@temporalio/common';
import { PlacementRefusal } from '../../src/accounts/placement-rules';
import type { RefusalType } from '../../src/common/refusals';

export type { RefusalType };

/**
 * Business refusals are non-retryable and carry a type the workflow, the API and tests can map
 * to a reason. Outages are plain errors and are retried.
 */
export function refuse(type: RefusalType, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type, ...(details ? [details] : []));
}

/** Runs `work`, turning a refusal from the shared placement rules into a non-retryable failure. */
export async function asRefusal<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PlacementRefusal) throw refuse(err.type, err.message, err.details);
    throw err;
  }
}
