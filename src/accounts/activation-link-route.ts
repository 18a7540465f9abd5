import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../api/auth';
import type { ApiDependencies } from '../api/dependencies';
import { forbidden } from '../api/errors';
import { errorResponses } from '../api/schemas';
import type { Db } from '../db/knex';
import type { SmartAccountRequestRow } from '../db/rows';
import { linkResentSchema, ResendLinkBody, sendNewLink, type ResendLinkBodyType } from '../orders/link-routes';
import { accountOr404 } from './account-authorization';
import { AccountIdParams, type AccountIdParamsType } from './schemas';

/** An operator, or the partner who requested the Smart Account on the customer's behalf (R2). */
async function authorizeActivationResend(db: Db, principal: Principal, accountId: string): Promise<void> {
  if (principal.role === 'operator') return;
  const requested =
    principal.role === 'partner' &&
    (await db<SmartAccountRequestRow>('smart_account_requests')
      .where({ account_id: accountId, requested_by_partner_id: principal.partnerId })
      .whereNot('status', 'refused')
      .first('id')) !== undefined;
  if (!requested)
    throw forbidden(`only the partner who requested Smart Account ${accountId} (or an operator) may send its activation link`);
}

/**
 * POST /v1/accounts/{accountId}/activation-link: the partner who requested a Smart Account (or an
 * operator) sends its contact a new activation link; the account's earlier links die at once. The
 * activation pages tell a contact whose link no longer works to ask that partner for a new one.
 */
export function registerActivationLinkRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Params: AccountIdParamsType; Body: ResendLinkBodyType }>(
    '/accounts/:accountId/activation-link',
    {
      schema: {
        tags: ['accounts'],
        operationId: 'resendActivationLink',
        summary: "Email the contact a new activation link for a requested Smart Account; the account's earlier links die at once",
        description:
          'The partner who requested the account, or an operator. Only while the account is pending activation (409 once active). ' +
          'The same requestId sends one link (200, repeated: true).',
        security: [{ apiKey: [] }],
        params: AccountIdParams,
        body: ResendLinkBody,
        response: { 200: linkResentSchema({ accountId: Type.String() }), ...errorResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request) => {
      const account = await accountOr404(deps.db, request.params.accountId);
      await authorizeActivationResend(deps.db, request.principal, account.id);
      const { repeated } = await sendNewLink(deps.resendActivationLink, account.id, request.body.requestId);
      request.log.info({ accountId: account.id, repeated }, 'activation link resent');
      return { accountId: account.id, sent: true as const, repeated };
    },
  );
}
