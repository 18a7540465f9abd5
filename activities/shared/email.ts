import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import { isoDateOf } from '../../src/common/dates';
import { renderOrderEmail, type EmailTemplate, type OrderEmailFacts } from '../../src/orders/email-templates';
import { loadOrderFacts, type OrderFactsRow } from '../orders/order-facts';
import { statusProjectionUpdate, type StatusProjection } from '../orders/records';
import type { Outbox } from './outbox';
import type { DistributorResellerRow } from '../../src/db/rows';

/**
 * Who an order email is for. The activity resolves addresses from Postgres, so no address or
 * name ever sits in workflow history (R14).
 */
export type Audience =
  /** The order's (selling) partner. */
  | 'partner'
  /** The end-customer contact of the order, else the primary contact of its Smart Account. */
  | 'customer'
  /** Members who signed up for notifications on the holding account the order sat in (R9). */
  | 'holding-members'
  /** The distributors of the order's partner (two-tier), else operations. */
  | 'escalation';

export interface OrderEmailRequest {
  orderId: string;
  template: EmailTemplate;
  audiences: Audience[];
  /** Derived by the workflow (`order-42:transfer-reminder:3`); one email per key and recipient. */
  idempotencyKey: string;
  reminderNumber?: number;
  heldSinceMs?: number;
  refusalReason?: string;
  requestedDomain?: string;
  /** The order's status with this email sent: written in the transaction that queues it. */
  status?: StatusProjection;
}

interface Recipient {
  address: string;
  name?: string;
  /** Whom the copy is for: its wording depends on it (src/orders/email-content.ts). */
  audience: Audience;
}

export function createEmailActivities(deps: { db: Db; outbox: Outbox; config: Pick<Config, 'operationsEmail'> }) {
  const { db, outbox } = deps;

  async function recipientsFor(order: OrderFactsRow, audiences: Audience[]): Promise<Recipient[]> {
    const recipients: Recipient[] = [];
    for (const audience of audiences) {
      switch (audience) {
        // Partner and customer come with the order's facts (loadOrderFacts).
        case 'partner': {
          if (order.partner_email !== null)
            recipients.push({ address: order.partner_email, name: order.partner_name ?? undefined, audience });
          break;
        }
        case 'customer': {
          if (order.customer_email !== null)
            recipients.push({ address: order.customer_email, name: order.customer_name ?? undefined, audience });
          break;
        }
        case 'holding-members': {
          if (!order.holding_account_id) break;
          const members = await db('holding_account_subscriptions as s')
            .join('users as u', 'u.id', 's.user_id')
            .where('s.account_id', order.holding_account_id)
            .orderBy('u.id')
            .select<{ email: string; full_name: string | null }[]>('u.email', 'u.full_name');
          for (const m of members) recipients.push({ address: m.email, name: m.full_name ?? undefined, audience });
          break;
        }
        case 'escalation': {
          const distributors = await db('partners as p')
            .whereIn(
              'p.id',
              db<DistributorResellerRow>('distributor_resellers').where({ reseller_id: order.partner_id }).select('distributor_id'),
            )
            .orWhere((q) => {
              q.where('p.id', order.booked_by_partner_id).andWhere('p.kind', 'distributor');
            })
            .orderBy('p.id')
            .select<{ notification_email: string; name: string }[]>('p.notification_email', 'p.name');
          if (distributors.length === 0) recipients.push({ address: deps.config.operationsEmail, name: 'Operations', audience });
          for (const d of distributors) recipients.push({ address: d.notification_email, name: d.name, audience });
          break;
        }
      }
    }
    const seen = new Set<string>();
    return recipients.filter((r) => !seen.has(r.address.toLowerCase()) && seen.add(r.address.toLowerCase()));
  }

  return {
    /** Renders an order email for each recipient of the audiences and sends each once. */
    async sendOrderEmail(request: OrderEmailRequest): Promise<{ recipients: number }> {
      const { order, facts } = await loadOrderFacts(db, request.orderId);
      const recipients = await recipientsFor(order, request.audiences);
      // Every copy is queued, and the status says the email was sent, in one statement.
      const emails = recipients.map((recipient) => ({
        ...renderOrderEmail(request.template, factsFor(recipient, facts, request)),
        idempotencyKey: `${request.idempotencyKey}:${recipient.address.toLowerCase()}`,
        orderId: order.id,
        template: request.template,
        to: recipient.address,
      }));
      const projection = request.status ? statusProjectionUpdate(db, order.id, request.status) : undefined;
      const pendingKeys = await outbox.queueAll(emails, db, projection);
      await outbox.deliverAll(pendingKeys);
      return { recipients: recipients.length };
    },
  };
}

/** What one recipient's copy says: its audience decides the wording and whether license keys show. */
function factsFor(recipient: Recipient, facts: OrderEmailFacts, request: OrderEmailRequest): OrderEmailFacts {
  return {
    ...facts,
    // Holding-account members are told about the order but may not see it: no license keys for them.
    ...(recipient.audience === 'holding-members' ? { lines: facts.lines.map(({ licenseKey: _hidden, ...line }) => line) } : {}),
    recipientName: recipient.name,
    recipient: recipient.audience,
    ...(request.reminderNumber ? { reminderNumber: request.reminderNumber } : {}),
    ...(request.heldSinceMs ? { heldSince: isoDateOf(request.heldSinceMs) } : {}),
    ...(request.refusalReason ? { refusalReason: request.refusalReason } : {}),
    ...(request.requestedDomain ? { requestedDomain: request.requestedDomain } : {}),
  };
}
