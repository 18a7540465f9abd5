/**
 * worker-kill, license use: the worker is SIGKILLed while true-ups are between their steps (the
 * period's report written, its order not booked yet). After the restart each period must be
 * reconciled exactly once: one true_ups row, one true-up order booked through orderFulfillment
 * (and, once approved, provisioned into the pool), one report email per recipient.
 */
import { addMonths, isoDateOf } from '../../src/common/dates';
import { approveTrueUpUpdate, trueUpWorkflowId } from '../../src/licensing/workflow-api';
import { createTestWorld, type TestWorld } from '../../test/helpers/fixtures';
import { checkSentOnce, copiesByKey, retrying, type LicenseUseContext, type LicenseUsePart, type LicenseUseResult } from './license-use';
import { sleep } from './services';

const SKU = 'TRUEUP-FAULT-PERP';
/** The agreements appear this long before the kill: the clock (a tick every few seconds) starts their true-ups around it. */
const LEAD_MS = 3_000;
/** How long the kill may wait for a true-up to be between its steps. */
const WAIT_FOR_STEP_MS = 20_000;

interface Period {
  world: TestWorld;
  vaId: string;
  period: string;
  peak: number;
}

export function trueUpPart(ctx: LicenseUseContext, count: number): LicenseUsePart {
  const periods: Period[] = [];
  const notes: string[] = [];
  // A period that ended three months ago, never reconciled (as after a clock that was down past the date).
  const period = addMonths(`${isoDateOf(Date.now()).slice(0, 7)}-01`, -3);
  const accountIds = () => periods.map((p) => p.world.smartAccountId);

  return {
    async prepare() {
      for (let i = 0; i < count; i++) {
        const world = await createTestWorld(ctx.db, `tu${String(i).padStart(4, '0')}`);
        const va = await ctx
          .db('virtual_accounts')
          .where({ account_id: world.smartAccountId, path: 'Finance' })
          .first<{ id: string }>('id');
        periods.push({ world, vaId: String(va.id), period, peak: 2 + (i % 3) });
      }
    },

    async drive({ faultAt, cleared }) {
      await sleep(Math.max(0, faultAt - LEAD_MS - Date.now()));
      // What use beyond the purchase leaves behind: an agreement with a partner of record, and the period's peak.
      for (const p of periods) {
        await ctx.db('overage_agreements').insert({
          account_id: p.world.smartAccountId,
          kind: 'factor',
          allowance_factor: 1.5,
          cadence: 'monthly',
          first_period_starts_on: period,
          partner_id: p.world.partnerId,
        });
        await ctx
          .db('overage_peaks')
          .insert({ account_id: p.world.smartAccountId, virtual_account_id: p.vaId, sku: SKU, period, peak: p.peak });
      }
      await cleared;
      // The operator approves each true-up once it awaits approval (an answer lost is seen in the row).
      const deadline = Date.now() + 240_000;
      await Promise.all(periods.map((p) => approveWhenBooked(ctx, p, deadline)));
    },

    async beforeFault() {
      const from = Date.now();
      const until = from + WAIT_FOR_STEP_MS;
      let statuses: string[] = [];
      for (; Date.now() < until; await sleep(50)) {
        statuses = (await ctx.db('true_ups').whereIn('account_id', accountIds()).where({ period }).pluck('status')) as string[];
        if (statuses.includes('reported')) break;
      }
      const between = statuses.filter((s) => s === 'reported').length;
      notes.push(
        between > 0
          ? `the worker was killed with ${between} of ${periods.length} true-ups between their steps (report written, order not booked yet), ${((Date.now() - from) / 1000).toFixed(1)} s after the planned moment`
          : `no true-up was between its steps at the kill (statuses: ${statuses.join(', ') || 'none started'})`,
      );
    },

    duringFault: async () => undefined,

    async verify({ received }): Promise<LicenseUseResult> {
      const copies = copiesByKey(received);
      const problems: string[] = [];
      for (const p of periods) problems.push(...(await checkPeriod(ctx, p, copies)));
      return { checked: `${periods.length} true-ups, each once`, problems, notes };
    },
  };
}

async function approveWhenBooked(ctx: LicenseUseContext, p: Period, deadline: number): Promise<void> {
  const status = () =>
    ctx.db('true_ups').where({ account_id: p.world.smartAccountId, period: p.period }).first<{ status: string } | undefined>('status');
  await retrying(async () => {
    const row = await status();
    if (row?.status !== 'booked' && row?.status !== 'approved') throw new Error(`true-up ${row?.status ?? 'not started'}`);
  }, deadline);
  const handle = ctx.client.workflow.getHandle(trueUpWorkflowId(p.world.smartAccountId, p.period));
  await retrying(async () => {
    if ((await status())?.status === 'approved') return;
    await handle.executeUpdate(approveTrueUpUpdate, { args: [{ approvedBy: `operator@faults.test` }] }).catch(async (err: Error) => {
      // Approved by an earlier attempt whose answer was lost: the workflow says so.
      if (!/approved/.test(err.message) && !/approved/.test(String((err as { cause?: Error }).cause?.message))) throw err;
    });
  }, deadline);
}

/** One period: one true_ups row, approved; one true-up order, fulfilled, each line deposited once; the pool holds the peak; one report email. */
async function checkPeriod(ctx: LicenseUseContext, p: Period, copies: Map<string, number>): Promise<string[]> {
  const { db } = ctx;
  const accountId = p.world.smartAccountId;
  const what = `true-up ${accountId} ${p.period}`;
  const problems: string[] = [];
  const rows: Array<{ status: string }> = await db('true_ups').where({ account_id: accountId, period: p.period }).select('status');
  if (rows.length !== 1 || rows[0].status !== 'approved')
    problems.push(`${what}: ${rows.length} true_ups rows (${rows.map((r) => r.status).join(', ')}), not one approved`);
  const orders: Array<{ id: string; status: string }> = await db('orders')
    .where('external_reference', 'like', `TRUEUP-${accountId}-${p.period}-%`)
    .select('id', 'status');
  if (orders.length !== 1) problems.push(`${what}: ${orders.length} true-up orders, not one`);
  for (const order of orders) {
    if (order.status !== 'Fulfilled') problems.push(`${what}: order ${order.id} is ${order.status}, not Fulfilled`);
    const perLine: Array<{ line_number: number; n: string }> = await db('order_lines as l')
      .leftJoin('entitlements as e', 'e.order_line_id', 'l.id')
      .where('l.order_id', order.id)
      .groupBy('l.line_number')
      .select('l.line_number', db.raw('count(e.id) AS n'));
    for (const line of perLine)
      if (Number(line.n) !== 1) problems.push(`${what}: order ${order.id} line ${line.line_number} has ${line.n} entitlements`);
  }
  const pool = await db('license_pools')
    .where({ virtual_account_id: p.vaId, sku: SKU })
    .first<{ purchased: string } | undefined>('purchased');
  // bigint, read as a string (far below 2^53).
  if (Number(pool?.purchased ?? 0) !== p.peak) problems.push(`${what}: the pool holds ${pool?.purchased ?? 0}, not the peak ${p.peak}`);
  const workflowId = trueUpWorkflowId(accountId, p.period);
  const reportKeys = (await db('email_outbox')
    .where({ template: 'true-up-report' })
    .where('idempotency_key', 'like', `${workflowId}:report:%`)
    .pluck('idempotency_key')) as string[];
  // The world has no SA admin who is a user: the partner of record is the one recipient.
  if (reportKeys.length !== 1) problems.push(`${what}: ${reportKeys.length} report emails queued, not one`);
  problems.push(...(await checkSentOnce(db, reportKeys, copies, `${what} report`)));
  const alerts = await db('license_alerts')
    .where({ kind: 'overage_report', subject: `true-up:${accountId}:${p.period}` })
    .count({ n: '*' });
  if (Number(alerts[0].n) !== 1) problems.push(`${what}: ${alerts[0].n} overage_report alerts, not one`);
  return problems;
}
