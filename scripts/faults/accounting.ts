/**
 * The pure arithmetic of a fault run: emails received against the outbox, and how long the
 * stack took to recover. Everything here takes plain rows, so the unit tests can feed it the
 * cases a real run produces only by chance (a re-delivery, a lost message, a stray one).
 */

export interface OutboxEntry {
  idempotencyKey: string;
  messageId: string;
  /** pending or sent; any other status is a row the product settled without sending (never lost, never pending). */
  status: string;
}

export interface ReceivedEntry {
  /** The X-Idempotency-Key header; undefined when the message carried none. */
  idempotencyKey: string | undefined;
  messageId: string;
}

export interface MailAccount {
  outboxRows: number;
  receivedMessages: number;
  /** Outbox rows received exactly once or more. */
  delivered: number;
  /** Outbox rows marked sent of which nothing was received. */
  lost: string[];
  /**
   * The one window the outbox cannot close: SMTP accepted the message, then the process died (or
   * Postgres went away) before the row was marked sent, so the retry sent it again. Every copy
   * carries the row's Message-ID, which is how mail clients drop the extra one.
   */
  redeliveries: Array<{ idempotencyKey: string; copies: number }>;
  /** Extra copies that a mail client could NOT drop: a different Message-ID for the same key. */
  duplicates: Array<{ idempotencyKey: string; copies: number; messageIds: string[] }>;
  /** Received with no idempotency key, or with a key the outbox does not know. */
  unexpected: ReceivedEntry[];
  /** Rows still pending at the end (half-written: the email was queued and never marked sent). */
  pending: string[];
  /** Of those, the ones whose message did arrive: SMTP accepted it, and the row was never marked sent. */
  pendingButReceived: string[];
}

/** Normalises a Message-ID for comparison (mail parsers differ on the angle brackets). */
export function normalizeMessageId(id: string): string {
  return id.trim().replace(/^<|>$/g, '').toLowerCase();
}

export function accountMail(outbox: OutboxEntry[], received: ReceivedEntry[]): MailAccount {
  const byKey = new Map<string, ReceivedEntry[]>();
  const unexpected: ReceivedEntry[] = [];
  const rows = new Map(outbox.map((row) => [row.idempotencyKey, row]));
  for (const mail of received) {
    if (!mail.idempotencyKey || !rows.has(mail.idempotencyKey)) {
      unexpected.push(mail);
      continue;
    }
    const copies = byKey.get(mail.idempotencyKey) ?? [];
    copies.push(mail);
    byKey.set(mail.idempotencyKey, copies);
  }

  const account: MailAccount = {
    outboxRows: outbox.length,
    receivedMessages: received.length,
    delivered: 0,
    lost: [],
    redeliveries: [],
    duplicates: [],
    unexpected,
    pending: [],
    pendingButReceived: [],
  };
  for (const row of outbox) {
    const copies = byKey.get(row.idempotencyKey) ?? [];
    if (row.status === 'pending') {
      account.pending.push(row.idempotencyKey);
      if (copies.length > 0) account.pendingButReceived.push(row.idempotencyKey);
    }
    if (copies.length === 0) {
      if (row.status === 'sent') account.lost.push(row.idempotencyKey);
      continue;
    }
    account.delivered++;
    if (copies.length === 1) continue;
    const rowId = normalizeMessageId(row.messageId);
    const ids = [...new Set(copies.map((c) => normalizeMessageId(c.messageId)))];
    if (ids.length === 1 && ids[0] === rowId) {
      account.redeliveries.push({ idempotencyKey: row.idempotencyKey, copies: copies.length });
    } else {
      account.duplicates.push({ idempotencyKey: row.idempotencyKey, copies: copies.length, messageIds: ids });
    }
  }
  return account;
}

/** Extra copies in a list of (key, copies) entries: 3 copies of one key are 2 extra. */
export function extraCopies(entries: Array<{ copies: number }>): number {
  return entries.reduce((sum, e) => sum + e.copies - 1, 0);
}

/** One step of an order's drive that waited on the stack (a state to be reached, or an action to be accepted). */
export interface StepRecord {
  order: number;
  label: string;
  /**
   * `outcome`: something the stack produced (a state reached, a mail arrived, an email sent);
   * `call`: a client call answered (a booking or a signal needs only the Temporal server).
   */
  kind: 'outcome' | 'call';
  startedAt: number;
  /** Undefined when the step never finished (the order then counts as not completed). */
  endedAt?: number;
}

export interface Recovery {
  /** Seconds from the fault being cleared until the last step it held up finished; null when no step was caught by it. */
  seconds: number | null;
  /** Steps that were in progress at some moment between the fault's start and its end. */
  caught: number;
  /** Of those, the ones that never finished. */
  unfinished: number;
}

/**
 * Recovery time: from the moment the fault was cleared (the service started again, or the new
 * worker launched) until the last step caught by the fault finished. A step is caught when it
 * was in progress at some moment between the fault's start and its end. A step that finished
 * during the fault on its own counts with a negative value, so a fault nobody noticed recovers
 * in 0 s.
 */
export function recoveryOf(steps: StepRecord[], window: { injectedAt: number; clearedAt: number }): Recovery {
  const caught = steps.filter((s) => s.startedAt <= window.clearedAt && (s.endedAt === undefined || s.endedAt >= window.injectedAt));
  if (caught.length === 0) return { seconds: null, caught: 0, unfinished: 0 };
  const unfinished = caught.filter((s) => s.endedAt === undefined).length;
  const latest = Math.max(...caught.filter((s) => s.endedAt !== undefined).map((s) => s.endedAt!), window.clearedAt);
  return { seconds: Math.max(0, (latest - window.clearedAt) / 1000), caught: caught.length, unfinished };
}

/**
 * Pace recovery: seconds from the fault being cleared until the stack finishes steps at half its
 * pre-fault pace again (over a sliding `windowMs`). On a machine so loaded that the stack is
 * behind all along, "the last held-up step finished" (recoveryOf) measures the queue more than the
 * fault; this measures when the stack works at speed again. The pre-fault pace is taken over the
 * `baselineMs` before the fault (or since the run started, if shorter); with no step done then,
 * the first step done after the clear counts. Null when no step finishes after the clear.
 */
export function paceRecoveryOf(
  endTimes: number[],
  window: { runStartedAt: number; injectedAt: number; clearedAt: number },
  options: { windowMs?: number; baselineMs?: number; fraction?: number; stepMs?: number } = {},
): number | null {
  const windowMs = options.windowMs ?? 5_000;
  const baselineMs = options.baselineMs ?? 20_000;
  const fraction = options.fraction ?? 0.5;
  const stepMs = options.stepMs ?? 250;
  const from = Math.max(window.runStartedAt, window.injectedAt - baselineMs);
  const span = window.injectedAt - from;
  const before = endTimes.filter((t) => t >= from && t < window.injectedAt).length;
  // Steps per windowMs that count as "at pace again"; at least one step.
  const needed = span > 0 && before > 0 ? Math.max(1, Math.ceil((before / span) * windowMs * fraction - 1e-9)) : 1;
  const after = endTimes.filter((t) => t >= window.clearedAt).sort((a, b) => a - b);
  if (after.length === 0) return null;
  const last = after[after.length - 1];
  for (let start = window.clearedAt; start <= last; start += stepMs) {
    let count = 0;
    for (const t of after) {
      if (t >= start + windowMs) break;
      if (t >= start) count++;
    }
    if (count >= needed) {
      // The moment the pace was reached: the needed-th step of that window.
      const reached = after.filter((t) => t >= start)[needed - 1];
      return Math.max(0, (reached - window.clearedAt) / 1000);
    }
  }
  return null;
}
