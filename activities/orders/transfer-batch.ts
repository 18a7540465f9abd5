import { CancelledFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import { assignSmartAccount } from '../../src/orders/order-actions';
import type { TransferChunkResult } from '../../src/orders/transfer-batch-api';
import {
  finishTransferBatch,
  loadTransferBatch,
  pendingTransferItems,
  recordTransferOutcome,
  type TransferBatchRow,
  type TransferItemRow,
} from '../../src/orders/transfer-batches';
import { refuse } from '../shared/errors';

/** How often a chunk tells Temporal it is alive even when no order has answered meanwhile. */
const HEARTBEAT_EVERY_MS = 5_000;

type Outcome = { state: 'succeeded' } | { state: 'refused'; reason: string };

/**
 * The batch transfer's activities. Updates cannot be sent from workflow code, so a chunk of
 * orders is worked through here: each order gets its own assignSmartAccount Update (the order's
 * validator and rules judge it), at most `concurrency` at once, and its outcome is written as
 * it answers. A chunk retried after a crash skips what is recorded, and resends the others with
 * the same Update ID, which Temporal answers once.
 */
export function createTransferBatchActivities(deps: { db: Db; temporal: Client; config: Pick<Config, 'orderTransfer'> }) {
  const { db, temporal } = deps;
  const { concurrency, chunkSize } = deps.config.orderTransfer;
  return {
    async transferOrderChunk(input: { batchId: string; afterPosition: number }): Promise<TransferChunkResult> {
      const batch = await loadTransferBatch(db, input.batchId);
      // Retrying cannot make a missing batch appear: fail the workflow with the reason instead.
      if (!batch) throw refuse('UnknownTransferBatch', `transfer batch ${input.batchId} does not exist`);
      const items = await pendingTransferItems(db, batch.id, input.afterPosition, chunkSize);
      const result: TransferChunkResult = { succeeded: 0, refused: 0 };
      if (items.length === 0) return result;
      const context = Context.current();
      const beat = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        // A stopping worker cancels the chunk: no new order is started, those under way finish.
        await forEachBounded(
          items,
          concurrency,
          () => context.cancellationSignal.aborted,
          async (item) => {
            const outcome = await transferOne(temporal, batch, item);
            await recordTransferOutcome(db, item, outcome);
            result[outcome.state]++;
            context.heartbeat();
          },
        );
      } finally {
        clearInterval(beat);
      }
      if (context.cancellationSignal.aborted) throw new CancelledFailure('the worker stopped during the chunk; it is retried');
      return { ...result, lastPosition: items[items.length - 1].position };
    },

    async finishOrderTransferBatch(batchId: string): Promise<void> {
      await finishTransferBatch(db, batchId);
    },
  };
}

/** One order's Update; a refusal is an outcome to record, anything else fails the chunk (retried). */
async function transferOne(temporal: Client, batch: TransferBatchRow, item: TransferItemRow): Promise<Outcome> {
  try {
    await assignSmartAccount(
      temporal,
      item.order_id,
      {
        accountId: batch.account_id,
        ...(batch.virtual_account_path ? { virtualAccountPath: batch.virtual_account_path } : {}),
        actingPartnerId: batch.partner_id,
      },
      { updateId: `${batch.id}:${item.order_id}` },
    );
    return { state: 'succeeded' };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { state: 'refused', reason: 'the order does not exist' };
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const reason = err.cause?.message ?? err.message;
    // Assigned to this very account already: by this batch before a crash lost its record, or by
    // another request. Either way the order is where the batch was asked to put it.
    if (reason === `the order is already assigned to Smart Account "${batch.account_id}"`) return { state: 'succeeded' };
    return { state: 'refused', reason };
  }
}

/** Runs `work` over the items with at most `limit` running at once, until `stopped`; the first failure rejects. */
async function forEachBounded<T>(items: T[], limit: number, stopped: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && !stopped() && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
