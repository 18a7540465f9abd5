/**
 * What a fault run asserts once every order has stopped moving, read from the system of record
 * (Postgres), the workflows (Temporal) and the mail actually received (the SMTP catcher):
 * every order in its expected state, every license deposited exactly once, every email
 * delivered once per idempotency key, no half-written rows.
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../../src/db/knex';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import { addMonths } from '../../src/common/dates';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { accountMail, extraCopies, type MailAccount } from './accounting';
import type { Drive } from './scenarios';
import type {
  AccountRow,
  EmailOutboxRow,
  EntitlementRow,
  LrpRecordRow,
  OrderEventRow,
  OrderLineRow,
  OrderRow,
  SubscriptionRow,
  VirtualAccountRow,
} from '../../src/db/rows';

export interface OrderProblems {
  drive: Drive;
  reached: boolean;
  finalPhase?: string;
  lostLicenses: string[];
  duplicateDeposits: string[];
  halfWritten: string[];
  missingEmails: string[];
}

export interface Verification {
  orders: OrderProblems[];
  mail: MailAccount;
  /** Structural problems not tied to one expectation: rows that should not exist alone. */
  halfWritten: string[];
  duplicateEventKeys: number;
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pooled<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]);
      }
    }),
  );
  return results;
}

function groupBy<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = map.get(k);
    if (list) list.push(row);
    else map.set(k, [row]);
  }
  return map;
}

/** Every row the verification reads, read once after the run, and indexed by order and line. */
async function loadRunRows(db: Db) {
  const [orders, lines, entitlements, lrpRecords, subscriptions, events, outbox, virtualAccounts, accounts] = await Promise.all([
    db<OrderRow>('orders').select('*'),
    db<OrderLineRow>('order_lines').select('*'),
    db<EntitlementRow>('entitlements').select('*'),
    db<LrpRecordRow>('lrp_records').select('*'),
    db<SubscriptionRow>('subscriptions').select('*'),
    db<OrderEventRow>('order_events').select('id', 'order_id', 'type', 'details', 'idempotency_key'),
    db<EmailOutboxRow>('email_outbox').select('idempotency_key', 'order_id', 'template', 'to_address', 'message_id', 'status'),
    db<VirtualAccountRow>('virtual_accounts').select('id', 'path'),
    db<AccountRow>('accounts').select('id', 'domain', 'status'),
  ]);
  const orderById = new Map(orders.map((o) => [o.id, o]));
  const linesByOrder = groupBy(lines, (l) => l.order_id);
  const entitlementsByLine = groupBy(entitlements, (e) => String(e.order_line_id));
  const lrpByLine = groupBy(lrpRecords, (r) => String(r.order_line_id));
  const subsByLine = groupBy(subscriptions, (s) => String(s.order_line_id));
  const eventsByOrder = groupBy(events, (e) => e.order_id);
  const outboxByOrder = groupBy(outbox, (o) => o.order_id ?? '');
  const vaPath = new Map(virtualAccounts.map((v) => [String(v.id), v.path]));

  return {
    orders,
    lines,
    events,
    outbox,
    accounts,
    orderById,
    linesByOrder,
    entitlementsByLine,
    lrpByLine,
    subsByLine,
    eventsByOrder,
    outboxByOrder,
    vaPath,
  };
}

type RunRows = Awaited<ReturnType<typeof loadRunRows>>;
type Expected = Drive['expected'];

export async function verifyRun(input: { db: Db; client: Client; drives: Drive[]; mail: CaughtMail[] }): Promise<Verification> {
  const { db, client, drives } = input;
  const rows = await loadRunRows(db);
  const results = await pooled(drives, 8, (drive) => verifyOrder(rows, client, drive));

  const mail = accountMail(
    rows.outbox.map((o) => ({ idempotencyKey: o.idempotency_key, messageId: o.message_id, status: o.status })),
    input.mail.map((m) => ({ idempotencyKey: m.headers['x-idempotency-key'], messageId: m.headers['message-id'] ?? m.messageId })),
  );
  const halfWritten = halfWrittenRows(rows, mail);
  const keys = groupBy(rows.events, (e) => e.idempotency_key);
  const duplicateEventKeys = [...keys.values()].filter((list) => list.length > 1).length;

  return { orders: results, mail, halfWritten, duplicateEventKeys };
}

/** One driven order: its workflow's end, its lines and licenses, its events, its emails. */
async function verifyOrder(rows: RunRows, client: Client, drive: Drive): Promise<OrderProblems> {
  const problems: OrderProblems = { drive, reached: false, lostLicenses: [], duplicateDeposits: [], halfWritten: [], missingEmails: [] };
  if (!drive.orderId) {
    problems.lostLicenses.push('never booked');
    return problems;
  }
  const expected = drive.expected;
  const handle = client.workflow.getHandle(drive.workflowId!);
  let result: OrderStatus | undefined;
  try {
    const description = await handle.describe();
    if (description.status.name === 'COMPLETED') result = (await handle.result()) as OrderStatus;
    problems.finalPhase = result?.phase ?? description.status.name;
  } catch (err) {
    problems.finalPhase = `unknown (${(err as Error).message})`;
  }
  const order = rows.orderById.get(drive.orderId);
  if (!order) {
    problems.lostLicenses.push('no orders row');
    return problems;
  }
  problems.reached = result?.phase === expected.phase && order.status === expected.phase;

  checkLines(rows, drive.orderId, expected, problems);
  checkEvents(rows, drive.orderId, expected, problems);
  checkEmails(rows, drive, result, problems);
  return problems;
}

/** Each expected line: present, one entitlement where it belongs, its LRP record and subscription (R7). */
function checkLines(rows: RunRows, orderId: string, expected: Expected, problems: OrderProblems): void {
  const { accounts, linesByOrder, entitlementsByLine, lrpByLine, subsByLine, vaPath } = rows;
  const expectedAccount =
    expected.accountId ??
    accounts.find((a) => a.domain === expected.requestedDomain && a.status === 'active')?.id ??
    '(no active requested account)';
  const orderLines = linesByOrder.get(orderId) ?? [];
  if (orderLines.length === 0) problems.halfWritten.push('order without lines');
  for (const want of expected.lines) {
    const line = orderLines.find((l) => l.line_number === want.lineNumber);
    if (!line) {
      problems.lostLicenses.push(`line ${want.lineNumber} missing`);
      continue;
    }
    const ents = entitlementsByLine.get(String(line.id)) ?? [];
    if (ents.length === 0) problems.lostLicenses.push(`line ${want.lineNumber}: no entitlement`);
    if (ents.length > 1) problems.duplicateDeposits.push(`line ${want.lineNumber}: ${ents.length} entitlements`);
    const ent = ents[0];
    if (expected.phase === 'Cancelled') {
      if (ent && ent.status !== 'withdrawn')
        problems.lostLicenses.push(`line ${want.lineNumber}: entitlement ${ent.status}, not withdrawn`);
      if (line.state !== 'cancelled') problems.lostLicenses.push(`line ${want.lineNumber}: state ${line.state}`);
      continue;
    }
    if (line.state !== 'provisioned') problems.lostLicenses.push(`line ${want.lineNumber}: state ${line.state}`);
    if (ent) {
      const wantStatus = want.licenseType === 'smart' ? 'active' : 'deposited';
      if (ent.account_id !== expectedAccount)
        problems.lostLicenses.push(`line ${want.lineNumber}: in ${ent.account_id}, not ${expectedAccount}`);
      if (ent.status !== wantStatus) problems.lostLicenses.push(`line ${want.lineNumber}: entitlement ${ent.status}, not ${wantStatus}`);
      const path = ent.virtual_account_id ? vaPath.get(String(ent.virtual_account_id)) : null;
      if ((path ?? null) !== expected.virtualAccountPath)
        problems.lostLicenses.push(`line ${want.lineNumber}: virtual account ${path}, not ${expected.virtualAccountPath}`);
    }
    if (want.licenseType === 'classic') {
      const lrp = lrpByLine.get(String(line.id)) ?? [];
      if (lrp.length === 0) problems.lostLicenses.push(`line ${want.lineNumber}: no LRP record`);
      if (lrp.length > 1) problems.duplicateDeposits.push(`line ${want.lineNumber}: ${lrp.length} LRP records`);
    }
    if (want.termMonths && want.shippedOn) {
      const subs = subsByLine.get(String(line.id)) ?? [];
      if (subs.length === 0) problems.lostLicenses.push(`line ${want.lineNumber}: no subscription`);
      if (subs.length > 1) problems.duplicateDeposits.push(`line ${want.lineNumber}: ${subs.length} subscriptions`);
      // R7: the term starts on the ship date, whenever provisioning happened.
      const sub = subs[0];
      if (sub && (sub.starts_on !== want.shippedOn || sub.ends_on !== addMonths(want.shippedOn, want.termMonths))) {
        problems.lostLicenses.push(`line ${want.lineNumber}: subscription ${sub.starts_on}..${sub.ends_on}, shipped ${want.shippedOn}`);
      }
    }
  }
}

/** One event per step of the order: a second placement or provisioning of a line is a duplicate deposit. */
function checkEvents(rows: RunRows, orderId: string, expected: Expected, problems: OrderProblems): void {
  const orderEvents = rows.eventsByOrder.get(orderId) ?? [];
  const count = (type: string) => orderEvents.filter((e) => e.type === type).length;
  if (count('booked') !== 1)
    (count('booked') > 1 ? problems.duplicateDeposits : problems.halfWritten).push(`${count('booked')} booked events`);
  const placements = count('deposited') + count('transferred_to_customer_account');
  if (expected.phase === 'Fulfilled') {
    if (placements !== 1)
      (placements > 1 ? problems.duplicateDeposits : problems.halfWritten).push(`${placements} deposit/transfer events`);
    const provisioned = orderEvents
      .filter((e) => e.type === 'lines_provisioned')
      .flatMap((e) => (e.details as { lines?: number[] } | null)?.lines ?? []);
    for (const want of expected.lines) {
      const n = provisioned.filter((l) => l === want.lineNumber).length;
      if (n !== 1) (n > 1 ? problems.duplicateDeposits : problems.halfWritten).push(`line ${want.lineNumber} provisioned ${n} times`);
    }
  } else {
    if (placements !== 0) problems.lostLicenses.push(`${placements} deposits into a customer account of a cancelled order`);
    if (count('cancelled') !== 1)
      (count('cancelled') > 1 ? problems.duplicateDeposits : problems.halfWritten).push(`${count('cancelled')} cancelled events`);
  }
  if (count('held_in_holding_account') > 1) problems.duplicateDeposits.push(`${count('held_in_holding_account')} hold events`);
}

/** Every email the workflow recorded as sent has its outbox rows, sent; each template reached its recipients. */
function checkEmails(run: RunRows, drive: Drive, result: OrderStatus | undefined, problems: OrderProblems): void {
  const rows = run.outboxByOrder.get(drive.orderId!) ?? [];
  for (const purpose of result?.emailsSent ?? []) {
    const key = `${drive.workflowId}:${purpose}`;
    const sent = rows.filter((r) => (r.idempotency_key === key || r.idempotency_key.startsWith(`${key}:`)) && r.status === 'sent');
    if (sent.length === 0) problems.missingEmails.push(`${purpose}: no sent outbox row`);
  }
  if (problems.reached) {
    for (const [template, least] of Object.entries(drive.expected.recipients)) {
      const to = new Set(rows.filter((r) => r.template === template && r.status === 'sent').map((r) => r.to_address.toLowerCase()));
      if (to.size < least) problems.missingEmails.push(`${template}: ${to.size} of ${least} recipients`);
    }
  }
}

/** Run-wide: orders without lines, placed lines without entitlements, outbox rows nothing will send. */
function halfWrittenRows(rows: RunRows, mail: ReturnType<typeof accountMail>): string[] {
  const { orders, lines, orderById, linesByOrder, entitlementsByLine } = rows;
  const halfWritten: string[] = [];
  for (const order of orders) if (!linesByOrder.has(order.id)) halfWritten.push(`order ${order.id} has no lines`);
  // Lines whose order says its licenses are placed (held, deposited or further) must each have their entitlement.
  const placed = (order: { status: string; holding_account_id: string | null } | undefined) =>
    !!order && (['AwaitingShipment', 'Provisioning', 'Fulfilled'].includes(order.status) || order.holding_account_id !== null);
  for (const line of lines) {
    if (placed(orderById.get(line.order_id)) && !entitlementsByLine.has(String(line.id)))
      halfWritten.push(`line ${line.order_id}/${line.line_number} has no entitlement`);
  }
  for (const key of mail.pending) {
    halfWritten.push(
      mail.pendingButReceived.includes(key)
        ? `outbox row ${key} still pending, although its message was received (SMTP accepted it; the row was never marked sent and nothing will send it)`
        : `outbox row ${key} still pending and never received (nothing will send it)`,
    );
  }
  return halfWritten;
}

/** The table's figures from a verification. */
export function summarize(v: Verification): {
  completed: number;
  duplicates: { deposits: number; emails: number };
  lost: { orders: number; licenses: number; emails: number };
  smtpRedeliveries: number;
  halfWritten: number;
} {
  return {
    completed: v.orders.filter((o) => o.reached).length,
    duplicates: {
      deposits: v.orders.reduce((n, o) => n + o.duplicateDeposits.length, 0) + v.duplicateEventKeys,
      emails: extraCopies(v.mail.duplicates) + v.mail.unexpected.length,
    },
    lost: {
      orders: v.orders.filter((o) => !o.reached).length,
      licenses: v.orders.reduce((n, o) => n + o.lostLicenses.length, 0),
      emails: v.mail.lost.length + v.orders.reduce((n, o) => n + o.missingEmails.length, 0),
    },
    smtpRedeliveries: extraCopies(v.mail.redeliveries),
    halfWritten: v.halfWritten.length + v.orders.reduce((n, o) => n + o.halfWritten.length, 0),
  };
}
