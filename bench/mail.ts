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
  const byTemplate = new Map<string, BenchMail[]>();
  const byOrderTemplate = new Map<string, BenchMail>();
  const waiters = new Map<string, Array<(mail: BenchMail) => void>>();
  const countWaiters: Array<{ template: string; atLeast: number; resolve: () => void }> = [];
  let total = 0;
  const keyOf = (orderId: string, template: string) => `${orderId}\u0000${template}`;

  function record(mail: BenchMail): void {
    total++;
    const list = byTemplate.get(mail.template) ?? [];
    list.push(mail);
    byTemplate.set(mail.template, list);
    const key = keyOf(mail.orderId, mail.template);
    if (!byOrderTemplate.has(key)) byOrderTemplate.set(key, mail);
    const waiting = waiters.get(key);
    if (waiting) {
      waiters.delete(key);
      for (const resolve of waiting) resolve(mail);
    }
    for (let i = countWaiters.length - 1; i >= 0; i--) {
      const w = countWaiters[i];
      if (w.template === mail.template && list.length >= w.atLeast) {
        countWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 10 * 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // The handler answers through callback, errors included: nothing is left to await.
      stream.on('end', () => void saveMail());
      const saveMail = async (): Promise<void> => {
        try {
          const receivedAt = Date.now();
          const raw = Buffer.concat(chunks);
          const headers = parseHeaders(raw.toString('utf8'));
          const mail: BenchMail = {
            receivedAt,
            orderId: headers['x-order-id'] ?? '',
            template: headers['x-email-template'] ?? '',
            idempotencyKey: headers['x-idempotency-key'] ?? '',
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          };
          if (mail.template === 'delegation-request') {
            // The text part may be quoted-printable: parse the whole message for the link.
            const parsed = await simpleParser(raw);
            mail.token = TOKEN_PATTERN.exec(parsed.text ?? '')?.[1];
          }
          record(mail);
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
    next(orderId, template, timeoutMs = 120_000) {
      const key = keyOf(orderId, template);
      const found = byOrderTemplate.get(key);
      if (found) return Promise.resolve(found);
      return new Promise<BenchMail>((resolve, reject) => {
        const timer = setTimeout(() => {
          const list = waiters.get(key)?.filter((w) => w !== done);
          if (list?.length) waiters.set(key, list);
          else waiters.delete(key);
          reject(new Error(`no ${template} email for order ${orderId} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (mail: BenchMail) => {
          clearTimeout(timer);
          resolve(mail);
        };
        waiters.set(key, [...(waiters.get(key) ?? []), done]);
      });
    },
    ofTemplate: (template) => [...(byTemplate.get(template) ?? [])],
    count: (template) => byTemplate.get(template)?.length ?? 0,
    whenCount(template, atLeast, timeoutMs) {
      if ((byTemplate.get(template)?.length ?? 0) >= atLeast) return Promise.resolve();
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
          const i = countWaiters.indexOf(entry);
          if (i >= 0) countWaiters.splice(i, 1);
          reject(new Error(`only ${byTemplate.get(template)?.length ?? 0} of ${atLeast} ${template} emails within ${timeoutMs} ms`));
        }, timeoutMs);
        countWaiters.push(entry);
      });
    },
    total: () => total,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
