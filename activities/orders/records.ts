import type { Knex } from 'knex';
import { preparedQuery } from '../../src/db/prepared';
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

/** The order event a status write records in the same statement: one row per idempotency key. */
export interface OrderEvent {
  type: string;
  idempotencyKey: string;
  details?: Record<string, unknown>;
}

/** A step's own write, run as a CTE ahead of the status write in the same statement. */
export interface StepPart {
  name: string;
  query: Knex.QueryBuilder | Knex.Raw;
}

export interface StatusWrite {
  extra?: Record<string, unknown>;
  projection?: StatusProjection;
  event?: OrderEvent;
  /** The step's own writes, in the same statement (no transaction needed around the two). */
  parts?: StepPart[];
  /** The name of a part that must return a row for the status and event to be written: the step found its target. */
  gate?: string;
}

/**
 * Keeps orders.status and waiting_for (the read-your-writes list columns) and the status
 * projection in step with the workflow, records the step's order event, and counts the order
 * entering a phase when the status actually changes. A projection older than the one stored (a
 * late retry of an earlier step) changes nothing: the status never goes backwards; the event is
 * recorded all the same (once per key).
 *
 * One statement (issue 16: it was a SELECT ... FOR UPDATE, an UPDATE and an INSERT), with the
 * step's own `parts` ahead of it when given: the CTE `previous` locks the row first, so a retried
 * or concurrent attempt waits and then reads the status already written; only the write that
 * changes it counts (the order_phase_entered metric). Returns whether the gate (if any) was open.
 */
export async function writeListStatus(
  q: Knex | Knex.Transaction,
  orderId: string,
  status: ListStatus,
  write: StatusWrite = {},
): Promise<{ gateOpen: boolean }> {
  const { extra = {}, projection, event, parts = [], gate } = write;
  let statement = q.queryBuilder();
  for (const part of parts) statement = statement.with(part.name, part.query);
  const previous = q('orders').where({ id: orderId }).forUpdate().select('status as previous_status');
  if (gate) previous.whereExists(q.select(q.raw('1')).from(gate));
  statement = statement.with('previous', previous);
  if (event) statement = statement.with('event', orderEventFromPrevious(q, orderId, event));
  const update = q<OrderRow>('orders').updateFrom('previous').where('orders.id', orderId);
  if (projection) {
    update.where((w) => {
      w.whereNull('orders.status_version').orWhere('orders.status_version', '<', projection.version);
    });
  }
  update
    .update({
      status: status.phase,
      waiting_for: status.waitingFor,
      updated_at: q.fn.now(),
      ...extra,
      ...(projection ? projectionColumns(projection) : {}),
    })
    .returning('previous.previous_status');
  // Prepared: with its parts the statement cost Postgres more to plan than to run.
  const { rows } = await preparedQuery<{ previous_status: string | null; gate_open: boolean }>(
    q,
    statement
      .with('status_write', update)
      .select(
        q.raw('(SELECT previous_status FROM status_write) AS previous_status'),
        q.raw(gate ? `EXISTS (SELECT 1 FROM ??) AS gate_open` : 'true AS gate_open', gate ? [gate] : []),
      ),
  );
  const [row] = rows;
  const previousPhase = row?.previous_status ?? undefined;
  if (previousPhase !== undefined && previousPhase !== status.phase) {
    countPhaseEnteredOnCommit(q, { orderId, phase: status.phase, previousPhase, waitingFor: status.waitingFor });
  }
  return { gateOpen: row?.gate_open === true };
}

/** The step's order event, recorded only once the order row is found (and locked) by `previous`. */
function orderEventFromPrevious(q: Knex, orderId: string, event: OrderEvent): Knex.Raw {
  return q.raw(
    `INSERT INTO order_events (order_id, type, idempotency_key, details) SELECT ?, ?, ?, ?::jsonb FROM previous
     ON CONFLICT (idempotency_key) DO NOTHING`,
    [orderId, event.type, event.idempotencyKey, JSON.stringify(event.details ?? {})],
  );
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
