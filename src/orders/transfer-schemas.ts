import { Type, type Static } from '@sinclair/typebox';
import { Id, VirtualAccountPath } from '../api/schemas';

/** The batch transfer's request and response schemas (POST and GET /v1/order-transfers). */

/** What one request may hold: 10,000 order IDs are about 250 kB, well inside the body limit. */
export const MAX_TRANSFER_ORDERS = 10_000;

export const TransferBatchBody = Type.Object(
  {
    requestKey: Type.String({
      pattern: '^[A-Za-z0-9._:\\-]{1,128}$',
      description:
        'must be 1-128 letters, digits, ".", "_", ":" or "-": the same key names the same batch, so a resent request starts nothing new',
    }),
    accountId: Id("must be the customer's active Smart Account ID"),
    virtualAccountPath: Type.Optional(VirtualAccountPath),
    orderIds: Type.Array(Type.String({ pattern: '^[0-9a-f]{20}$', description: 'must be an order ID (20 hex digits)' }), {
      minItems: 1,
      maxItems: MAX_TRANSFER_ORDERS,
      uniqueItems: true,
      description: `must be 1-${MAX_TRANSFER_ORDERS} distinct order IDs`,
    }),
    actingPartnerId: Type.Optional(Id("must be the partner acting; defaults to the API key's partner (required with an operator key)")),
  },
  { additionalProperties: false },
);
export type TransferBatchBodyType = Static<typeof TransferBatchBody>;

export const TransferBatchParams = Type.Object(
  { batchId: Type.String({ pattern: '^tb_[0-9a-f]{32}$', description: 'must be a transfer batch ID (tb_ and 32 hex digits)' }) },
  { additionalProperties: false },
);
export type TransferBatchParamsType = Static<typeof TransferBatchParams>;

export const TransferBatchResponse = Type.Object(
  {
    batchId: Type.String(),
    workflowId: Type.String(),
    status: Type.Union([Type.Literal('running'), Type.Literal('completed')]),
    partnerId: Type.String({ description: 'the partner that asked for the transfer' }),
    accountId: Type.String(),
    virtualAccountPath: Type.Union([Type.String(), Type.Null()]),
    total: Type.Integer(),
    succeeded: Type.Integer({ description: 'orders now in the Smart Account' }),
    refused: Type.Integer({ description: 'orders their own rules refused (see refusals)' }),
    pending: Type.Integer({ description: 'orders not yet answered' }),
    refusals: Type.Array(Type.Object({ orderId: Type.String(), reason: Type.String() }), {
      description: 'each refused order with its reason, in request order (the first 1,000)',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    links: Type.Object({ self: Type.String(), temporalUi: Type.String() }),
  },
  { title: 'TransferBatch' },
);
export type TransferBatchResponseBody = Static<typeof TransferBatchResponse>;
