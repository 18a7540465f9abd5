import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import { sweepLiveness, type LivenessResult } from '../../src/licensing/liveness';
import { sweepTermEnds, type TermEndResult } from '../../src/licensing/term-ends';
import { dueTrueUps } from '../../src/licensing/true-ups';
import type { Outbox } from '../shared/outbox';
import { createAlertDelivery } from './alert-delivery';

/**
 * The license clock's activities: one Postgres sweep (liveness, term ends, due true-ups) and one
 * delivery of alert emails, so a run costs the same few Temporal actions however many product
 * instances there are. Each step reads only what is due, by an index, in bounded batches.
 */
export function createLicenseClockActivities(deps: { db: Db; outbox: Outbox; config: Pick<Config, 'licenseClock' | 'publicBaseUrl'> }) {
  const { db, config } = deps;
  return {
    async sweepLicenseClock(input: {
      asOfMs: number;
      batch: number;
      accountId?: string;
    }): Promise<{ liveness: LivenessResult; termEnds: TermEndResult; dueTrueUps: Array<{ accountId: string; period: string }> }> {
      const liveness = await sweepLiveness(db, config.licenseClock, input.asOfMs, input.batch, input.accountId);
      const termEnds = await sweepTermEnds(db, config.licenseClock.termAlertDays, input.asOfMs, input.batch, input.accountId);
      return { liveness, termEnds, dueTrueUps: await dueTrueUps(db, input.asOfMs, input.batch, input.accountId) };
    },
    ...createAlertDelivery({ db, outbox: deps.outbox, publicBaseUrl: config.publicBaseUrl }),
  };
}
