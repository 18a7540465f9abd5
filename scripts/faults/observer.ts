/**
 * One poller for all orders of a run, instead of hundreds of per-order queries that would load
 * the stack under test: twice a second it reads every order's list columns from Postgres (the
 * workflow's read-your-writes mirror) and the messages the SMTP catcher stored since the last
 * look, then wakes the drivers whose condition now holds. While Postgres is down the last
 * snapshot stays; while SMTP is down no new mail arrives: the drivers just wait longer.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import type { Db } from '../../src/db/knex';
import type { StepRecord } from './accounting';

export interface OrderRow {
  id: string;
  status: string;
  waiting_for: string | null;
  account_id: string | null;
}

export interface Snapshot {
  orders: Map<string, OrderRow>;
  /** Messages by their X-Order-Id header. */
  mailByOrder: Map<string, CaughtMail[]>;
  /** Messages by recipient (lower case). */
  mailByRecipient: Map<string, CaughtMail[]>;
}

interface Waiter {
  test: (snapshot: Snapshot) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  deadline: number;
  what: string;
}

export class Observer {
  private readonly snapshot: Snapshot = { orders: new Map(), mailByOrder: new Map(), mailByRecipient: new Map() };
  private readonly seenFiles = new Set<string>();
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  readonly mail: CaughtMail[] = [];
  readonly steps: StepRecord[] = [];
  lastDbError: string | undefined;

  constructor(
    private readonly db: Db,
    private readonly mailDir: string,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const waiter of this.waiters) waiter.reject(new Error(`stopped while waiting for ${waiter.what}`));
    this.waiters.clear();
  }

  /** The order's list columns as last read (undefined before its row was first seen). */
  orderRow(orderId: string): OrderRow | undefined {
    return this.snapshot.orders.get(orderId);
  }

  /** Reads whatever mail arrived since the last call (also used once more at the end). */
  readNewMail(): void {
    let files: string[];
    try {
      files = readdirSync(this.mailDir).filter((f) => f.endsWith('.json') && !this.seenFiles.has(f));
    } catch {
      return;
    }
    // Oldest first: the catcher names files <ms>-<pid>-<sequence>.json.
    files.sort(
      (a, b) =>
        Number(a.split('-')[0]) - Number(b.split('-')[0]) ||
        Number(a.split('-')[2]?.split('.')[0]) - Number(b.split('-')[2]?.split('.')[0]),
    );
    for (const file of files) {
      let mail: CaughtMail;
      try {
        mail = JSON.parse(readFileSync(join(this.mailDir, file), 'utf8')) as CaughtMail;
      } catch {
        continue; // renamed into place whole; a parse error means try again next tick
      }
      this.seenFiles.add(file);
      this.mail.push(mail);
      const orderId = mail.headers['x-order-id'];
      if (orderId) push(this.snapshot.mailByOrder, orderId, mail);
      for (const to of mail.to) push(this.snapshot.mailByRecipient, to.toLowerCase(), mail);
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      try {
        const rows: OrderRow[] = await this.db<OrderRow>('orders').select('id', 'status', 'waiting_for', 'account_id');
        for (const row of rows) this.snapshot.orders.set(row.id, row);
        this.lastDbError = undefined;
      } catch (err) {
        this.lastDbError = (err as Error).message;
      }
      this.readNewMail();
      const now = Date.now();
      for (const waiter of [...this.waiters]) {
        let value: unknown;
        try {
          value = waiter.test(this.snapshot);
        } catch (err) {
          this.waiters.delete(waiter);
          waiter.reject(err as Error);
          continue;
        }
        if (value) {
          this.waiters.delete(waiter);
          waiter.resolve(value);
        } else if (now > waiter.deadline) {
          this.waiters.delete(waiter);
          waiter.reject(new Error(`timed out waiting for ${waiter.what}`));
        }
      }
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Resolves with the first truthy value `test` returns on a snapshot, recording the wait as a
   * step of order `order` (for the recovery time); rejects at `deadline`.
   */
  until<T>(order: number, label: string, test: (snapshot: Snapshot) => T | undefined | false, deadline: number): Promise<T> {
    const step: StepRecord = { order, label, kind: 'outcome', startedAt: Date.now() };
    this.steps.push(step);
    return new Promise<T>((resolve, reject) => {
      this.waiters.add({
        test,
        resolve: (value) => {
          step.endedAt = Date.now();
          resolve(value as T);
        },
        reject,
        deadline,
        what: `order #${order}: ${label}`,
      });
    });
  }

  /** Records an action (a call that needs the stack to answer) as a step. */
  async step<T>(order: number, label: string, action: () => Promise<T>): Promise<T> {
    const step: StepRecord = { order, label, kind: 'call', startedAt: Date.now() };
    this.steps.push(step);
    const value = await action();
    step.endedAt = Date.now();
    return value;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
