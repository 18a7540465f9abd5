import type { Knex } from 'knex';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import { renderOrderEmail, type EmailTemplate, type OrderEmailFacts } from '../../src/orders/email-templates';
import { generateToken, hashToken } from '../../src/security/tokens';
import { LINK_PLACEHOLDER, type Outbox } from './outbox';
import type { AccessTokenRow } from '../../src/db/rows';

export interface LinkEmail {
  purpose: 'delegation' | 'activation';
  /** URL path before the token: "delegations" or "activations". */
  path: string;
  orderId: string | null;
  accountId: string | null;
  contact: { id: string | number; email: string; fullName: string | null };
  template: EmailTemplate;
  facts: Omit<OrderEmailFacts, 'link' | 'linkExpiresAt' | 'recipientName'>;
  idempotencyKey: string;
  /** Writes that commit in the transaction that queues the email (the order's status, its event). */
  alongside?: (trx: Knex.Transaction) => Promise<void>;
}

/**
 * Sends an email with a single-use, expiring link. The outbox keeps the email with a placeholder
 * and Postgres keeps only the token's SHA-256: the sending attempt makes a fresh token, stores
 * its hash, and puts the link in the message as it leaves.
 */
export function createSecureLinkSender(deps: { db: Db; outbox: Outbox; config: Pick<Config, 'publicBaseUrl' | 'delegationTokenTtlMs'> }) {
  const { db, outbox, config } = deps;
  return async function sendLinkEmail(email: LinkEmail): Promise<void> {
    const expiresAt = new Date(Date.now() + config.delegationTokenTtlMs);
    const rendered = renderOrderEmail(email.template, {
      ...email.facts,
      recipientName: email.contact.fullName ?? undefined,
      link: LINK_PLACEHOLDER,
      linkExpiresAt: expiresAt.toISOString(),
    });
    const queued = {
      ...rendered,
      idempotencyKey: email.idempotencyKey,
      orderId: email.orderId,
      template: email.template,
      to: email.contact.email,
    };
    const { alongside } = email;
    const { pending } = alongside
      ? await db.transaction(async (trx) => {
          await alongside(trx);
          return outbox.queue(queued, trx);
        })
      : await outbox.queue(queued);
    if (!pending) return;
    // Minted and stored before the outbox row is locked, on a connection of its own that is
    // released before the lock is taken (a delivery never holds two; see outbox.deliver), and
    // committed before SMTP sees the link, so a link SMTP accepted stays valid even if marking the
    // email sent then fails and the send is retried. Tokens never replace one another; an attempt
    // that finds the email already sent by another removes the token only it knows.
    const token = generateToken();
    const [{ id: tokenId }] = await db<AccessTokenRow>('access_tokens')
      .insert({
        token_hash: hashToken(token),
        purpose: email.purpose,
        order_id: email.orderId,
        account_id: email.accountId,
        contact_id: email.contact.id,
        email_idempotency_key: email.idempotencyKey,
        expires_at: expiresAt,
      })
      .returning('id');
    const sent = await outbox.deliver(email.idempotencyKey, `${config.publicBaseUrl}/${email.path}/${token}`);
    if (!sent) await db<AccessTokenRow>('access_tokens').where({ id: tokenId }).del();
  };
}
