/**
 * The production shape's inbox is Mailpit, not the project's SMTP catcher: this mirror reads
 * what Mailpit received through its HTTP API (the list, then each message's raw source) and
 * stores each message once in the catcher's form (<ms>-mailpit-<n>.json) in a folder, so the
 * observer and the verdict read it exactly as they read the catcher's folder.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import type { CaughtMail } from '../../src/dev/mail-catcher';

interface Address {
  Address: string;
}
interface MailpitSummary {
  ID: string;
  Created: string;
  To?: Address[] | null;
  Cc?: Address[] | null;
  Bcc?: Address[] | null;
}

const PAGE = 500;

export class MailpitMirror {
  private readonly seen = new Set<string>();
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  lastError: string | undefined;

  constructor(
    private readonly inboxUrl: string,
    readonly dir: string,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  start(intervalMs = 500): void {
    this.timer = setInterval(() => void this.sync().catch((err: Error) => (this.lastError = err.message)), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Copies every message not copied yet, oldest first; one sync at a time. */
  sync(): Promise<void> {
    this.syncing ??= this.copyNew().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async copyNew(): Promise<void> {
    const fresh: MailpitSummary[] = [];
    for (let start = 0; ; start += PAGE) {
      const page = (await this.get(`/api/v1/messages?start=${start}&limit=${PAGE}`, 'json')) as { messages: MailpitSummary[] };
      fresh.push(...page.messages.filter((m) => !this.seen.has(m.ID)));
      if (page.messages.length < PAGE) break;
    }
    // Mailpit lists newest first.
    fresh.sort((a, b) => Date.parse(a.Created) - Date.parse(b.Created));
    for (const summary of fresh) {
      const raw = (await this.get(`/api/v1/message/${encodeURIComponent(summary.ID)}/raw`, 'text')) as string;
      this.write(summary, raw, await simpleParser(raw));
      this.seen.add(summary.ID);
    }
    this.lastError = undefined;
  }

  private write(summary: MailpitSummary, raw: string, parsed: Awaited<ReturnType<typeof simpleParser>>): void {
    const headers: Record<string, string> = {};
    for (const [key, value] of parsed.headers) if (typeof value === 'string') headers[key] = value;
    const base = `${Date.parse(summary.Created)}-mailpit-${++this.sequence}`;
    // Envelope recipients not named in the headers are Bcc to Mailpit.
    const to = [...(summary.To ?? []), ...(summary.Cc ?? []), ...(summary.Bcc ?? [])].map((a) => a.Address.toLowerCase());
    const mail: CaughtMail = {
      file: `${base}.eml`,
      receivedAt: summary.Created,
      messageId: parsed.messageId ?? '',
      from: parsed.from?.text ?? '',
      to: [...new Set(to)],
      subject: parsed.subject ?? '',
      text: parsed.text ?? '',
      html: typeof parsed.html === 'string' ? parsed.html : '',
      headers,
    };
    writeFileSync(join(this.dir, `${base}.eml`), raw);
    // Renamed into place whole, as the catcher does: the observer never reads half a summary.
    writeFileSync(join(this.dir, `${base}.json.tmp`), JSON.stringify(mail, null, 2));
    renameSync(join(this.dir, `${base}.json.tmp`), join(this.dir, `${base}.json`));
  }

  private async get(path: string, as: 'json' | 'text'): Promise<unknown> {
    const response = await fetch(`${this.inboxUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`Mailpit ${path}: ${response.status}`);
    return as === 'json' ? response.json() : response.text();
  }
}
