import type { Db } from '../src/db/knex';
import type { Mailer } from '../src/email/mailer';
import { createBookingActivities } from './booking';
import { createDepositActivities } from './deposit';
import { createEmailActivities } from './email';

export interface ActivityDependencies {
  db: Db;
  mailer: Mailer;
  mailFrom: string;
}

/** Every activity the order workers run, bound to the real dependencies the caller injects. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createBookingActivities(deps.db),
    ...createDepositActivities(deps.db),
    ...createEmailActivities(deps),
  };
}

export type OrderActivities = ReturnType<typeof createActivities>;
