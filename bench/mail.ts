/**
 * The benchmark's SMTP server: a real SMTP endpoint (smtp-server, as src/dev/mail-catcher.ts)
 * that keeps what the driver needs in memory instead of one file per message, so tens of
 * thousands of emails cost no disk and no directory scans. Per message it records when it
 * arrived, its order, template, idempotency key and recipients; a delegation request is parsed
 * whole (mailparser) for its link token. The driver waits on messages by order and template.
 *
 * It runs in a child process of its own (bench/mail-process.ts, startBenchMailProcess below):
 * receiving the workers' emails costs CPU, which must not count as the driver's or as the API's
 * when the driver hosts the API (part 5). The driver asks it over IPC.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
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

/** The SMTP server where it runs (bench/mail-process.ts). */
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

/** The driver's handle on the SMTP server in its child process: the same questions, answered over IPC. */
export interface BenchMailServer {
  port: number;
  /** The child process, whose CPU the driver's figures add to their own (bench/cpu.ts). */
  pid: number;
  next(orderId: string, template: string, timeoutMs?: number): Promise<BenchMail>;
  ofTemplate(template: string): Promise<BenchMail[]>;
  count(template: string): Promise<number>;
  whenCount(template: string, atLeast: number, timeoutMs: number): Promise<void>;
  total(): Promise<number>;
  stop(): Promise<void>;
}

/** A question to the SMTP server's process: a method of BenchMailCatcher (but stop) and its arguments. */
export type MailCall = { type: 'call'; id: number; method: Exclude<keyof BenchMailCatcher, 'port' | 'stop'>; args: unknown[] };
export type MailMessage =
  { type: 'ready'; port: number } | { type: 'reply'; id: number; result?: unknown; error?: string } | { type: 'error'; message: string };

/** Starts bench/mail-process.ts (through tsx, as the load generator) and resolves once it listens. */
export async function startBenchMailProcess(root: string): Promise<BenchMailServer> {
  const child = fork(join(root, 'bench', 'mail-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the SMTP server process did not start in 60 s')), 60_000);
    child.once('message', (message: MailMessage) => {
      clearTimeout(timer);
      if (message.type === 'ready') resolve(message.port);
      else reject(new Error(`the SMTP server process failed: ${message.type === 'error' ? message.message : message.type}`));
    });
    child.once('exit', (code) => reject(new Error(`the SMTP server process exited with ${code} before it listened`)));
  });
  // A crash of the driver must not leave it behind.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);

  let nextId = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  child.on('message', (message: MailMessage) => {
    if (message.type !== 'reply') return;
    const call = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) call?.reject(new Error(message.error));
    else call?.resolve(message.result);
  });
  void exited.then(() => {
    for (const call of pending.values()) call.reject(new Error('the SMTP server process exited'));
    pending.clear();
  });
  const ask = <T>(method: MailCall['method'], ...args: unknown[]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ type: 'call', id, method, args } satisfies MailCall);
    });

  return {
    port,
    pid: child.pid!,
    next: (orderId, template, timeoutMs) => ask('next', orderId, template, timeoutMs),
    ofTemplate: (template) => ask('ofTemplate', template),
    count: (template) => ask('count', template),
    whenCount: (template, atLeast, timeoutMs) => ask('whenCount', template, atLeast, timeoutMs),
    total: () => ask('total'),
    async stop() {
      process.off('exit', killChild);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
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
