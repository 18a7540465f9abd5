import { createHash } from 'node:crypto';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import type { AccessTokenRow, EmailOutboxRow, OrderRow } from '../../src/db/rows';
import type { Mailer } from '../../src/email/mailer';
import { LinkResendRefusal } from '../../src/orders/link-routes';
import { createOutbox } from '../shared/outbox';
import { createSecureLinkSender } from '../shared/secure-links';
import { loadOrderFacts } from './order-facts';

export type ResendDelegationLink = (orderId: string, requestKey: string) => Promise<{ repeated: boolean }>;

/**
 * A new delegation link for an order that waits for its customer's choice, asked for by the
 * partner or an operator (the pages tell a customer with a dead link to ask the partner). The
 * order's unused links die at once, then the new one is emailed to the contact. Idempotent per
 * request: the same request key sends one email and kills links once, so a repeat never kills
 * the link it sent. No workflow round trip: links are rows; the workflow redeems whichever is used.
 */
export function createDelegationLinkResender(deps: { db: Db; mailer: Mailer; config: Config }): ResendDelegationLink {
  const { db, config } = deps;
  const outbox = createOutbox({ db, mailer: deps.mailer, mailFrom: config.mailFrom });
  const sendLinkEmail = createSecureLinkSender({ db, outbox, config });
  return async function resendDelegationLink(orderId, requestKey) {
    const { order, facts } = await loadOrderFacts(db, orderId);
    const status = await db<OrderRow>('orders').where({ id: orderId }).first('waiting_for');
    if (status?.waiting_for !== 'CustomerChoice') {
      throw new LinkResendRefusal(`order ${orderId} is not waiting for its customer's choice, so it has no link to replace`);
    }
    if (order.end_customer_contact_id === null || order.customer_email === null) {
      throw new LinkResendRefusal(`order ${orderId} names no end-customer contact`);
    }
    const requestHash = createHash('sha256').update(requestKey).digest('hex').slice(0, 32);
    const idempotencyKey = `order-${orderId}:delegation-resend:${requestHash}`;
    const repeated = (await db<EmailOutboxRow>('email_outbox').where({ idempotency_key: idempotencyKey }).first('id')) !== undefined;
    if (!repeated) {
      // Every link sent before dies now: it shows as expired, and only the new one works.
      await db<AccessTokenRow>('access_tokens')
        .where({ order_id: orderId, purpose: 'delegation' })
        .whereNull('used_at')
        .where('expires_at', '>', db.fn.now())
        .update({ expires_at: db.fn.now() });
    }
    await sendLinkEmail({
      purpose: 'delegation',
      path: 'delegations',
      orderId,
      accountId: null,
      contact: { id: order.end_customer_contact_id, email: order.customer_email, fullName: order.customer_name },
      template: 'delegation-request',
      facts,
      idempotencyKey,
    });
    return { repeated };
  };
}
