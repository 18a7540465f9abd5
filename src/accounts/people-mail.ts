import type { Config } from '../config';
import type { Db } from '../db/knex';
import { messageIdFor, type Mailer } from '../email/mailer';
import { escapeHtml } from '../orders/email-templates';
import { generateToken, hashToken } from '../security/tokens';

/**
 * The emails of the people pages (R24): a sign-in link, a verify-email link, "you already have an
 * ID". A small direct path through the email outbox: the row is keyed by a deterministic
 * idempotency key (a repeated request within its window sends nothing new), it keeps a
 * placeholder instead of the link, and only the SHA-256 of the link's token is stored.
 */

export const LINK_PLACEHOLDER = '{{secure-link}}';

export interface PeopleMailDeps {
  db: Db;
  mailer: Mailer;
  config: Pick<Config, 'publicBaseUrl' | 'mailFrom'>;
}

export interface PeopleEmail {
  template: 'sign-in' | 'verify-email' | 'user-id-exists';
  to: string;
  subject: string;
  /** Paragraphs of text; LINK_PLACEHOLDER marks where the link goes. */
  paragraphs: string[];
  idempotencyKey: string;
  /** A single-use link to mint as the email leaves. */
  link?: { purpose: 'sign_in' | 'verify_email'; path: string; userId: string; expiresAt: Date; details?: Record<string, unknown> };
}

function bodiesOf(paragraphs: string[]): { text: string; html: string } {
  const text = paragraphs.join('\n\n') + '\n';
  const html = paragraphs
    .map((p) => {
      const escaped = escapeHtml(p);
      return `<p>${escaped.includes(LINK_PLACEHOLDER) ? escaped.split(LINK_PLACEHOLDER).join(`<a href="${LINK_PLACEHOLDER}">${LINK_PLACEHOLDER}</a>`) : escaped}</p>`;
    })
    .join('\n');
  return { text, html: `<!doctype html><html lang="en"><body>${html}</body></html>` };
}

/** Queues the email under its key and sends it unless it was sent already; true when this call sent it. */
export async function sendPeopleEmail(deps: PeopleMailDeps, email: PeopleEmail): Promise<boolean> {
  const { db, mailer, config } = deps;
  const { text, html } = bodiesOf(email.paragraphs);
  await db('email_outbox')
    .insert({
      idempotency_key: email.idempotencyKey,
      order_id: null,
      template: email.template,
      to_address: email.to,
      subject: email.subject,
      text_body: text,
      html_body: html,
      message_id: messageIdFor(email.idempotencyKey, config.mailFrom),
    })
    .onConflict('idempotency_key')
    .ignore();
  let token: string | undefined;
  if (email.link) {
    token = generateToken();
    await db('access_tokens').insert({
      token_hash: hashToken(token),
      purpose: email.link.purpose,
      contact_id: email.link.userId,
      email_idempotency_key: email.idempotencyKey,
      expires_at: email.link.expiresAt,
      details: JSON.stringify(email.link.details ?? {}),
    });
  }
  const link = token && email.link ? `${config.publicBaseUrl}/${email.link.path}/${token}` : '';
  const sent = await db.transaction(async (trx) => {
    const row = await trx('email_outbox').where({ idempotency_key: email.idempotencyKey }).forUpdate().first<{
      id: string;
      status: string;
      to_address: string;
      subject: string;
      text_body: string;
      html_body: string;
      message_id: string;
      attempts: number;
    }>();
    if (!row || row.status !== 'pending') return false;
    const fill = (body: string) => body.split(LINK_PLACEHOLDER).join(link);
    await mailer.send({
      from: config.mailFrom,
      to: row.to_address,
      subject: row.subject,
      text: fill(row.text_body),
      html: fill(row.html_body),
      messageId: row.message_id,
      headers: { 'X-Email-Template': email.template, 'X-Idempotency-Key': email.idempotencyKey },
    });
    await trx('email_outbox')
      .where({ id: row.id })
      .update({ status: 'sent', sent_at: trx.fn.now(), attempts: row.attempts + 1 });
    return true;
  });
  // A token minted for an email another attempt already sent can never be used: drop it.
  if (!sent && token)
    await db('access_tokens')
      .where({ token_hash: hashToken(token) })
      .delete();
  return sent;
}

/** The window a repeated request falls into: one email per key and window. */
export function windowOf(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}
