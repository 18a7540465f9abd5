import type { Knex } from 'knex';
import { periodOf, type Cadence } from './periods';

/**
 * R20: the highest overage of each (VA, SKU) in each reconciliation period. Called by
 * writePoolCounts whenever a pool shows served use beyond its purchase, inside the transaction
 * that holds the pool's row lock, so the peak is never lost to a concurrent report.
 */
export async function recordOveragePeak(
  q: Knex.Transaction,
  accountId: string,
  key: { virtualAccountId: string; sku: string },
  overage: number,
  today: string,
): Promise<void> {
  const agreement: { cadence: Cadence; first: string } | undefined = await q('overage_agreements')
    .where({ account_id: accountId })
    .whereNot('kind', 'none')
    .first('cadence', q.raw(`to_char(first_period_starts_on, 'YYYY-MM-DD') AS first`));
  if (!agreement) return;
  const period = periodOf(agreement.first, agreement.cadence, today);
  if (!period) return;
  await q.raw(
    `INSERT INTO overage_peaks (account_id, virtual_account_id, sku, period, peak) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (virtual_account_id, sku, period) DO UPDATE SET peak = EXCLUDED.peak, updated_at = now()
     WHERE overage_peaks.peak < EXCLUDED.peak`,
    [accountId, key.virtualAccountId, key.sku, period.startsOn, overage],
  );
}
