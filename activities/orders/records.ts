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

export async function recordOrderEvent(trx: Knex.Transaction, event: OrderEvent & { orderId: string }): Promise<void> {
  await orderEventInsert(trx, event);
}

function orderEventInsert(trx: Knex.Transaction, event: OrderEvent & { orderId: string }) {
  return trx<OrderEventRow>('order_events')
    .insert({
      order_id: event.orderId,
      type: event.type,
      idempotency_key: event.idempotencyKey,
      details: JSON.stringify(event.details ?? {}),
    })
    .onConflict('idempotency_key')
    .ignore();
}

/** The order event a status write records in the same statement: one row per idempotency key. */
export interface OrderEvent {
  type: string;
  idempotencyKey: string;
  details?: Record<string, unknown>;
}

/**
 * Keeps orders.status and waiting_for (the read-your-writes list columns) and the status
 * projection in step with the workflow, records the step's order event, and counts the order
 * entering a phase when the status actually changes. A projection older than the one stored (a
 * late retry of an earlier step) changes nothing: the status never goes backwards; the event is
 * recorded all the same (once per key).
 *
 * One statement (issue 16: it was a SELECT ... FOR UPDATE, an UPDATE and an INSERT): the CTE
 * `previous` locks the row first, so a retried or concurrent attempt waits and then reads the
 * status already written; only the write that changes it counts (the order_phase_entered metric).
 */
export async function writeListStatus(
  trx: Knex.Transaction,
  orderId: string,
  status: ListStatus,
  write: { extra?: Record<string, unknown>; projection?: StatusProjection; event?: OrderEvent } = {},
): Promise<void> {
  const { extra = {}, projection, event } = write;
  let update = trx<OrderRow>('orders').with(
    'previous',
    trx('orders').where({ id: orderId }).forUpdate().select('status as previous_status'),
  );
  if (event) update = update.with('event', orderEventInsert(trx, { orderId, ...event }));
  if (projection) {
    update = update.where((q) => {
      q.whereNull('orders.status_version').orWhere('orders.status_version', '<', projection.version);
    });
  }
  const written: Array<{ previous_status: string }> = await update
    .updateFrom('previous')
    .where('orders.id', orderId)
    .update({
      status: status.phase,
      waiting_for: status.waitingFor,
      updated_at: trx.fn.now(),
      ...extra,
      ...(projection ? projectionColumns(projection) : {}),
    })
    .returning('previous.previous_status');
  const previous = written[0]?.previous_status;
  if (previous !== undefined && previous !== status.phase) {
    countPhaseEnteredOnCommit(trx, { orderId, phase: status.phase, previousPhase: previous, waitingFor: status.waitingFor });
  }
}

/**
 * A step that changes only what the status document says (an email sent): the document alone, if
 * newer. The statement itself, for the caller to run on its own or as a CTE of another (the
 * email step queues its copies in the same statement: activities/shared/email.ts).
 */
export function statusProjectionUpdate(db: Knex, orderId: string, projection: StatusProjection): Knex.QueryBuilder {
  return db<OrderRow>('orders')
    .where({ id: orderId })
    .where((q) => {
      q.whereNull('status_version').orWhere('status_version', '<', projection.version);
    })
    .update({ ...projectionColumns(projection), updated_at: db.fn.now() });
}

function projectionColumns(projection: StatusProjection) {
  return { status_document: JSON.stringify(projection.status), status_version: projection.version };
}
