import type { Knex } from 'knex';
import type { LicenseEventRow } from '../db/rows';

/** R23: one row per change to what an account holds or runs; the event log and its CSV read them. */
export interface LicenseEvent {
  accountId: string;
  virtualAccountId?: string | null;
  /** e.g. instance_registered, usage_reported, licenses_moved, instance_moved, token_created, licenses_expired */
  type: string;
  /** What it is about: "instance:pi-...", "pool:<vaId>:<sku>", "token:<id>". */
  subject: string;
  /** Who did it: "user:<id>", "partner:<id>", "operator", "device:<instanceId>", "system". */
  actor: string;
  details?: Record<string, unknown>;
  /** Set when a retry could write the same event twice. */
  idempotencyKey?: string;
}

export async function recordLicenseEvent(q: Knex, event: LicenseEvent): Promise<void> {
  await licenseEventInsert(q, event);
}

/** The event's insert as a query, for a hot path that runs it in one statement with its other writes. */
export function licenseEventInsert(q: Knex, event: LicenseEvent): Knex.QueryBuilder {
  return licenseEventsInsert(q, [event]);
}

/** Several events in one insert (a batch of usage reports). */
export function licenseEventsInsert(q: Knex, events: LicenseEvent[]): Knex.QueryBuilder {
  return q<LicenseEventRow>('license_events')
    .insert(
      events.map((event) => ({
        account_id: event.accountId,
        virtual_account_id: event.virtualAccountId ?? null,
        type: event.type,
        subject: event.subject,
        actor: event.actor,
        details: JSON.stringify(event.details ?? {}),
        idempotency_key: event.idempotencyKey ?? null,
      })),
    )
    .onConflict('idempotency_key')
    .ignore();
}

/**
 * SQL for how an actor column is shown: a person ("user:<row number>") by their registered user
 * ID, as role grants name people; anyone else as written. `column` is a trusted column name.
 */
export function actorShownSql(column: string): string {
  return `COALESCE((SELECT 'user:' || u.registered_id FROM users u
    WHERE u.id = CASE WHEN ${column} ~ '^user:[0-9]{1,18}$' THEN substring(${column} from 6)::bigint END), ${column})`;
}
