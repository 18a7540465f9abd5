import { Type, type Static, type TProperties } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { authorizedOrder } from '../api/access';
import type { ApiDependencies } from '../api/dependencies';
import { HttpError } from '../api/errors';
import { errorResponses, OrderIdParams, type OrderIdParamsType } from '../api/schemas';

/** Why a new customer link cannot be sent (no choice or activation awaited, no contact): 409. */
export class LinkResendRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkResendRefusal';
  }
}

export const ResendLinkBody = Type.Object(
  {
    requestId: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: '^[\\x21-\\x7e]+$',
      description: 'must be 1-200 printable ASCII characters without spaces: the same requestId sends one link',
    }),
  },
  { additionalProperties: false },
);
export type ResendLinkBodyType = Static<typeof ResendLinkBody>;

/** The answer to a resend: the order (or account) it was for, and whether this request had sent it before. */
export function linkResentSchema<Id extends TProperties>(id: Id) {
  return Type.Object(
    {
      ...id,
      sent: Type.Literal(true),
      repeated: Type.Boolean({ description: 'true when this requestId had already sent the link: nothing new was sent' }),
    },
    { additionalProperties: false },
  );
}

/**
 * Sends the new link through the API's resender: 503 when this API cannot send email, 409 when
 * there is no link to replace. Shared by the delegation and activation link routes.
 */
export async function sendNewLink(
  resend: ((id: string, requestKey: string) => Promise<{ repeated: boolean }>) | undefined,
  id: string,
  requestId: string,
): Promise<{ repeated: boolean }> {
  if (!resend) throw new HttpError(503, 'Unavailable', 'this API cannot send email');
  try {
    return await resend(id, requestId);
  } catch (err) {
    if (err instanceof LinkResendRefusal) throw new HttpError(409, 'InvalidState', err.message);
    throw err;
  }
}

/**
 * POST /v1/orders/{orderId}/delegation-link: the partner (or an operator) sends the customer a
 * new delegation link; the links sent before die at once. The pages tell a customer whose link
 * no longer works to ask the partner for a new one: this is what the partner then does.
 */
export function registerResendLinkRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Params: OrderIdParamsType; Body: ResendLinkBodyType }>(
    '/orders/:orderId/delegation-link',
    {
      schema: {
        tags: ['orders'],
        operationId: 'resendDelegationLink',
        summary: "Email the customer a new delegation link; the order's earlier links die at once",
        description:
          "Only while the order waits for the customer's choice (else 409). The same requestId sends one link (200, repeated: true).",
        security: [{ apiKey: [] }],
        params: OrderIdParams,
        body: ResendLinkBody,
        response: { 200: linkResentSchema({ orderId: Type.String() }), ...errorResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request) => {
      const { orderId } = request.params;
      await authorizedOrder(deps.db, deps.client, request.principal, orderId);
      const { repeated } = await sendNewLink(deps.resendDelegationLink, orderId, request.body.requestId);
      request.log.info({ orderId, repeated }, 'delegation link resent');
      return { orderId, sent: true as const, repeated };
    },
  );
}
