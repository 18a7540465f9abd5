/**
 * Part 10: true-ups at scale (R20). N Smart Accounts (bulk SQL), each with a monthly overage
 * agreement whose partner of record is the run's partner and an overage peak in the month that
 * just ended. The license clock starts every trueUp as the Schedule's runs do (one run starts at
 * most a batch of them, so it runs again until all are started); measured until every period is
 * booked and waits for approval: the true_ups row `booked` and the true-up order's row written by
 * its orderFulfillment child. Approval (a person's act) is left out.
 */
import { addMonths, isoDateOf } from '../src/common/dates';
import { trueUpWorkflowId } from '../src/licensing/workflow-api';
import { costOf } from './costs';
import { measureClockRun } from './licensing-clock';
import type { TrueUpScaleResult } from './licensing-scale-report';
import type { BenchStack, BenchWorker } from './stack';

export interface TrueUpScaleOptions {
  accounts: number;
  taskQueue: string;
  samples: number;
  timeoutMs: number;
  runId: string;
  log: (line: string) => void;
}

const SKU = 'BENCH-TRUE-UP';
const MAX_CLOCK_RUNS = 50;

/** Accounts `sa-tu-<run>-<n>`, one VA each, the partner's role, the agreement and last month's peak. */
async function seedAccounts(
  stack: BenchStack,
  options: TrueUpScaleOptions,
): Promise<{ prefix: string; partnerId: string; period: string }> {
  const { db } = stack;
  const prefix = `sa-tu-${options.runId}`;
  const partnerId = `partner-tu-${options.runId}`;
  const thisMonth = `${isoDateOf(Date.now()).slice(0, 7)}-01`;
  const first = addMonths(thisMonth, -2);
  const period = addMonths(thisMonth, -1);
  await db('partners').insert({
    id: partnerId,
    name: `True-up partner ${options.runId}`,
    kind: 'partner',
    notification_email: `orders@${partnerId}.test`,
  });
  await db.raw(
    `INSERT INTO accounts (id, kind, name, domain, status, activated_at)
     SELECT ? || '-' || g, 'smart_account', 'True-up ' || g, lower(? || '-' || g || '.test'), 'active', now() FROM generate_series(0, ? - 1) g`,
    [prefix, prefix, options.accounts],
  );
  await db.raw(`INSERT INTO virtual_accounts (account_id, name, path) SELECT id, 'Main', 'Main' FROM accounts WHERE id LIKE ? || '-%'`, [
    prefix,
  ]);
  await db.raw(
    `INSERT INTO role_grants (account_id, partner_id, role, granted_by) SELECT id, ?, 'sa_user', 'bench' FROM accounts WHERE id LIKE ? || '-%'`,
    [partnerId, prefix],
  );
  await db.raw(
    `INSERT INTO overage_agreements (account_id, kind, allowance_factor, cadence, first_period_starts_on, partner_id)
     SELECT id, 'factor', 1.5, 'monthly', ?::date, ? FROM accounts WHERE id LIKE ? || '-%'`,
    [first, partnerId, prefix],
  );
  await db.raw(
    `INSERT INTO overage_peaks (account_id, virtual_account_id, sku, period, peak)
     SELECT account_id, id, ?, ?, 3 FROM virtual_accounts WHERE account_id LIKE ? || '-%'`,
    [SKU, period, prefix],
  );
  await db.raw('ANALYZE accounts, virtual_accounts, overage_agreements, overage_peaks, true_ups');
  return { prefix, partnerId, period };
}

async function bookedCount(stack: BenchStack, prefix: string): Promise<{ booked: number; orders: number }> {
  const { rows } = await stack.db.raw(
    `SELECT (SELECT count(*) FROM true_ups WHERE account_id LIKE ? || '-%' AND status = 'booked')::int AS booked,
            (SELECT count(*) FROM orders WHERE account_id LIKE ? || '-%' AND external_reference LIKE 'TRUEUP-%')::int AS orders`,
    [prefix, prefix],
  );
  return rows[0];
}

export async function runTrueUpScale(
  stack: BenchStack,
  worker: BenchWorker,
  options: TrueUpScaleOptions,
): Promise<TrueUpScaleResult & { failures: string[] }> {
  const failures: string[] = [];
  const { prefix, period } = await seedAccounts(stack, options);
  const started = Date.now();
  let startedTrueUps = 0;
  let clockActions = 0;
  let clockRuns = 0;
  // Each run starts at most one batch (500) of true-ups; the Schedule's next ticks take the rest.
  while (startedTrueUps < options.accounts && clockRuns < MAX_CLOCK_RUNS) {
    const run = await measureClockRun(stack, worker, options.taskQueue, `bench-true-up-clock-${options.runId}-${clockRuns}`);
    clockRuns++;
    clockActions += run.cost.actions.total + 1;
    startedTrueUps += run.result.trueUpsStarted.filter((id) => id.includes(prefix)).length;
    if (run.result.trueUpsStarted.length === 0) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  let counts = await bookedCount(stack, prefix);
  for (const deadline = Date.now() + options.timeoutMs; counts.booked < options.accounts || counts.orders < options.accounts;) {
    if (Date.now() > deadline) {
      failures.push(
        `true-up: ${counts.booked} of ${options.accounts} booked, ${counts.orders} orders written after ${options.timeoutMs / 1000} s`,
      );
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
    counts = await bookedCount(stack, prefix);
  }
  const totalS = (Date.now() - started) / 1000;
  options.log(`   ${options.accounts} true-ups started by ${clockRuns} clock run(s), all booked in ${totalS.toFixed(1)} s`);

  const step = Math.max(1, Math.floor(options.accounts / options.samples));
  const sampled = Array.from({ length: Math.min(options.samples, options.accounts) }, (_, i) => `${prefix}-${i * step}`);
  const trueUps = await costOf(
    stack.client,
    sampled.map((accountId) => trueUpWorkflowId(accountId, period)),
  );
  const orderIds: string[] = await stack
    .db('orders')
    .whereIn('account_id', sampled)
    .where('external_reference', 'like', 'TRUEUP-%')
    .pluck('workflow_id');
  const orders = await costOf(stack.client, orderIds);
  const clockShare = clockActions / options.accounts;
  return {
    accounts: options.accounts,
    measuredTo: 'booked, awaiting approval',
    totalS,
    accountsPerSecond: options.accounts / totalS,
    clockRuns,
    actionsPerAccount: {
      clockShare,
      trueUp: trueUps.cost.actions.total,
      order: orders.cost.actions.total,
      total: clockShare + trueUps.cost.actions.total + orders.cost.actions.total,
    },
    sampledAccounts: trueUps.samples,
    failures,
  };
}
