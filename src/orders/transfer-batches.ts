import { createHash } from 'node:crypto';
import type { Db } from '../db/knex';
import { transferBatchWorkflowId, type TransferItemState } from './transfer-batch-api';

/**
 * The records of batch transfers (migrations/20261206_080_order_transfer_batches.ts): the batch
 * a partner asked for, and one row per order that the batch workflow moves from pending to
 * succeeded or refused (with the order's reason). What the API and the CLI show is read here.
 */

export interface TransferBatchRequest {
  partnerId: string;
  requestKey: string;
  accountId: string;
  virtualAccountPath?: string;
  orderIds: string[];
}

export interface TransferBatchRow {
  id: string;
  partner_id: string;
  request_key: string;
  fingerprint: string;
  account_id: string;
  virtual_account_path: string | null;
  workflow_id: string;
  status: 'running' | 'completed';
  total: number;
  created_at: Date;
  finished_at: Date | null;
}

export interface TransferItemRow {
  batch_id: string;
  position: number;
  order_id: string;
  state: TransferItemState;
  reason: string | null;
}

/** The batch of one partner's request key: the same request always names the same batch. */
export function transferBatchId(partnerId: string, requestKey: string): string {
  return `tb_${createHash('sha256').update(`${partnerId}\u0000${requestKey}`).digest('hex').slice(0, 32)}`;
}

function fingerprintOf(request: TransferBatchRequest): string {
  const body = [request.accountId, request.virtualAccountPath ?? '', ...request.orderIds].join('\u0000');
  return createHash('sha256').update(body).digest('hex');
}

/**
 * Writes the batch and its pending items in one transaction, or finds the batch the same request
 * wrote before (`created: false`; `conflict` when that request asked for something else).
 */
export async function createTransferBatch(
  db: Db,
  request: TransferBatchRequest,
): Promise<{ batch: TransferBatchRow; created: boolean; conflict: boolean }> {
  const id = transferBatchId(request.partnerId, request.requestKey);
  const fingerprint = fingerprintOf(request);
  return db.transaction(async (trx) => {
    const inserted: TransferBatchRow[] = await trx<TransferBatchRow>('order_transfer_batches')
      .insert({
        id,
        partner_id: request.partnerId,
        request_key: request.requestKey,
        fingerprint,
        account_id: request.accountId,
        virtual_account_path: request.virtualAccountPath ?? null,
        workflow_id: transferBatchWorkflowId(id),
        total: request.orderIds.length,
      })
      .onConflict(['partner_id', 'request_key'])
      .ignore()
      .returning('*');
    if (inserted.length === 0) {
      const existing = (await trx<TransferBatchRow>('order_transfer_batches').where({ id }).first())!;
      return { batch: existing, created: false, conflict: existing.fingerprint !== fingerprint };
    }
    const items = request.orderIds.map((orderId, position) => ({ batch_id: id, position, order_id: orderId }));
    await trx.batchInsert('order_transfer_items', items, 1000);
    return { batch: inserted[0], created: true, conflict: false };
  });
}

export async function loadTransferBatch(db: Db, batchId: string): Promise<TransferBatchRow | undefined> {
  return db<TransferBatchRow>('order_transfer_batches').where({ id: batchId }).first();
}

/** The next pending items after a position, in request order. */
export async function pendingTransferItems(db: Db, batchId: string, afterPosition: number, limit: number): Promise<TransferItemRow[]> {
  return db<TransferItemRow>('order_transfer_items')
    .where({ batch_id: batchId, state: 'pending' })
    .andWhere('position', '>', afterPosition)
    .orderBy('position')
    .limit(limit)
    .select('batch_id', 'position', 'order_id', 'state', 'reason');
}

/** An item's outcome; written once (a retried chunk finds it no longer pending and leaves it). */
export async function recordTransferOutcome(
  db: Db,
  item: Pick<TransferItemRow, 'batch_id' | 'position'>,
  outcome: { state: Exclude<TransferItemState, 'pending'>; reason?: string },
): Promise<void> {
  await db('order_transfer_items')
    .where({ batch_id: item.batch_id, position: item.position, state: 'pending' })
    .update({ state: outcome.state, reason: outcome.reason ?? null, updated_at: db.fn.now() });
}

export async function finishTransferBatch(db: Db, batchId: string): Promise<void> {
  await db('order_transfer_batches').where({ id: batchId, status: 'running' }).update({ status: 'completed', finished_at: db.fn.now() });
}

export interface TransferBatchProgress {
  batch: TransferBatchRow;
  counts: Record<TransferItemState, number>;
  refusals: Array<{ orderId: string; reason: string }>;
}

/** Counts by state and the refused orders with their reasons (the first `refusalLimit`, in request order). */
export async function transferBatchProgress(db: Db, batchId: string, refusalLimit = 1000): Promise<TransferBatchProgress | undefined> {
  const batch = await loadTransferBatch(db, batchId);
  if (!batch) return undefined;
  const rows: Array<{ state: TransferItemState; count: string }> = await db('order_transfer_items')
    .where({ batch_id: batchId })
    .groupBy('state')
    .select('state')
    .count({ count: '*' });
  const counts = { pending: 0, succeeded: 0, refused: 0 };
  for (const row of rows) counts[row.state] = Number(row.count);
  const refused: TransferItemRow[] = await db<TransferItemRow>('order_transfer_items')
    .where({ batch_id: batchId, state: 'refused' })
    .orderBy('position')
    .limit(refusalLimit)
    .select('order_id', 'reason');
  return { batch, counts, refusals: refused.map((r) => ({ orderId: r.order_id, reason: r.reason ?? '' })) };
}
