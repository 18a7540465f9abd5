import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Db } from '../src/db/knex';
import type { Mailer } from '../src/email/mailer';
import { createAccountActivities } from './accounts/accounts';
import { createBookingActivities } from './orders/booking';
import { createDelegationActivities } from './orders/delegation';
import { createEmailActivities } from './shared/email';
import { createFulfillmentActivities } from './orders/fulfillment';
import { createLicenseClockActivities } from './licensing/license-clock';
import { createTrueUpActivities } from './licensing/true-up';
import { createTransferBatchActivities } from './orders/transfer-batch';
import { createOutbox } from './shared/outbox';
import { createPhaseActivities } from './orders/phases';
import { createPlacementActivities } from './orders/placement';
import { createSecureLinkSender } from './shared/secure-links';

export type ActivityConfig = Pick<
  Config,
  | 'mailFrom'
  | 'operationsEmail'
  | 'publicBaseUrl'
  | 'delegationTokenTtlMs'
  | 'reminderIntervalMs'
  | 'reminderJitterMs'
  | 'escalationAfterMs'
  | 'historyEventLimit'
  | 'licenseClock'
  | 'orderTransfer'
>;

export interface ActivityDependencies {
  db: Db;
  mailer: Mailer;
  /** For the activities that start or signal other workflows (Smart Account activation). */
  temporal: Client;
  config: ActivityConfig;
}

/** Durations and bounds the workflows read once per run (a local activity keeps them deterministic). */
export interface FulfillmentSettings {
  reminderIntervalMs: number;
  /** Absent from the settings recorded by runs started before reminders were spread. */
  reminderJitterMs?: number;
  escalationAfterMs: number;
  historyEventLimit: number;
}

/** Every activity the order workers run, bound to the real dependencies the caller injects. */
export function createActivities(deps: ActivityDependencies) {
  const { db, config } = deps;
  const outbox = createOutbox({ db, mailer: deps.mailer, mailFrom: config.mailFrom });
  const sendLinkEmail = createSecureLinkSender({ db, outbox, config });
  const { createPendingAccount, ...accounts } = createAccountActivities({ db, temporal: deps.temporal, sendLinkEmail, outbox });
  const placement = createPlacementActivities(db);
  const fulfillment = createFulfillmentActivities(db);
  const email = createEmailActivities({ db, outbox, config });
  return {
    async loadFulfillmentSettings(): Promise<FulfillmentSettings> {
      return {
        reminderIntervalMs: config.reminderIntervalMs,
        reminderJitterMs: config.reminderJitterMs,
        escalationAfterMs: config.escalationAfterMs,
        historyEventLimit: config.historyEventLimit,
      };
    },
    ...createBookingActivities(db),
    ...placement,
    ...fulfillment,
    ...accounts,
    ...createDelegationActivities({ db, sendLinkEmail, createPendingAccount }),
    ...email,
    ...createPhaseActivities({ ...placement, ...fulfillment, ...email }),
    ...createLicenseClockActivities({ db, outbox, config }),
    ...createTrueUpActivities({ db, outbox }),
    ...createTransferBatchActivities({ db, temporal: deps.temporal, config }),
  };
}

export type OrderActivities = ReturnType<typeof createActivities>;
