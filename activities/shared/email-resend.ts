import type { Knex } from 'knex';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import type { EmailOutboxRow } from '../../src/db/rows';
import { messageIdFor, type Mailer } from '../../src/email/mailer';
import { EmailResendRefusal, type ResendEmail } from '../../src/email/resend-refusal';
import { createOutbox, LINK_PLACEHOLDER } from './outbox';
import { recordOrderEvent } from '../orders/records';

/**
 * Issue 18 item 1: an email the SMTP server refused for good (`failed`) is sent again with one
 * call, to the corrected address or the same one. The resend is a new outbox row that points at
 * the failed one (`resend_of`, unique) under the key `email-resend:<id>`: however often the call
 * is made, and however many calls race, there is one new row, and the outbox sends a row once.
 * A repeated call while that row is still pending (the SMTP server answered 4xx, or the API died
 * mid-send) delivers it now: the call is also how a stuck resend is pushed. The order's event log
 * records who resent what to where; the row itself keeps `resent_by` for alert emails.
 */
export function createEmailResender(deps: { db: Db; mailer: Mailer; config: Pick<Config, 'mailFrom'> }): ResendEmail {
  const { db, config } = deps;
  const outbox = createOutbox({ db, mailer: deps.mailer, mailFrom: config.mailFrom });

  return async function resendEmail(emailId, request) {
    const key = `email-resend:${emailId}`;
    let repeated = true;
    await db.transaction(async (trx) => {
      // Locked: of two racing calls the second waits here, then finds the resend the first made.
      const original = await trx<EmailOutboxRow>('email_outbox').where({ id: emailId }).forUpdate().first();
      if (!original) throw new EmailResendRefusal('NotFound', `email ${emailId}`);
      if (await trx<EmailOutboxRow>('email_outbox').where({ resend_of: emailId }).first('id')) return;
      refuseUnlessResendable(original);
      repeated = false;
      await queueResend(trx, original, key, request, config.mailFrom);
    });
    const resend = (await db<EmailOutboxRow>('email_outbox').where({ resend_of: emailId }).first('idempotency_key', 'status'))!;
    if (resend.status === 'pending') {
      try {
        await outbox.deliver(resend.idempotency_key);
      } catch (err) {
        // A 4xx or a lost connection: the row stays pending, and the caller's retry sends it.
        const answer = String((err as Error).message).slice(0, 300);
        throw new EmailResendRefusal('Unavailable', `the resend is queued but not sent yet (${answer}); the same call tries again`);
      }
    }
    return { repeated };
  };
}

function refuseUnlessResendable(original: EmailOutboxRow): void {
  if (original.status !== 'failed') {
    throw new EmailResendRefusal(
      'InvalidState',
      `email ${original.id} is ${original.status}: only an email the SMTP server refused (failed) is resent`,
    );
  }
  // A secure link lives only while its email is sent: a new link needs a new token, which the link routes make.
  if (original.text_body.includes(LINK_PLACEHOLDER) || original.html_body.includes(LINK_PLACEHOLDER)) {
    const route = original.order_id
      ? `POST /v1/orders/${original.order_id}/delegation-link`
      : 'POST /v1/accounts/{accountId}/activation-link';
    throw new EmailResendRefusal('InvalidState', `email ${original.id} carries a secure link: ${route} sends a new link instead`);
  }
}

async function queueResend(
  trx: Knex.Transaction,
  original: EmailOutboxRow,
  key: string,
  request: { to?: string; resentBy: string },
  mailFrom: string,
): Promise<void> {
  const to = request.to ?? original.to_address;
  await trx<EmailOutboxRow>('email_outbox').insert({
    idempotency_key: key,
    order_id: original.order_id,
    alert_id: original.alert_id,
    template: original.template,
    to_address: to,
    subject: original.subject,
    text_body: original.text_body,
    html_body: original.html_body,
    message_id: messageIdFor(key, mailFrom),
    resend_of: original.id,
    resent_by: request.resentBy,
  });
  if (original.order_id !== null) {
    await recordOrderEvent(trx, {
      orderId: original.order_id,
      type: 'email-resent',
      idempotencyKey: key,
      details: {
        emailId: String(original.id),
        template: original.template,
        failedWith: original.last_error,
        previousAddress: original.to_address,
        to,
        resentBy: request.resentBy,
      },
    });
  }
}
