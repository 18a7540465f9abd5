/**
 * The activity stubs every workflow uses, with one retry policy: writes and emails must
 * eventually happen, so outages are retried without limit; refusals are non-retryable.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { OrderActivities } from '../../activities';

export const activities = proxyActivities<OrderActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Settings are read once per run; a local activity records them in history cheaply. */
export const { loadFulfillmentSettings } = proxyLocalActivities<OrderActivities>({ startToCloseTimeout: '5 seconds' });
