/**
 * The activity stubs every workflow uses, with one retry policy: writes and emails must
 * eventually happen, so outages are retried without limit; refusals are non-retryable.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { OrderActivities } from '../../activities';

const options = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;

export const activities = proxyActivities<OrderActivities>(options);

/**
 * The same activities run as local activities: inside the workflow task that asked for them, so
 * no activity task and no second workflow task (a partner's assignment Update: one task in all).
 * For short Postgres writes only; the same retries.
 */
export const localActivities = proxyLocalActivities<OrderActivities>(options);

/** Settings are read once per run; a local activity records them in history cheaply. */
export const { loadFulfillmentSettings } = proxyLocalActivities<OrderActivities>({ startToCloseTimeout: '5 seconds' });
