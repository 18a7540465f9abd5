import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/**
 * A small in-process SMTP server for development and tests: it accepts every message and stores
 * it under `dir` as the raw `.eml` plus a `.json` summary that tests and people can read.
 * Not for production: no TLS, no authentication, listens on loopback only.
 */
export interface CaughtMail {
  file: string;
  receivedAt: string;
  messageId: string;
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

export interface MailCatcher {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/**
 * `rejectRecipients`: addresses matching it are refused at RCPT TO with `550 5.1.1`, as a real
 * server refuses an unknown mailbox (the tests of permanent failures, issue 18 item 1).
 * `deferRecipients`: addresses matching it are refused with `451 4.7.1` (greylisting, a busy
 * mailbox) as many times as its first group says, then accepted: `smtp-451-3-...` is deferred
 * three times (the tests of temporary failures, retried with backoff).
 */
export async function startMailCatcher(options: {
  dir: string;
  port?: number;
  host?: string;
  rejectRecipients?: RegExp;
  deferRecipients?: RegExp;
}): Promise<MailCatcher> {
  mkdirSync(options.dir, { recursive: true });
  let sequence = 0;
  const deferred = new Map<string, number>();
  const deferral = (address: string): Error | undefined => {
    const times = Number(options.deferRecipients?.exec(address)?.[1] ?? 0);
    const seen = deferred.get(address.toLowerCase()) ?? 0;
    if (seen >= times) return undefined;
    deferred.set(address.toLowerCase(), seen + 1);
    const later = new Error(`4.7.1 <${address}>: Recipient address rejected: try again later (${seen + 1} of ${times})`);
    return Object.assign(later, { responseCode: 451 });
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    // Senders keep pooled connections open (src/email/mailer.ts): a stopped server drops them
    // within a second, like one that went away, instead of waiting 30 s for them to quit.
    closeTimeout: 1000,
    size: 10 * 1024 * 1024,
    onRcptTo(address, _session, callback) {
      if (options.rejectRecipients?.test(address.address)) {
        const refused = new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown`);
        return callback(Object.assign(refused, { responseCode: 550 }));
      }
      callback(deferral(address.address));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // The handler answers through callback, errors included: nothing is left to await.
      stream.on('end', () => void saveMail());
      const saveMail = async (): Promise<void> => {
        try {
          const raw = Buffer.concat(chunks);
          const parsed = await simpleParser(raw);
          const base = `${Date.now()}-${process.pid}-${++sequence}`;
          const headers: Record<string, string> = {};
          for (const [key, value] of parsed.headers) {
            if (typeof value === 'string') headers[key] = value;
          }
          const mail: CaughtMail = {
            file: `${base}.eml`,
            receivedAt: new Date().toISOString(),
            messageId: parsed.messageId ?? '',
            from: parsed.from?.text ?? '',
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            headers,
          };
          writeFileSync(join(options.dir, `${base}.eml`), raw);
          // Written aside and renamed: a reader never sees half a summary.
          writeFileSync(join(options.dir, `${base}.json.tmp`), JSON.stringify(mail, null, 2));
          renameSync(join(options.dir, `${base}.json.tmp`), join(options.dir, `${base}.json`));
          callback();
        } catch (err) {
          callback(err as Error);
        }
      };
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      const address = server.server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  return { port, dir: options.dir, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Every message stored in a mail catcher directory, oldest first. */
export function readCaughtMail(dir: string): CaughtMail[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files
    .sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]) || a.localeCompare(b))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CaughtMail);
}
