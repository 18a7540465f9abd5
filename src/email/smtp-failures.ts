/**
 * Which SMTP failures are permanent (issue 18 item 1). A 5xx reply (RFC 5321: 550 mailbox
 * unavailable or unknown, 553 address not allowed, 554 transaction failed, 552 too large) will
 * be the same on every retry: the email is settled `failed` with the server's answer. A 4xx
 * reply (greylisting, mailbox busy, 421 closing) and every connection error (refused, reset,
 * timeout, DNS) are temporary: the activity throws and Temporal retries it with backoff.
 */
export interface SmtpRefusal {
  responseCode: number;
  /** The server's answer as it said it, e.g. `550 5.1.1 <a@b>: Recipient address rejected`. */
  answer: string;
}

export function permanentSmtpRefusal(err: unknown): SmtpRefusal | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { responseCode, response, message } = err as { responseCode?: unknown; response?: unknown; message?: unknown };
  if (typeof responseCode !== 'number' || responseCode < 500 || responseCode > 599) return undefined;
  const answer = typeof response === 'string' && response ? response : typeof message === 'string' ? message : `${responseCode}`;
  return { responseCode, answer: answer.slice(0, 2000) };
}
