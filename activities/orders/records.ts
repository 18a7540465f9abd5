import type { Knex } from 'knex';
import type { OrderPhase, OrderStatus, WaitingFor } from '../../src/orders/order-lifecycle';
import { countPhaseEnteredOnCommit } from '../../src/orders/phase-metrics';
import type { OrderEventRow, OrderRow } from '../../src/db/rows';

/** Small writes several activities share; each runs inside the caller's transaction. */

/** The phase and wait the workflow derived for the state this write produces. */
export interface ListStatus {
  phase: OrderPhase;
  waitingFor: WaitingFor;
}

/**
 * The order's full status once this step's write has committed, as the workflow derives it, and
 * its place in the order's sequence of statuses (src/orders/order-status.ts reads it). Optional:
 * an activity scheduled by a worker from before the projection carries none.
 */
export interface StatusProjection {
  version: number;
  status: OrderStatus;
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
 * Keeps orders.status and waiting_for (the read-your-writes list columns) and the status
 * projection in step with the workflow, and counts the order entering a phase when the status
 * actually changes. A projection older than the one stored (a late retry of an earlier step)
 * changes nothing: the status never goes backwards.
 */
export async function writeListStatus(
  trx: Knex.Transaction,
  orderId: string,
  status: ListStatus,
  extra: Record<string, unknown> = {},
  projection?: StatusProjection,
): Promise<void> {
  // Locked, so a retried or concurrent attempt waits and then reads the status already written:
  // only the write that changes it counts (the order_phase_entered metric).
  const previous: Pick<OrderRow, 'status' | 'status_version'> | undefined = await trx<OrderRow>('orders')
    .where({ id: orderId })
    .forUpdate()
    .first('status', 'status_version');
  if (projection && previous?.status_version != null && previous.status_version >= projection.version) return;
  await trx<OrderRow>('orders')
    .where({ id: orderId })
    .update({
      status: status.phase,
      waiting_for: status.waitingFor,
      updated_at: trx.fn.now(),
      ...extra,
      ...(projection ? projectionColumns(projection) : {}),
    });
  if (previous && previous.status !== status.phase) {
    countPhaseEnteredOnCommit(trx, { orderId, phase: status.phase, previousPhase: previous.status, waitingFor: status.waitingFor });
  }
}

/** A step that changes only what the status document says (an email sent): the document alone, if newer. */
export async function writeStatusProjection(trx: Knex.Transaction, orderId: string, projection: StatusProjection): Promise<void> {
  await trx<OrderRow>('orders')
    .where({ id: orderId })
    .where((q) => {
      q.whereNull('status_version').orWhere('status_version', '<', projection.version);
    })
    .update({ ...projectionColumns(projection), updated_at: trx.fn.now() });
}

function projectionColumns(projection: StatusProjection) {
  return { status_document: JSON.stringify(projection.status), status_version: projection.version };
}
