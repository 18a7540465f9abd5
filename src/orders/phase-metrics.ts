import { asyncLocalStorage } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { OrderPhase, WaitingFor } from './order-lifecycle';

/**
 * Served as `order_phase_entered` (Core prefixes only its own metrics with `temporal_`), label
 * `phase`; the activity's meter adds `namespace`, `taskQueue` and `activityType`.
 */
export const ORDER_PHASE_ENTERED_METRIC = 'order_phase_entered';
const ORDER_PHASE_ENTERED_DESCRIPTION = 'Orders that entered a phase (a change of orders.status written by an activity)';

export interface PhaseEntered {
  orderId: string;
  phase: OrderPhase;
  /** The status the row had before; absent for a new order. */
  previousPhase?: string;
  waitingFor?: WaitingFor;
}

/**
 * Counts an order entering a phase, and logs it, once the transaction that wrote the new status
 * has committed. The caller decides that the status really changed (it read the locked row);
 * waiting for the commit means a transaction that rolls back, and is retried by Temporal, is
 * counted once, by the attempt that commits. Emitted through the activity's metric meter, so the
 * counter is served on the worker's one /metrics endpoint beside the SDK's own metrics.
 *
 * Outside an activity (a script, a test calling an activity function directly) there is no
 * meter and nothing is counted. A write made outside a transaction (one statement) has
 * committed when it returns: counted at once.
 */
export function countPhaseEnteredOnCommit(q: Knex | Knex.Transaction, entered: PhaseEntered): void {
  const activity = asyncLocalStorage.getStore();
  if (!activity) return;
  const count = () => {
    // Never let telemetry fail the activity or crash the worker (this runs after the commit).
    try {
      activity.metricMeter
        .createCounter(ORDER_PHASE_ENTERED_METRIC, 'orders', ORDER_PHASE_ENTERED_DESCRIPTION)
        .add(1, { phase: entered.phase });
      activity.log.info('order entered phase', { ...entered });
    } catch {
      // A runtime already shut down has no meter left; the status row is what matters.
    }
  };
  if (!q.isTransaction) return count();
  outermostTransaction(q as Knex.Transaction).executionPromise.then(
    count,
    () => undefined, // rolled back: nothing entered any phase
  );
}

/** A savepoint's release is not a commit: only the outermost transaction's outcome counts. */
function outermostTransaction(trx: Knex.Transaction): Knex.Transaction {
  let current = trx;
  while (current.parentTransaction) current = current.parentTransaction;
  return current;
}
