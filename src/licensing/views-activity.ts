import type { Knex } from 'knex';
import { listRoleGrants, type RoleGrantView } from '../accounts/role-grants';
import { actorShownSql } from './events';
import { whereVisible, type ViewScope } from './views-access';
import { alertEmailDelivery, type AlertEmailDeliveryBody } from '../email/email-views';

/**
 * R23: the people and roles, the alerts and the event log of a Smart Account, each limited to
 * what the caller's scope shows (its registration tokens: listRegistrationTokens in tokens.ts).
 */

export async function rolesOf(q: Knex, scope: ViewScope): Promise<RoleGrantView[]> {
  const grants = await listRoleGrants(q, scope.accountId, scope.grantee);
  const paths = new Set(scope.virtualAccounts.map((va) => va.path));
  return grants.filter((g) => (g.virtualAccountPath === null ? scope.wholeAccount : paths.has(g.virtualAccountPath)));
}

export interface AlertLine {
  alertId: string;
  virtualAccountPath: string | null;
  kind: string;
  subject: string;
  day: string;
  message: string;
  createdAt: string;
  /** Whether its emails went out: a failed one shows on the alerts page (issue 18 item 1). */
  emailDelivery: AlertEmailDeliveryBody;
}

export async function alertsOf(q: Knex, scope: ViewScope, limit = 200): Promise<AlertLine[]> {
  const rows: Array<{
    id: string | number;
    path: string | null;
    kind: string;
    subject: string;
    day: string;
    message: string;
    created_at: Date;
    email_delivery: AlertEmailDeliveryBody;
  }> = await whereVisible(
    q('license_alerts as a').leftJoin('virtual_accounts as va', 'va.id', 'a.virtual_account_id').where('a.account_id', scope.accountId),
    scope,
    'a.virtual_account_id',
  )
    .orderBy('a.id', 'desc')
    .limit(limit)
    .select(
      'a.id',
      'va.path',
      'a.kind',
      'a.subject',
      q.raw(`to_char(a.day, 'YYYY-MM-DD') AS day`),
      'a.message',
      'a.created_at',
      alertEmailDelivery(q),
    );
  return rows.map((r) => ({
    alertId: String(r.id),
    virtualAccountPath: r.path,
    kind: r.kind,
    subject: r.subject,
    day: r.day,
    message: r.message,
    createdAt: r.created_at.toISOString(),
    emailDelivery: r.email_delivery,
  }));
}

export interface EventLine {
  eventId: string;
  at: string;
  virtualAccountPath: string | null;
  type: string;
  subject: string;
  actor: string;
  details: Record<string, unknown>;
}

/** The event log, newest first; `beforeId` pages back through it. */
export async function eventsOf(q: Knex, scope: ViewScope, options: { limit?: number; beforeId?: string } = {}): Promise<EventLine[]> {
  let query = whereVisible(
    q('license_events as e').leftJoin('virtual_accounts as va', 'va.id', 'e.virtual_account_id').where('e.account_id', scope.accountId),
    scope,
    'e.virtual_account_id',
  );
  if (options.beforeId !== undefined) query = query.where('e.id', '<', options.beforeId);
  const rows: Array<{
    id: string | number;
    created_at: Date;
    path: string | null;
    type: string;
    subject: string;
    actor: string;
    details: Record<string, unknown>;
  }> = await query
    .orderBy('e.id', 'desc')
    .limit(options.limit ?? 200)
    .select('e.id', 'e.created_at', 'va.path', 'e.type', 'e.subject', q.raw(`${actorShownSql('e.actor')} AS actor`), 'e.details');
  return rows.map((r) => ({
    eventId: String(r.id),
    at: r.created_at.toISOString(),
    virtualAccountPath: r.path,
    type: r.type,
    subject: r.subject,
    actor: r.actor,
    details: r.details,
  }));
}
