import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import type { OrderRow } from '../../src/db/rows';
import type { Mailer } from '../../src/email/mailer';
import { LinkResendRefusal } from '../../src/orders/link-routes';
import { createLinkReplacer } from '../shared/link-resend';
import { loadOrderFacts } from './order-facts';

export type ResendDelegationLink = (orderId: string, requestKey: string) => Promise<{ repeated: boolean }>;

/**
 * A new delegation link for an order that waits for its customer's choice, asked for by the
 * partner or an operator (the pages tell a customer with a dead link to ask the partner). The
 * order's earlier links die at once (activities/shared/link-resend.ts); the workflow redeems
 * whichever link is used.
 */
export function createDelegationLinkResender(deps: { db: Db; mailer: Mailer; config: Config }): ResendDelegationLink {
  const { db } = deps;
  const replaceLink = createLinkReplacer(deps);
  return async function resendDelegationLink(orderId, requestKey) {
    const { order, facts } = await loadOrderFacts(db, orderId);
    const status = await db<OrderRow>('orders').where({ id: orderId }).first('waiting_for');
    if (status?.waiting_for !== 'CustomerChoice') {
      throw new LinkResendRefusal(`order ${orderId} is not waiting for its customer's choice, so it has no link to replace`);
    }
    if (order.end_customer_contact_id === null || order.customer_email === null) {
      throw new LinkResendRefusal(`order ${orderId} names no end-customer contact`);
    }
    return replaceLink(
      {
        purpose: 'delegation',
        path: 'delegations',
        orderId,
        accountId: null,
        contact: { id: order.end_customer_contact_id, email: order.customer_email, fullName: order.customer_name },
        template: 'delegation-request',
        facts,
      },
      requestKey,
    );
  };
}
