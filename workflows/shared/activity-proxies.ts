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

/**
 * Emailing a sweep's alerts: up to a batch of alerts, each to its recipients over SMTP, can take
 * longer than one short write. It heartbeats per email, so a crashed worker is noticed within
 * the heartbeat timeout and the rest retried elsewhere (alerts already marked emailed are skipped).
 */
export const { deliverAlertEmails } = proxyActivities<OrderActivities>({
  ...options,
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
});

/** Settings are read once per run; a local activity records them in history cheaply. */
export const { loadFulfillmentSettings } = proxyLocalActivities<OrderActivities>({ startToCloseTimeout: '5 seconds' });
