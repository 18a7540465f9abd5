import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { checkRole, checkTarget } from '../accounts/placement-rules';
import { actingPartner } from '../api/access';
import type { ApiDependencies } from '../api/dependencies';
import { forbidden, HttpError, notFound } from '../api/errors';
import { errorResponses } from '../api/schemas';
import type { Db } from '../db/knex';
import type { DistributorResellerRow, OrderRow } from '../db/rows';
import { TRANSFER_BATCH_WORKFLOW_TYPE, type TransferBatchInput } from './transfer-batch-api';
import { createTransferBatch, transferBatchProgress, type TransferBatchRow } from './transfer-batches';
import {
  TransferBatchBody,
  TransferBatchParams,
  TransferBatchResponse,
  type TransferBatchBodyType,
  type TransferBatchParamsType,
  type TransferBatchResponseBody,
} from './transfer-schemas';

const security = [{ apiKey: [] }];

/** Batch transfers: many held orders to one customer Smart Account, as a durable batch workflow. */
export function registerTransferBatchRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerStartTransferRoute(app, deps);
  registerGetTransferRoute(app, deps);
}

/** Names at most a few of the orders at fault, and how many more there are. */
function someOf(ids: string[]): string {
  return ids.slice(0, 5).join(', ') + (ids.length > 5 ? ` and ${ids.length - 5} more` : '');
}

/**
 * Every order must exist and be the acting partner's own: sold or booked by it, or sold by one
 * of its resellers (the rule of the single assignment, partnersOfOrder). One query for them all.
 */
async function checkOrdersOwned(db: Db, partnerId: string, orderIds: string[]): Promise<void> {
  const rows: Array<Pick<OrderRow, 'id' | 'partner_id' | 'booked_by_partner_id'>> = await db<OrderRow>('orders')
    .whereRaw('id = ANY(?)', [orderIds])
    .select('id', 'partner_id', 'booked_by_partner_id');
  const found = new Set(rows.map((r) => r.id));
  const missing = orderIds.filter((id) => !found.has(id));
  if (missing.length) throw notFound(`order ${someOf(missing)}`);
  const resellers = new Set(
    await db<DistributorResellerRow>('distributor_resellers').where({ distributor_id: partnerId }).pluck('reseller_id'),
  );
  const foreign = rows
    .filter((r) => r.partner_id !== partnerId && r.booked_by_partner_id !== partnerId && !resellers.has(r.partner_id))
    .map((r) => r.id);
  if (foreign.length) throw forbidden(`partner "${partnerId}" may not act on order ${someOf(foreign)}: another partner's`);
}

function registerStartTransferRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Body: TransferBatchBodyType }>(
    '/order-transfers',
    {
      schema: {
        tags: ['orders'],
        operationId: 'startOrderTransfer',
        summary: "Assign many held orders to one customer's Smart Account (R6) as a durable batch",
        description:
          '202 with the batch (its progress at GET /v1/order-transfers/{batchId}); 200 with the same batch when the requestKey was sent before with the same body, ' +
          "409 when it was sent with another. Every order must be the acting partner's (403 otherwise, 404 for an unknown one), and the partner needs a role on the account (R11). " +
          'Each order then gets its own assignment, judged by its own rules: one that no longer takes it is listed in refusals with the reason, the others still move.',
        security,
        body: TransferBatchBody,
        response: { 200: TransferBatchResponse, 202: TransferBatchResponse, ...errorResponses(400, 401, 403, 404, 409, 413, 422) },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const partnerId = actingPartner(request.principal, body.actingPartnerId, 'actingPartnerId');
      await checkOrdersOwned(deps.db, partnerId, body.orderIds);
      // The checks each order's placement makes, made once here so a refusal starts nothing.
      const { account } = await checkTarget(deps.db, {
        kind: 'smart_account',
        accountId: body.accountId,
        virtualAccountPath: body.virtualAccountPath,
      });
      await checkRole(deps.db, partnerId, account, body.virtualAccountPath);
      const { batch, created, conflict } = await createTransferBatch(deps.db, { ...body, partnerId });
      if (conflict) {
        throw new HttpError(
          409,
          'TransferConflict',
          `requestKey "${body.requestKey}" was sent with another request; send a new requestKey for a new batch`,
        );
      }
      // Started on every request until it finishes: a crash between the rows and the start is made good by the resend.
      if (batch.status === 'running') await startBatchWorkflow(deps, batch);
      request.log.info({ batchId: batch.id, orders: batch.total, created }, created ? 'transfer batch started' : 'transfer batch repeated');
      return reply
        .status(created ? 202 : 200)
        .header('location', `/v1/order-transfers/${batch.id}`)
        .send(await progressBody(deps, batch.id));
    },
  );
}

async function startBatchWorkflow(deps: ApiDependencies, batch: TransferBatchRow): Promise<void> {
  const input: TransferBatchInput = { batchId: batch.id, chunksPerRun: deps.config.orderTransfer.chunksPerRun };
  try {
    await deps.client.workflow.start(TRANSFER_BATCH_WORKFLOW_TYPE, {
      taskQueue: deps.config.temporal.taskQueue,
      workflowId: batch.workflow_id,
      args: [input],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

async function progressBody(deps: ApiDependencies, batchId: string): Promise<TransferBatchResponseBody> {
  const progress = await transferBatchProgress(deps.db, batchId);
  if (!progress) throw notFound(`transfer batch ${batchId}`);
  const { batch, counts, refusals } = progress;
  return {
    batchId: batch.id,
    workflowId: batch.workflow_id,
    status: batch.status,
    partnerId: batch.partner_id,
    accountId: batch.account_id,
    virtualAccountPath: batch.virtual_account_path,
    total: batch.total,
    ...counts,
    refusals,
    createdAt: new Date(batch.created_at).toISOString(),
    finishedAt: batch.finished_at ? new Date(batch.finished_at).toISOString() : null,
    links: {
      self: `/v1/order-transfers/${batch.id}`,
      temporalUi: `${deps.config.temporal.uiUrl}/namespaces/${encodeURIComponent(deps.config.temporal.namespace)}/workflows/${encodeURIComponent(batch.workflow_id)}`,
    },
  };
}

function registerGetTransferRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.get<{ Params: TransferBatchParamsType }>(
    '/order-transfers/:batchId',
    {
      schema: {
        tags: ['orders'],
        operationId: 'getOrderTransfer',
        summary: 'The progress of a batch transfer (from Postgres): succeeded, refused with reasons, pending',
        description: 'Only the partner that asked for the batch (or an operator) sees it.',
        security,
        params: TransferBatchParams,
        response: { 200: TransferBatchResponse, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const body = await progressBody(deps, request.params.batchId);
      const { principal } = request;
      if (principal.role !== 'operator' && (principal.role === 'user' || principal.partnerId !== body.partnerId)) {
        throw forbidden(`this API key may not see transfer batch ${body.batchId}: another partner's`);
      }
      return body;
    },
  );
}
