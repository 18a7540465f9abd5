import { createHash } from 'node:crypto';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import type { AccessTokenRow, EmailOutboxRow } from '../../src/db/rows';
import type { Mailer } from '../../src/email/mailer';
import { createOutbox } from './outbox';
import { createSecureLinkSender, type LinkEmail } from './secure-links';

/** Sends a new customer link in place of the earlier ones: `repeated` when this request had already sent it. */
export type ReplaceLink = (email: Omit<LinkEmail, 'idempotencyKey'>, requestKey: string) => Promise<{ repeated: boolean }>;

/**
 * A new link asked for by a partner or an operator (delegation of an order, or activation of an
 * account). The unused links of the same purpose for the same order (or account) die at once, then
 * the new one is emailed. Idempotent per request: the same request key sends one email and kills
 * links once, so a repeat never kills the link it sent. No workflow round trip: links are rows.
 */
export function createLinkReplacer(deps: { db: Db; mailer: Mailer; config: Config }): ReplaceLink {
  const { db, config } = deps;
  const outbox = createOutbox({ db, mailer: deps.mailer, mailFrom: config.mailFrom });
  const sendLinkEmail = createSecureLinkSender({ db, outbox, config });
  return async function replaceLink(email, requestKey) {
    const owner = email.orderId !== null ? { order_id: email.orderId } : { account_id: email.accountId };
    const scope = email.orderId !== null ? `order-${email.orderId}` : `account-${email.accountId}`;
    const requestHash = createHash('sha256').update(requestKey).digest('hex').slice(0, 32);
    const idempotencyKey = `${scope}:${email.purpose}-resend:${requestHash}`;
    const repeated = (await db<EmailOutboxRow>('email_outbox').where({ idempotency_key: idempotencyKey }).first('id')) !== undefined;
    if (!repeated) {
      // Every link sent before dies now: it shows as expired, and only the new one works.
      await db<AccessTokenRow>('access_tokens')
        .where({ ...owner, purpose: email.purpose })
        .whereNull('used_at')
        .where('expires_at', '>', db.fn.now())
        .update({ expires_at: db.fn.now() });
    }
    await sendLinkEmail({ ...email, idempotencyKey });
    return { repeated };
  };
}
