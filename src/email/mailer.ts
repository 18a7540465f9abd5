import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';

export interface OutgoingEmail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
}

/** The one thing activities need from email: deliver this message or throw. */
export interface Mailer {
  send(email: OutgoingEmail): Promise<void>;
  close(): void;
}

/**
 * SMTP connections one process keeps open and reuses. A connection per email cost a TCP connect
 * and EHLO each (a share of the worker's socket writes, issue 16); sends beyond this many wait
 * in the pool's queue while each delivery still holds its outbox row.
 */
export const SMTP_POOL_MAX_CONNECTIONS = 5;

export function createSmtpMailer(smtpUrl: string): Mailer {
  const transport = nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: SMTP_POOL_MAX_CONNECTIONS,
    // A connection is replaced after this many messages, and closed after a minute idle.
    maxMessages: 100,
    idleTimeout: 60_000,
    // A connection that drops mid-send fails that send: the outbox's caller retries it (with
    // Temporal's backoff, the same Message-ID), rather than the pool re-sending it unseen.
    maxRequeues: 0,
  });
  return {
    async send(email) {
      await transport.sendMail({
        from: email.from,
        to: email.to,
        subject: email.subject,
        text: email.text,
        html: email.html,
        messageId: email.messageId,
        headers: email.headers,
      });
    },
    close: () => transport.close(),
  };
}

/**
 * A Message-ID derived from the outbox idempotency key: if SMTP accepted a message but the
 * outbox row could not be marked sent, the retry carries the same ID and mail clients drop it.
 */
export function messageIdFor(idempotencyKey: string, from: string): string {
  const domain = /@([^>\s]+)>?$/.exec(from)?.[1] ?? 'license-fulfillment.localhost';
  const digest = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40);
  return `<${digest}@${domain}>`;
}
