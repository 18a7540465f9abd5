/**
 * A batch transfer (POST /v1/order-transfers): many held orders assigned to one customer Smart
 * Account. The orders and their outcomes live in Postgres; this workflow only drives the chunks
 * in request order, with a cursor (the last position worked through) that continue-as-new
 * carries, so the history stays short however many orders the batch holds.
 */
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { OrderActivities } from '../../activities';
import type { TransferBatchInput } from '../../src/orders/transfer-batch-api';

/** Chunks per run before continuing as new when the input names none (each chunk adds three events). */
const DEFAULT_CHUNKS_PER_RUN = 20;

const { transferOrderChunk, finishOrderTransferBatch } = proxyActivities<OrderActivities>({
  // A chunk heartbeats while its orders answer: a crashed worker is noticed within the
  // heartbeat timeout and the chunk retried elsewhere, skipping the orders already recorded.
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function orderTransferBatch(input: TransferBatchInput): Promise<void> {
  let afterPosition = input.afterPosition ?? -1;
  const chunksPerRun = input.chunksPerRun ?? DEFAULT_CHUNKS_PER_RUN;
  for (let chunk = 0; ; chunk++) {
    if (chunk > 0 && (chunk >= chunksPerRun || workflowInfo().continueAsNewSuggested)) {
      await continueAsNew<typeof orderTransferBatch>({ ...input, afterPosition });
    }
    const result = await transferOrderChunk({ batchId: input.batchId, afterPosition });
    if (result.lastPosition === undefined) break;
    afterPosition = result.lastPosition;
  }
  await finishOrderTransferBatch(input.batchId);
}
