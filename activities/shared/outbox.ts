import { asyncLocalStorage } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Db } from '../../src/db/knex';
import { preparedQuery } from '../../src/db/prepared';
import { messageIdFor, type Mailer, type OutgoingEmail } from '../../src/email/mailer';
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
  const { db, mailFrom } = deps;

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
     * Inserts each email unless its key exists, all in one statement; returns the keys still to
     * be sent, in the emails' order. Keys already queued are read in one more (a retry).
     * `alongside`, a data-modifying statement, runs as a CTE of the insert: both or neither, with
     * no transaction around them (issue 16: BEGIN and COMMIT were two of an email step's statements).
     */
    async queueAll(emails: QueuedEmail[], trx: Knex | Knex.Transaction = db, alongside?: Knex.QueryBuilder): Promise<string[]> {
      if (emails.length === 0) {
        if (alongside) await alongside;
        return [];
      }
      const insert = alongside ? trx<EmailOutboxRow>('email_outbox').with('alongside', alongside) : trx<EmailOutboxRow>('email_outbox');
      const inserted: Array<{ idempotency_key: string }> = await insert
        .insert(emails.map((email) => outboxRowOf(email, mailFrom)))
        .onConflict('idempotency_key')
        .ignore()
        .returning('idempotency_key');
      const pending = new Set(inserted.map((r) => r.idempotency_key));
      const earlier = emails.map((e) => e.idempotencyKey).filter((key) => !pending.has(key));
      if (earlier.length > 0) {
        const rows = await trx<EmailOutboxRow>('email_outbox')
          .whereIn('idempotency_key', earlier)
          .where({ status: 'pending' })
          .select('idempotency_key');
        for (const row of rows) pending.add(row.idempotency_key);
      }
      return emails.map((e) => e.idempotencyKey).filter((key) => pending.has(key));
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

    /** Sends one outbox row unless it was already sent; true when this call sent it (see deliverAll). */
    async deliver(idempotencyKey: string, link?: string): Promise<boolean> {
      return (await deliverAll(deps, [idempotencyKey], link)) === 1;
    },

    /** Sends the pending rows of these keys in one transaction; how many this call sent (see deliverAll). */
    deliverAll: (idempotencyKeys: string[], link?: string) => deliverAll(deps, idempotencyKeys, link),
  };
}

/**
 * Sends the outbox rows of these keys that are still pending, in one transaction; returns how
 * many this call sent. The claim marks the rows sent and locks them while SMTP talks, so two
 * overlapping attempts cannot both send; a failed send sets its row back before the commit.
 * Three statements for any number of emails when all go (BEGIN, the claim, COMMIT; issue 16:
 * it was a locking read and a mark per email). The one remaining duplicate window: SMTP
 * accepted a message and the commit then failed; the retry re-sends it with the same
 * Message-ID, which mail clients use to drop the copy. `link` replaces LINK_PLACEHOLDER in
 * the bodies.
 *
 * A permanent refusal (SMTP 5xx, src/email/smtp-failures.ts) settles its row `failed` with the
 * server's answer and the others still go: the callers (order, link, alert, true-up emails)
 * carry on, the workflow is not failed. A temporary one is recorded on its row, the rows not
 * tried yet stay pending as they were, and it is thrown after the commit (Temporal retries).
 *
 * A delivery holds one pool connection and never asks for a second while it holds the lock:
 * with every connection held by a delivery waiting for another, the worker would stall until
 * the pool's acquire timeout (DATABASE_POOL_MAX 1 showed it at once; any size under load).
 */
async function deliverAll(
  { db, mailer, mailFrom }: { db: Db; mailer: Mailer; mailFrom: string },
  idempotencyKeys: string[],
  link?: string,
): Promise<number> {
  if (idempotencyKeys.length === 0) return 0;
  const refusals: Array<{ idempotencyKey: string; refusal: SmtpRefusal }> = [];
  let retryable: Error | undefined;
  let sent = 0;
  try {
    await db.transaction(async (trx) => {
      const claimed = await claimPending(trx, idempotencyKeys);
      const settle: Array<{ id: EmailOutboxRow['id']; update: Partial<EmailOutboxRow> }> = [];
      for (const row of claimed) {
        if (retryable !== undefined) {
          // Not tried: as it was before the claim.
          settle.push({
            id: row.id,
            update: { status: 'pending', sent_at: null, attempts: row.attempts - 1, last_error: row.last_error },
          });
          continue;
        }
        try {
          await mailer.send(outgoingOf(row, mailFrom, link));
          sent += 1;
        } catch (err) {
          const refusal = permanentSmtpRefusal(err);
          if (refusal) {
            refusals.push({ idempotencyKey: row.idempotency_key, refusal });
            settle.push({ id: row.id, update: { status: 'failed', sent_at: null, last_error: refusal.answer } });
          } else {
            retryable = err as Error;
            settle.push({ id: row.id, update: { status: 'pending', sent_at: null, last_error: errorText(err) } });
          }
        }
      }
      for (const { id, update } of settle) await trx<EmailOutboxRow>('email_outbox').where({ id }).update(update);
    });
  } catch (err) {
    // The transaction rolled back (Postgres failed): nothing is marked; count the attempt on each row.
    await db<EmailOutboxRow>('email_outbox')
      .whereIn('idempotency_key', idempotencyKeys)
      .where({ status: 'pending' })
      .update({ attempts: db.raw('attempts + 1'), last_error: errorText(err) })
      .catch(() => undefined);
    throw err;
  }
  for (const { idempotencyKey, refusal } of refusals) reportPermanentFailure(idempotencyKey, refusal);
  if (retryable !== undefined) throw retryable;
  return sent;
}

/**
 * Claims the pending rows of these keys: locked in id order (two overlapping attempts queue
 * rather than deadlock), marked sent and counted in the same statement. A row another attempt
 * holds is waited for, then left out if that attempt committed it sent.
 */
async function claimPending(trx: Knex.Transaction, idempotencyKeys: string[]): Promise<EmailOutboxRow[]> {
  const { rows } = await preparedQuery<EmailOutboxRow>(
    trx,
    trx.raw(
      `WITH claimed AS (
       SELECT id FROM email_outbox WHERE idempotency_key = ANY(?) AND status = 'pending' ORDER BY id FOR UPDATE
     )
     UPDATE email_outbox o SET status = 'sent', sent_at = now(), attempts = o.attempts + 1, last_error = NULL
       FROM claimed WHERE o.id = claimed.id
     RETURNING o.*`,
      [idempotencyKeys],
    ),
  );
  // In the callers' order (the recipients' order), as they were sent one by one before.
  return rows.sort((a, b) => idempotencyKeys.indexOf(a.idempotency_key) - idempotencyKeys.indexOf(b.idempotency_key));
}

function outgoingOf(row: EmailOutboxRow, mailFrom: string, link?: string): OutgoingEmail {
  const fill = (body: string) => (link ? body.split(LINK_PLACEHOLDER).join(link) : body);
  return {
    from: mailFrom,
    to: row.to_address,
    subject: row.subject,
    text: fill(row.text_body),
    html: fill(row.html_body),
    messageId: row.message_id,
    headers: {
      'X-Order-Id': row.order_id ?? '',
      'X-Email-Template': row.template,
      'X-Idempotency-Key': row.idempotency_key,
    },
  };
}

function errorText(err: unknown): string {
  return String((err as Error | undefined)?.message ?? err).slice(0, 2000);
}

export type Outbox = ReturnType<typeof createOutbox>;

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
