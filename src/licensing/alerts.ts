import type { Knex } from 'knex';
import type { LicenseAlertRow } from '../db/rows';

/**
 * R25: alerts, at most one per kind and subject per day (the unique key deduplicates). Raising
 * one only writes the row, inside the caller's transaction; emailing those who asked for it is
 * the alert-delivery process's job, so a hot path never waits on SMTP.
 */
export const ALERT_KINDS = [
  'insufficient_licenses',
  'licenses_expiring',
  'licenses_expired',
  'failed_to_connect',
  'authorization_expired',
  'instance_removed',
  'overage_report',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export interface Alert {
  accountId: string;
  virtualAccountId?: string | null;
  kind: AlertKind;
  /** What it is about, stable across days: "pool:<vaId>:<sku>", "instance:<id>", "allocation:<id>:90d". */
  subject: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Inserts the alert unless today's exists; true when this call raised it. */
export async function raiseAlert(q: Knex, alert: Alert, day?: string): Promise<boolean> {
  const inserted = await q<LicenseAlertRow>('license_alerts')
    .insert({
      account_id: alert.accountId,
      virtual_account_id: alert.virtualAccountId ?? null,
      kind: alert.kind,
      subject: alert.subject,
      day: day ?? q.raw('current_date'),
      message: alert.message,
      details: JSON.stringify(alert.details ?? {}),
    })
    .onConflict(['kind', 'subject', 'day'])
    .ignore()
    .returning('id');
  return inserted.length > 0;
}
