import { asyncLocalStorage } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Db } from '../../src/db/knex';
import { messageIdFor, type Mailer } from '../../src/email/mailer';
import type { RenderedEmail } from '../../src/orders/email-templates';
import type { EmailOutboxRow } from '../../src/db/rows';
import { permanentSmtpRefusal, type SmtpRefusal } from '../../src/email/smtp-failures';

/** Placeholder for a secure link: the outbox stores it, the real link exists only while sending. */
export const LINK_PLACEHOLDER = '{{secure-link}}';

export interface QueuedEmail extends RenderedEmail {
  idempotencyKey: string;
  orderId: string | null;
  /** The alert an alert email is for: its listing shows whether the email went out. */
  alertId?: string | null;
  template: string;
  to: string;
}

/** The outbox row of a queued email, with the Message-ID its key fixes. */
function outboxRowOf(email: QueuedEmail, mailFrom: string): Partial<EmailOutboxRow> {
  return {
    idempotency_key: email.idempotencyKey,
    order_id: email.orderId,
    alert_id: email.alertId ?? null,
    template: email.template,
    to_address: email.to,
    subject: email.subject,
    text_body: email.text,
    html_body: email.html,
    message_id: messageIdFor(email.idempotencyKey, mailFrom),
  };
}

/**
 * The email outbox: every email is a row keyed by a deterministic idempotency key before it is
 * sent, and is sent at most once per key.
 */
export function createOutbox(deps: { db: Db; mailer: Mailer; mailFrom: string }) {
  const { db, mailer, mailFrom } = deps;

  return {
    /** Inserts the email unless its key exists; returns whether it still has to be sent. */
    async queue(email: QueuedEmail, trx: Knex | Knex.Transaction = db): Promise<{ pending: boolean }> {
      const inserted: Array<{ status: string }> = await trx<EmailOutboxRow>('email_outbox')
        .insert(outboxRowOf(email, mailFrom))
        .onConflict('idempotency_key')
        .ignore()
        .returning('status');
      // A new row comes back (pending); a key already queued returns nothing, so read its status.
      if (inserted.length > 0) return { pending: true };
      const row = (await trx<EmailOutboxRow>('email_outbox').where({ idempotency_key: email.idempotencyKey }).first('status'))!;
      return { pending: row.status === 'pending' };
    },

    /**
     * Settles a row that must not be sent any more (its reason went away): `withdrawn`, so it does
     * not stay pending forever. A row another attempt is sending right now is locked; this waits,
     * then finds it sent and leaves it.
     */
    async withdraw(idempotencyKey: string, reason: string): Promise<void> {
      await db<EmailOutboxRow>('email_outbox')
        .where({ idempotency_key: idempotencyKey, status: 'pending' })
        .update({ status: 'withdrawn', last_error: reason.slice(0, 2000) });
    },

    /**
     * Sends one outbox row unless it was already sent; true when this call sent it. The row stays
     * locked while SMTP talks, so two overlapping attempts cannot both send. The one remaining
     * duplicate window: SMTP accepted the message and the commit then failed; the retry re-sends
     * it with the same Message-ID, which mail clients use to drop the copy. `link` replaces
     * LINK_PLACEHOLDER in the bodies.
     *
     * A delivery holds one pool connection and never asks for a second while it holds the lock:
     * with every connection held by a delivery waiting for another, the worker would stall until
     * the pool's acquire timeout (DATABASE_POOL_MAX 1 showed it at once; any size under load).
     */
    async deliver(idempotencyKey: string, link?: string): Promise<boolean> {
      // A permanent refusal (SMTP 5xx, src/email/smtp-failures.ts) returns false like "already
      // sent": the callers (order, link, alert, true-up emails) carry on, the workflow is not
      // failed, and the row says `failed` with the server's answer.
      try {
        return await db.transaction(async (trx) => {
          const row = await trx<EmailOutboxRow>('email_outbox').where({ idempotency_key: idempotencyKey }).forUpdate().first();
          if (!row || row.status !== 'pending') return false;
          const fill = (body: string) => (link ? body.split(LINK_PLACEHOLDER).join(link) : body);
          await mailer.send({
            from: mailFrom,
            to: row.to_address,
            subject: row.subject,
            text: fill(row.text_body),
            html: fill(row.html_body),
            messageId: row.message_id,
            headers: {
              'X-Order-Id': row.order_id ?? '',
              'X-Email-Template': row.template,
              'X-Idempotency-Key': idempotencyKey,
            },
          });
          await trx<EmailOutboxRow>('email_outbox')
            .where({ id: row.id })
            .update({ status: 'sent', sent_at: trx.fn.now(), attempts: row.attempts + 1, last_error: null });
          return true;
        });
      } catch (err) {
        if (await settledAsFailed(db, idempotencyKey, err)) return false;
        await db<EmailOutboxRow>('email_outbox')
          .where({ idempotency_key: idempotencyKey })
          .update({ attempts: db.raw('attempts + 1'), last_error: String((err as Error).message).slice(0, 2000) })
          .catch(() => undefined);
        throw err;
      }
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;

/** Permanent (5xx): the row is settled `failed` with the server's answer and never retried; an operator resends it. */
async function settledAsFailed(db: Db, idempotencyKey: string, err: unknown): Promise<boolean> {
  const refusal = permanentSmtpRefusal(err);
  if (!refusal) return false;
  await db<EmailOutboxRow>('email_outbox')
    .where({ idempotency_key: idempotencyKey, status: 'pending' })
    .update({ status: 'failed', attempts: db.raw('attempts + 1'), last_error: refusal.answer });
  reportPermanentFailure(idempotencyKey, refusal);
  return true;
}

export const EMAIL_FAILED_METRIC = 'email_failed';

/** The log line and the counter an operator watches (served on the worker's /metrics); nothing outside an activity. */
function reportPermanentFailure(idempotencyKey: string, refusal: SmtpRefusal): void {
  const activity = asyncLocalStorage.getStore();
  if (!activity) return;
  try {
    activity.metricMeter
      .createCounter(EMAIL_FAILED_METRIC, 'emails', 'Emails the SMTP server refused for good (5xx): the outbox rows with status failed')
      .add(1, { code: String(refusal.responseCode) });
    activity.log.warn('email refused for good by the SMTP server', {
      idempotencyKey,
      responseCode: refusal.responseCode,
      answer: refusal.answer,
    });
  } catch {
    // Telemetry never fails the delivery; the row is what matters.
  }
}
