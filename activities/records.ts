import type { Knex } from 'knex';
import type { ContactInput } from '../src/domain/order';
import type { OrderPhase, WaitingFor } from '../src/domain/order-lifecycle';

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

/**
 * Finds a contact by email (case-insensitive) or creates it; returns its id. A booking may name
 * the contact but never vouch for their registered user ID: that comes only from the identity
 * records (users.registered_id), so R2 cannot be satisfied by what a partner types.
 */
export async function upsertContact(trx: Knex.Transaction, contact: ContactInput): Promise<number> {
  const inserted = await trx.raw(
    `INSERT INTO users (email, full_name) VALUES (?, ?)
     ON CONFLICT ((lower(email))) DO UPDATE SET full_name = COALESCE(users.full_name, EXCLUDED.full_name)
     RETURNING id`,
    [contact.email, contact.fullName ?? null],
  );
  return Number(inserted.rows[0].id);
}

/** Keeps orders.status and waiting_for (the read-your-writes list columns) in step with the workflow. */
export async function writeListStatus(
  trx: Knex.Transaction,
  orderId: string,
  status: ListStatus,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await trx('orders')
    .where({ id: orderId })
    .update({ status: status.phase, waiting_for: status.waitingFor, updated_at: trx.fn.now(), ...extra });
}
