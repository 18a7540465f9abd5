/**
 * Names shared by the transfer batch workflow, its activities, the API and the CLI. Safe to
 * import from workflow code (no Node built-ins).
 */
export const TRANSFER_BATCH_WORKFLOW_TYPE = 'orderTransferBatch';

/** One workflow per batch: a repeated request finds the one already running (or finished). */
export function transferBatchWorkflowId(batchId: string): string {
  return `order-transfer-${batchId}`;
}

export interface TransferBatchInput {
  batchId: string;
  /** The position of the last item a previous run worked through (continue-as-new carries it). */
  afterPosition?: number;
  /** Chunks per run before continuing as new (ORDER_TRANSFER_CHUNKS_PER_RUN when the batch started). */
  chunksPerRun?: number;
}

export interface TransferChunkResult {
  /** The last position this chunk worked through; absent when nothing was left. */
  lastPosition?: number;
  succeeded: number;
  refused: number;
}

export type TransferItemState = 'pending' | 'succeeded' | 'refused';
