import type { Knex } from 'knex';
import { isoDateOf } from '../common/dates';
import { deriveOrderId } from '../orders/book-order';
import { MAX_LINE_QUANTITY, MAX_LINES, validateBookOrderInput, ValidationError, type OrderFulfillmentInput } from '../orders/order';
import { orderWorkflowId } from '../orders/workflow-api';
import { lastEndedPeriod, periodOf, type Cadence, type Period } from './periods';

/**
 * R20, the true-up: at each agreed date the period's peaks become a report and one true-up order
 * per virtual account (booked by the partner of record through the normal order pipeline). The
 * true_ups row, unique per (account, period), is written before anything is sent or booked: a
 * period is reconciled once, whatever retries; the workflow ID is the first guard.
 */

export type TrueUpStatus = 'reported' | 'booked' | 'approved' | 'nothing_to_reconcile';

export interface TrueUpLine {
  virtualAccountId: string;
  virtualAccountPath: string;
  sku: string;
  peak: number;
}

export interface TrueUpOrder {
  orderId: string;
  workflowId: string;
  input: OrderFulfillmentInput;
}

export interface TrueUpReport {
  period: Period;
  partnerId: string | null;
  lines: TrueUpLine[];
  orders: TrueUpOrder[];
  approvedBy?: string;
}

export interface TrueUpState {
  accountId: string;
  accountDomain: string | null;
  status: TrueUpStatus;
  report: TrueUpReport;
}

/** Periods whose reconciliation date has come and that have no true_ups row yet (oldest first). */
export async function dueTrueUps(
  db: Knex,
  asOfMs: number,
  batch: number,
  accountId?: string,
): Promise<Array<{ accountId: string; period: string }>> {
  const today = isoDateOf(asOfMs);
  const agreementQuery = db('overage_agreements')
    .whereNot('kind', 'none')
    .whereNotNull('partner_id')
    .where('first_period_starts_on', '<', today)
    .select('account_id', 'cadence', db.raw(`to_char(first_period_starts_on, 'YYYY-MM-DD') AS first`));
  if (accountId !== undefined) agreementQuery.where('account_id', accountId);
  const agreements = (await agreementQuery) as Array<{ account_id: string; cadence: Cadence; first: string }>;
  const candidates = new Map<string, { accountId: string; period: string }>();
  for (const a of agreements) {
    const ended = lastEndedPeriod(a.first, a.cadence, today);
    if (ended) candidates.set(`${a.account_id}\u0000${ended.startsOn}`, { accountId: a.account_id, period: ended.startsOn });
  }
  // Earlier periods with a peak that were never reconciled (the clock was down past a date).
  const peakQuery = db('overage_peaks as p')
    .join('overage_agreements as a', 'a.account_id', 'p.account_id')
    .whereNotExists(db('true_ups as t').whereRaw('t.account_id = p.account_id AND t.period = p.period'))
    .distinct('p.account_id', 'p.period', 'a.cadence', db.raw(`to_char(a.first_period_starts_on, 'YYYY-MM-DD') AS first`));
  if (accountId !== undefined) peakQuery.where('p.account_id', accountId);
  const peaks = (await peakQuery) as Array<{ account_id: string; period: string; cadence: Cadence; first: string }>;
  for (const p of peaks) {
    const period = periodOf(p.first, p.cadence, p.period);
    if (period && period.endsOn <= today) candidates.set(`${p.account_id}\u0000${p.period}`, { accountId: p.account_id, period: p.period });
  }
  if (candidates.size === 0) return [];
  const done = new Set(
    (
      await db('true_ups')
        .whereIn('account_id', [...new Set([...candidates.values()].map((c) => c.accountId))])
        .select('account_id', 'period')
    ).map((r: { account_id: string; period: string }) => `${r.account_id}\u0000${r.period}`),
  );
  return [...candidates.entries()]
    .filter(([key]) => !done.has(key))
    .map(([, c]) => c)
    .sort((a, b) => a.period.localeCompare(b.period) || a.accountId.localeCompare(b.accountId))
    .slice(0, batch);
}

/** The period's report and true-up orders, written once; a second call returns what the first wrote. */
export async function prepareTrueUp(db: Knex, accountId: string, periodStart: string): Promise<TrueUpState> {
  return db.transaction(async (trx) => {
    const account = await trx('accounts').where({ id: accountId }).first<{ domain: string | null } | undefined>('domain');
    const existing = await trx('true_ups')
      .where({ account_id: accountId, period: periodStart })
      .first<{ status: TrueUpStatus; report: TrueUpReport } | undefined>('status', 'report');
    if (existing) return { accountId, accountDomain: account?.domain ?? null, status: existing.status, report: existing.report };
    const agreement: { cadence: Cadence; first: string; partner_id: string | null } = await trx('overage_agreements')
      .where({ account_id: accountId })
      .first('cadence', trx.raw(`to_char(first_period_starts_on, 'YYYY-MM-DD') AS first`), 'partner_id');
    const period = periodOf(agreement.first, agreement.cadence, periodStart)!;
    const lines: TrueUpLine[] = (
      await trx('overage_peaks as p')
        .join('virtual_accounts as va', 'va.id', 'p.virtual_account_id')
        .where({ 'p.account_id': accountId, 'p.period': periodStart })
        .where('p.peak', '>', 0)
        .orderBy(['va.path', 'p.sku'])
        .select('p.virtual_account_id', 'va.path', 'p.sku', 'p.peak')
    ).map((r: { virtual_account_id: string; path: string; sku: string; peak: string }) => ({
      virtualAccountId: String(r.virtual_account_id),
      virtualAccountPath: r.path,
      sku: r.sku,
      // bigint, read as a string by node-postgres; a peak stays far below 2^53.
      peak: Number(r.peak),
    }));
    const orders = agreement.partner_id ? trueUpOrders(accountId, periodStart, agreement.partner_id, lines) : [];
    const report: TrueUpReport = { period, partnerId: agreement.partner_id, lines, orders };
    const status: TrueUpStatus = orders.length > 0 ? 'reported' : 'nothing_to_reconcile';
    await trx('true_ups').insert({ account_id: accountId, period: periodStart, status, report: JSON.stringify(report) });
    return { accountId, accountDomain: account?.domain ?? null, status, report };
  });
}

/**
 * One perpetual order per virtual account for its peaks; IDs derived from the partner and TRUEUP-<account>-<period>-<VA>. A
 * peak beyond what a booking line may hold is split over lines of at most MAX_LINE_QUANTITY (2,148 instances at the maximum
 * passed 2^31), and lines beyond MAX_LINES go to further orders of the VA, TRUEUP-...-VA<id>-2 and on: each stays a valid booking.
 */
function trueUpOrders(accountId: string, periodStart: string, partnerId: string, lines: TrueUpLine[]): TrueUpOrder[] {
  const byVa = new Map<string, TrueUpLine[]>();
  for (const line of lines) byVa.set(line.virtualAccountId, [...(byVa.get(line.virtualAccountId) ?? []), line]);
  return [...byVa.values()].flatMap((vaLines) => {
    const parts = vaLines.flatMap((l) => quantitiesOf(l.peak).map((quantity) => ({ sku: l.sku, quantity })));
    const orders: TrueUpOrder[] = [];
    for (let start = 0; start < parts.length; start += MAX_LINES) {
      const part = start / MAX_LINES;
      const externalReference = `TRUEUP-${accountId}-${periodStart}-VA${vaLines[0].virtualAccountId}${part === 0 ? '' : `-${part + 1}`}`;
      const booking = {
        externalReference,
        bookedByPartnerId: partnerId,
        assignment: { kind: 'smart_account' as const, accountId, virtualAccountPath: vaLines[0].virtualAccountPath },
        lines: parts.slice(start, start + MAX_LINES).map((l, i) => ({
          lineNumber: i + 1,
          sku: l.sku,
          quantity: l.quantity,
          licenseType: 'smart' as const,
          smartAccountMandatory: true,
        })),
      };
      const errors = validateBookOrderInput(booking);
      if (errors.length > 0) throw new ValidationError(errors);
      const orderId = deriveOrderId(partnerId, externalReference);
      orders.push({ orderId, workflowId: orderWorkflowId(orderId), input: { ...booking, orderId, partnerId } });
    }
    return orders;
  });
}

/** A peak as line quantities of at most MAX_LINE_QUANTITY each. */
function quantitiesOf(peak: number): number[] {
  const quantities = new Array<number>(Math.floor(peak / MAX_LINE_QUANTITY)).fill(MAX_LINE_QUANTITY);
  return peak % MAX_LINE_QUANTITY > 0 ? [...quantities, peak % MAX_LINE_QUANTITY] : quantities;
}

export async function markTrueUp(
  db: Knex,
  accountId: string,
  period: string,
  status: 'booked' | 'approved',
  approvedBy?: string,
): Promise<void> {
  const row = await db('true_ups').where({ account_id: accountId, period }).first<{ report: TrueUpReport }>('report');
  const report = row.report;
  const orderId = status === 'approved' ? (report.orders[0]?.orderId ?? null) : null;
  await db('true_ups')
    .where({ account_id: accountId, period })
    .update({
      status,
      ...(orderId && (await db('orders').where({ id: orderId }).first('id')) ? { order_id: orderId } : {}),
      ...(approvedBy ? { report: JSON.stringify({ ...report, approvedBy }) } : {}),
      updated_at: db.fn.now(),
    });
}
