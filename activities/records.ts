import type { Knex } from 'knex';
import type { ContactInput } from '../src/domain/order';
import { deriveOrderPhase } from '../src/domain/order-status';
import type { LineState } from '../src/domain/order';

/** Small writes several activities share; each runs inside the caller's transaction. */

export async function recordOrderEvent(
  trx: Knex.Transaction,
  event: { orderId: string; type: string; idempotencyKey: string; details?: Record<string, unknown> },
): Promise<void> {
  await trx('order_events')
    .insert({
      order_id: event.orderId,
      type: event.type,
      idempotency_key: event.idempotencyKey,
      details: JSON.stringify(event.details ?? {}),
    })
    .onConflict('idempotency_key')
    .ignore();
}

/** Finds a contact by email (case-insensitive) or creates it; returns its id. */
export async function upsertContact(trx: Knex.Transaction, contact: ContactInput): Promise<number> {
  const inserted = await trx.raw(
    `INSERT INTO users (email, full_name, registered_id) VALUES (?, ?, ?)
     ON CONFLICT ((lower(email))) DO UPDATE SET
       full_name = COALESCE(users.full_name, EXCLUDED.full_name),
       registered_id = COALESCE(users.registered_id, EXCLUDED.registered_id)
     RETURNING id`,
    [contact.email, contact.fullName ?? null, contact.registeredId ?? null],
  );
  return Number(inserted.rows[0].id);
}

/** Keeps orders.status (the read-your-writes list column) in step with the lines' states. */
export async function refreshOrderStatus(trx: Knex.Transaction, orderId: string): Promise<string> {
  const states: LineState[] = await trx('order_lines').where({ order_id: orderId }).pluck('state');
  const phase = deriveOrderPhase(states.map((state) => ({ state })));
  await trx('orders').where({ id: orderId }).update({ status: phase, updated_at: trx.fn.now() });
  return phase;
}
