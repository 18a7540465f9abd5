import type { Knex } from 'knex';
import type { Db } from '../src/db/knex';
import { messageIdFor, type Mailer } from '../src/email/mailer';
import { renderDepositConfirmation, type EmailTemplate, type RenderedEmail } from '../src/email/templates';
import { refuse } from './errors';

/** Who an order email is for; the activity resolves addresses from Postgres, so no address sits in workflow history. */
export type Audience = 'partner' | 'customer';

export interface OrderEmailRequest {
  orderId: string;
  template: EmailTemplate;
  audiences: Audience[];
  /** Derived by the workflow (`order-42:deposit-confirmation`); one email per key and recipient. */
  idempotencyKey: string;
}

export interface OrderEmailResult {
  /** How many recipients the email is for (each sent exactly once, now or by an earlier attempt). */
  recipients: number;
}

interface Recipient {
  address: string;
  name?: string;
}

async function resolveRecipients(trx: Knex.Transaction | Db, order: any, audiences: Audience[]): Promise<Recipient[]> {
  const recipients: Recipient[] = [];
  if (audiences.includes('partner')) {
    const partner = await trx('partners').where({ id: order.partner_id }).first('notification_email', 'name');
    if (partner) recipients.push({ address: partner.notification_email, name: partner.name });
  }
  if (audiences.includes('customer')) {
    // The contact named on the order, else the primary contact of the customer's Smart Account.
    const contactId =
      order.end_customer_contact_id ??
      (order.account_id ? (await trx('accounts').where({ id: order.account_id }).first('primary_contact_id'))?.primary_contact_id : null);
    if (contactId) {
      const user = await trx('users').where({ id: contactId }).first('email', 'full_name');
      if (user) recipients.push({ address: user.email, name: user.full_name ?? undefined });
    }
  }
  const seen = new Set<string>();
  return recipients.filter((r) => !seen.has(r.address.toLowerCase()) && seen.add(r.address.toLowerCase()));
}

async function renderOrderEmail(db: Db, order: any, template: EmailTemplate, recipient: Recipient): Promise<RenderedEmail> {
  switch (template) {
    case 'deposit-confirmation': {
      const account = await db('accounts').where({ id: order.account_id }).first('name', 'domain');
      const va = order.virtual_account_id ? await db('virtual_accounts').where({ id: order.virtual_account_id }).first('path') : null;
      const lines = await db('order_lines')
        .where({ order_id: order.id })
        .orderBy('line_number')
        .select('line_number', 'sku', 'quantity', 'license_type', 'term_months');
      return renderDepositConfirmation({
        orderId: order.id,
        externalReference: order.external_reference,
        recipientName: recipient.name,
        accountName: account.name,
        accountDomain: account.domain,
        virtualAccountPath: va?.path ?? null,
        lines: lines.map((l) => ({
          lineNumber: l.line_number,
          sku: l.sku,
          quantity: l.quantity,
          licenseType: l.license_type,
          termMonths: l.term_months,
        })),
      });
    }
  }
}

export function createEmailActivities(deps: { db: Db; mailer: Mailer; mailFrom: string }) {
  const { db, mailer, mailFrom } = deps;

  /**
   * Sends one outbox row unless it was already sent. The row stays locked while SMTP talks, so
   * two overlapping attempts cannot both send. The one remaining duplicate window: SMTP accepted
   * the message and the commit then failed; the retry re-sends it with the same Message-ID.
   */
  async function deliver(idempotencyKey: string): Promise<void> {
    try {
      await db.transaction(async (trx) => {
        const row = await trx('email_outbox').where({ idempotency_key: idempotencyKey }).forUpdate().first();
        if (!row || row.status === 'sent') return;
        await mailer.send({
          from: mailFrom,
          to: row.to_address,
          subject: row.subject,
          text: row.text_body,
          html: row.html_body,
          messageId: row.message_id,
          headers: { 'X-Order-Id': row.order_id ?? '', 'X-Email-Template': row.template, 'X-Idempotency-Key': idempotencyKey },
        });
        await trx('email_outbox')
          .where({ id: row.id })
          .update({ status: 'sent', sent_at: trx.fn.now(), attempts: row.attempts + 1, last_error: null });
      });
    } catch (err) {
      await db('email_outbox')
        .where({ idempotency_key: idempotencyKey })
        .update({ attempts: db.raw('attempts + 1'), last_error: String((err as Error).message).slice(0, 2000) })
        .catch(() => undefined);
      throw err;
    }
  }

  return {
    async sendOrderEmail(request: OrderEmailRequest): Promise<OrderEmailResult> {
      const order = await db('orders').where({ id: request.orderId }).first();
      if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
      const recipients = await resolveRecipients(db, order, request.audiences);
      for (const recipient of recipients) {
        const key = `${request.idempotencyKey}:${recipient.address.toLowerCase()}`;
        const existing = await db('email_outbox').where({ idempotency_key: key }).first('status');
        if (!existing) {
          const email = await renderOrderEmail(db, order, request.template, recipient);
          await db('email_outbox')
            .insert({
              idempotency_key: key,
              order_id: order.id,
              template: request.template,
              to_address: recipient.address,
              subject: email.subject,
              text_body: email.text,
              html_body: email.html,
              message_id: messageIdFor(key, mailFrom),
            })
            .onConflict('idempotency_key')
            .ignore();
        }
        if (existing?.status !== 'sent') await deliver(key);
      }
      return { recipients: recipients.length };
    },
  };
}
