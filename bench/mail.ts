/**
 * The benchmark's SMTP server: a real SMTP endpoint (smtp-server, as src/dev/mail-catcher.ts)
 * that keeps what the driver needs in memory instead of one file per message, so tens of
 * thousands of emails cost no disk and no directory scans. Per message it records when it
 * arrived, its order, template, idempotency key and recipients; a delegation request is parsed
 * whole (mailparser) for its link token. The driver waits on messages by order and template.
 */
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface BenchMail {
  receivedAt: number;
  orderId: string;
  template: string;
  idempotencyKey: string;
  to: string[];
  /** The link token of a delegation request (`<publicBaseUrl>/delegations/<token>`). */
  token?: string;
}

export interface BenchMailCatcher {
  port: number;
  /** Resolves with the first message of the order with this template (already received, or when it comes). */
  next(orderId: string, template: string, timeoutMs?: number): Promise<BenchMail>;
  /** Every message of a template received so far. */
  ofTemplate(template: string): BenchMail[];
  count(template: string): number;
  /** Resolves when `count(template)` reaches `atLeast` (or rejects after the timeout). */
  whenCount(template: string, atLeast: number, timeoutMs: number): Promise<void>;
  total(): number;
  stop(): Promise<void>;
}

const TOKEN_PATTERN = /\/delegations\/([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/;

/** The unfolded header block of a raw message, lower-case names. */
export function parseHeaders(raw: string): Record<string, string> {
  const end = raw.search(/\r?\n\r?\n/);
  const block = (end === -1 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

export async function startBenchMailCatcher(): Promise<BenchMailCatcher> {
  const index = new MailIndex();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    // Senders keep pooled connections open (src/email/mailer.ts): a stopped server drops them
    // within a second, like one that went away, instead of waiting 30 s for them to quit.
    closeTimeout: 1000,
    size: 10 * 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // The handler answers through callback, errors included: nothing is left to await.
      stream.on('end', () => void saveMail());
      const saveMail = async (): Promise<void> => {
        try {
          index.record(await benchMailOf(Buffer.concat(chunks), session.envelope.rcptTo, Date.now()));
          callback();
        } catch (err) {
          callback(err as Error);
        }
      };
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });

  return {
    port,
    next: (orderId, template, timeoutMs) => index.next(orderId, template, timeoutMs),
    ofTemplate: (template) => index.ofTemplate(template),
    count: (template) => index.count(template),
    whenCount: (template, atLeast, timeoutMs) => index.whenCount(template, atLeast, timeoutMs),
    total: () => index.total,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What the driver needs of one received message; a delegation request's link token parsed out. */
async function benchMailOf(raw: Buffer, rcptTo: ReadonlyArray<{ address: string }>, receivedAt: number): Promise<BenchMail> {
  const headers = parseHeaders(raw.toString('utf8'));
  const mail: BenchMail = {
    receivedAt,
    orderId: headers['x-order-id'] ?? '',
    template: headers['x-email-template'] ?? '',
    idempotencyKey: headers['x-idempotency-key'] ?? '',
    to: rcptTo.map((r) => r.address.toLowerCase()),
  };
  if (mail.template === 'delegation-request') {
    // The text part may be quoted-printable: parse the whole message for the link.
    const parsed = await simpleParser(raw);
    mail.token = TOKEN_PATTERN.exec(parsed.text ?? '')?.[1];
  }
  return mail;
}

/** The received messages by template and by order, and the driver's waits on them. */
class MailIndex {
  total = 0;
  private readonly byTemplate = new Map<string, BenchMail[]>();
  private readonly byOrderTemplate = new Map<string, BenchMail>();
  private readonly waiters = new Map<string, Array<(mail: BenchMail) => void>>();
  private readonly countWaiters: Array<{ template: string; atLeast: number; resolve: () => void }> = [];

  private static keyOf(orderId: string, template: string): string {
    return `${orderId}\u0000${template}`;
  }

  record(mail: BenchMail): void {
    this.total++;
    const list = this.byTemplate.get(mail.template) ?? [];
    list.push(mail);
    this.byTemplate.set(mail.template, list);
    const key = MailIndex.keyOf(mail.orderId, mail.template);
    if (!this.byOrderTemplate.has(key)) this.byOrderTemplate.set(key, mail);
    const waiting = this.waiters.get(key);
    if (waiting) {
      this.waiters.delete(key);
      for (const resolve of waiting) resolve(mail);
    }
    for (let i = this.countWaiters.length - 1; i >= 0; i--) {
      const w = this.countWaiters[i];
      if (w.template === mail.template && list.length >= w.atLeast) {
        this.countWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  next(orderId: string, template: string, timeoutMs = 120_000): Promise<BenchMail> {
    const key = MailIndex.keyOf(orderId, template);
    const found = this.byOrderTemplate.get(key);
    if (found) return Promise.resolve(found);
    return new Promise<BenchMail>((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.waiters.get(key)?.filter((w) => w !== done);
        if (list?.length) this.waiters.set(key, list);
        else this.waiters.delete(key);
        reject(new Error(`no ${template} email for order ${orderId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (mail: BenchMail) => {
        clearTimeout(timer);
        resolve(mail);
      };
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), done]);
    });
  }

  ofTemplate(template: string): BenchMail[] {
    return [...(this.byTemplate.get(template) ?? [])];
  }

  count(template: string): number {
    return this.byTemplate.get(template)?.length ?? 0;
  }

  whenCount(template: string, atLeast: number, timeoutMs: number): Promise<void> {
    if (this.count(template) >= atLeast) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const entry = {
        template,
        atLeast,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        const i = this.countWaiters.indexOf(entry);
        if (i >= 0) this.countWaiters.splice(i, 1);
        reject(new Error(`only ${this.count(template)} of ${atLeast} ${template} emails within ${timeoutMs} ms`));
      }, timeoutMs);
      this.countWaiters.push(entry);
    });
  }
}
