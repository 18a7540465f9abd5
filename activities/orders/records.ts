import type { Knex } from 'knex';
import type { OrderPhase, WaitingFor } from '../../src/orders/order-lifecycle';
import { countPhaseEnteredOnCommit } from '../../src/orders/phase-metrics';
import type { OrderEventRow, OrderRow } from '../../src/db/rows';

/** Small writes several activities share; each runs inside the caller's transaction. */

/** The phase and wait the workflow derived for the state this write produces. */
export interface ListStatus {
  phase: OrderPhase;
  waitingFor: WaitingFor;
}

export async function recordOrderEvent(
  trx: Knex.Transaction,
  event: { orderId: string; type: string; idempotencyKey: string; details?: Record<string, unknown> },
): Promise<void> {
  await trx<OrderEventRow>('order_events')
    .insert({
      order_id: event.orderId,
      type: event.type,
      idempotency_key: event.idempotencyKey,
      details: JSON.stringify(event.details ?? {}),
    })
    .onConflict('idempotency_key')
    .ignore();
}

/**
 * Keeps orders.status and waiting_for (the read-your-writes list columns) in step with the
 * workflow, and counts the order entering a phase when the status actually changes.
 */
export async function writeListStatus(
  trx: Knex.Transaction,
  orderId: string,
  status: ListStatus,
  extra: Record<string, unknown> = {},
): Promise<void> {
  // Locked, so a retried or concurrent attempt waits and then reads the status already written:
  // only the write that changes it counts (the order_phase_entered metric).
  const previous: { status: string } | undefined = await trx<OrderRow>('orders').where({ id: orderId }).forUpdate().first('status');
  await trx<OrderRow>('orders')
    .where({ id: orderId })
    .update({ status: status.phase, waiting_for: status.waitingFor, updated_at: trx.fn.now(), ...extra });
  if (previous && previous.status !== status.phase) {
    countPhaseEnteredOnCommit(trx, { orderId, phase: status.phase, previousPhase: previous.status, waitingFor: status.waitingFor });
  }
}
