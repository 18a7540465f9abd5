import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { isIsoDate } from '../common/dates';
import { ValidationError, type FieldError } from '../orders/order';
import { recordLicenseEvent } from './events';
import { CADENCES, type Cadence } from './periods';
import { comparePoolKeys } from './pool-order';
import { recomputePool } from './pools';

/**
 * R20: a Smart Account's overage agreement. Setting it re-judges every pool of the account in
 * the same transaction (in (VA, SKU) order, as every writer locks pools), so use beyond the
 * purchase becomes Overage, or OutOfCompliance again, at once.
 */

export const AGREEMENT_ALLOWANCES = ['none', '1.25', '1.5', '2', 'unlimited'] as const;
export type AgreementAllowance = (typeof AGREEMENT_ALLOWANCES)[number];

export interface OverageAgreement {
  accountId: string;
  allowance: AgreementAllowance;
  cadence: Cadence;
  firstPeriodStartsOn: string;
  /** The partner the true-up order is booked by and its report sent to; required unless allowance is none. */
  partnerOfRecord: string | null;
}

interface AgreementRow {
  account_id: string;
  kind: 'none' | 'factor' | 'unlimited';
  allowance_factor: string | null;
  cadence: Cadence;
  first: string;
  partner_id: string | null;
}

function allowanceOfRow(row: AgreementRow): AgreementAllowance {
  if (row.kind === 'factor') return String(Number(row.allowance_factor)) as AgreementAllowance;
  return row.kind;
}

export async function readAgreement(q: Knex, accountId: string): Promise<OverageAgreement | undefined> {
  const row: AgreementRow | undefined = await q('overage_agreements')
    .where({ account_id: accountId })
    .first(
      'account_id',
      'kind',
      'allowance_factor',
      'cadence',
      q.raw(`to_char(first_period_starts_on, 'YYYY-MM-DD') AS first`),
      'partner_id',
    );
  if (!row) return undefined;
  return {
    accountId: row.account_id,
    allowance: allowanceOfRow(row),
    cadence: row.cadence,
    firstPeriodStartsOn: row.first,
    partnerOfRecord: row.partner_id,
  };
}

async function validate(db: Db, a: Omit<OverageAgreement, 'accountId'>): Promise<void> {
  const errors: FieldError[] = [];
  if (!AGREEMENT_ALLOWANCES.includes(a.allowance))
    errors.push({ field: 'allowance', reason: `must be one of ${AGREEMENT_ALLOWANCES.join(', ')}` });
  if (!CADENCES.includes(a.cadence)) errors.push({ field: 'cadence', reason: `must be one of ${CADENCES.join(', ')}` });
  if (!isIsoDate(a.firstPeriodStartsOn)) errors.push({ field: 'firstPeriodStartsOn', reason: 'must be a date YYYY-MM-DD' });
  if (a.allowance !== 'none' && !a.partnerOfRecord) {
    errors.push({ field: 'partnerOfRecord', reason: 'is required when overage is allowed: the true-up order is booked by it' });
  } else if (a.partnerOfRecord && !(await db('partners').where({ id: a.partnerOfRecord }).first('id'))) {
    errors.push({ field: 'partnerOfRecord', reason: `partner "${a.partnerOfRecord}" does not exist` });
  }
  if (errors.length > 0) throw new ValidationError(errors);
}

/** Sets (or replaces) the agreement and re-judges the account's pools; returns the agreement and the pools changed. */
export async function setAgreement(
  db: Db,
  agreement: OverageAgreement,
  actor: string,
): Promise<{ agreement: OverageAgreement; pools: number }> {
  await validate(db, agreement);
  const kind = agreement.allowance === 'none' || agreement.allowance === 'unlimited' ? agreement.allowance : 'factor';
  const row = {
    account_id: agreement.accountId,
    kind,
    allowance_factor: kind === 'none' ? 1 : kind === 'unlimited' ? null : Number(agreement.allowance),
    cadence: agreement.cadence,
    first_period_starts_on: agreement.firstPeriodStartsOn,
    partner_id: agreement.partnerOfRecord,
  };
  return db.transaction(async (trx) => {
    await trx('overage_agreements')
      .insert(row)
      .onConflict('account_id')
      .merge({ ...row, updated_at: trx.fn.now() });
    const rows: Array<{ virtual_account_id: string; sku: string }> = await trx('license_pools')
      .where({ account_id: agreement.accountId })
      .select('virtual_account_id', 'sku');
    const pools = rows.map((r) => ({ virtualAccountId: String(r.virtual_account_id), sku: r.sku })).sort(comparePoolKeys);
    for (const pool of pools) await recomputePool(trx, agreement.accountId, pool);
    await recordLicenseEvent(trx, {
      accountId: agreement.accountId,
      type: 'overage_agreement_set',
      subject: `account:${agreement.accountId}`,
      actor,
      details: { ...agreement },
    });
    return { agreement: (await readAgreement(trx, agreement.accountId))!, pools: pools.length };
  });
}
