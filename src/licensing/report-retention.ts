import type { Knex } from 'knex';
import { CREDENTIAL_VALIDITY_MS } from './credentials';

/**
 * Usage reports are kept to answer a retried report ID with its stored answer (R17), and only as
 * long as a device could still send that retry: a retry needs a valid credential, and a
 * credential is valid at most CREDENTIAL_VALIDITY_MS after the report it could retry, so a
 * retention at least that long keeps every retry idempotent. Older rows go, a bounded batch per
 * sweep, oldest first, by the received_at index (migration 070).
 */

/** The shortest retention the configuration accepts: the credential validity horizon. */
export const MIN_USAGE_REPORT_RETENTION_MS = CREDENTIAL_VALIDITY_MS;

/** Deletes up to `batch` reports received before `asOfMs - retentionMs` (of one account's instances when given). */
export async function deleteOldUsageReports(
  db: Knex,
  retentionMs: number,
  asOfMs: number,
  batch: number,
  accountId?: string,
): Promise<{ deleted: number; more: boolean }> {
  const due = db('usage_reports as r')
    .where('r.received_at', '<', new Date(asOfMs - retentionMs))
    .orderBy('r.received_at')
    .limit(batch)
    .select('r.instance_id', 'r.report_id');
  if (accountId !== undefined) due.whereIn('r.instance_id', db('product_instances').where({ account_id: accountId }).select('id'));
  const deleted = await db('usage_reports').whereIn(['instance_id', 'report_id'], due).delete();
  return { deleted, more: deleted >= batch };
}
