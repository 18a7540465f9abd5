import { CancelledFailure, Context } from '@temporalio/activity';
import { allows, type HeldRole, type RoleName } from '../../src/accounts/roles';
import type { Db } from '../../src/db/knex';
import type { AlertKind } from '../../src/licensing/alerts';
import { renderAlertEmail } from '../../src/licensing/license-emails';
import type { Outbox } from '../shared/outbox';

/**
 * R25: each new alert is emailed once to the account's alert subscribers and its Smart Account
 * admins who are users, each only if a live role of theirs lets them view the alert's virtual
 * account (a revoked role, or a role on another VA, gets nothing: an email shows what the pages
 * would refuse). Through the outbox (one row per alert and recipient, so a retry never sends
 * twice), then the alert is marked emailed_at so the next sweep does not read it again.
 */

export interface Recipient {
  email: string;
  full_name: string | null;
  /** The recipient's live roles on the account, which decide which alerts reach them. */
  roles: HeldRole[];
}

/** Subscribers of the account's alerts and its SA admins (users) who hold a live role on it, each once, by user ID. */
export async function alertRecipients(db: Db, accountId: string): Promise<Recipient[]> {
  const rows: Array<{ id: string; email: string; full_name: string | null; role: RoleName; path: string | null }> = await db(
    'role_grants as g',
  )
    .join('users as u', 'u.id', 'g.user_id')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .where('g.account_id', accountId)
    .whereNull('g.revoked_at')
    .whereIn(
      'u.id',
      db('alert_subscriptions')
        .where({ account_id: accountId })
        .select('user_id')
        .union(db('role_grants').where({ account_id: accountId, role: 'sa_admin' }).whereNull('revoked_at').select('user_id')),
    )
    .orderBy('u.id')
    .select('u.id', 'u.email', 'u.full_name', 'g.role', 'va.path');
  const byUser = new Map<string, Recipient>();
  for (const r of rows) {
    const recipient = byUser.get(String(r.id)) ?? { email: r.email, full_name: r.full_name, roles: [] };
    recipient.roles.push({ role: r.role, path: r.path });
    byUser.set(String(r.id), recipient);
  }
  return [...byUser.values()];
}

interface UnmailedAlert {
  id: string;
  account_id: string;
  kind: AlertKind;
  message: string;
  day: string;
  account_name: string;
  path: string | null;
}

export function createAlertDelivery(deps: { db: Db; outbox: Outbox; publicBaseUrl: string }) {
  const { db, outbox } = deps;
  return {
    /** Emails up to `batch` alerts not emailed yet, oldest first; returns how many and whether more wait. */
    async deliverAlertEmails(input: { batch: number; accountId?: string }): Promise<{ alerts: number; emails: number; more: boolean }> {
      const query = db('license_alerts as a')
        .join('accounts as acc', 'acc.id', 'a.account_id')
        .leftJoin('virtual_accounts as va', 'va.id', 'a.virtual_account_id')
        .whereNull('a.emailed_at')
        .orderBy('a.id')
        .limit(input.batch)
        .select(
          'a.id',
          'a.account_id',
          'a.kind',
          'a.message',
          db.raw(`to_char(a.day, 'YYYY-MM-DD') AS day`),
          'acc.name as account_name',
          'va.path',
        );
      if (input.accountId !== undefined) query.where('a.account_id', input.accountId);
      const alerts = (await query) as UnmailedAlert[];
      let emails = 0;
      const recipientsOf = new Map<string, Recipient[]>();
      const context = activityContext();
      for (const alert of alerts) {
        // Each alert is marked emailed as it is done: a retry after a cancellation goes on from there.
        if (context?.cancellationSignal.aborted)
          throw new CancelledFailure('cancelled while emailing alerts (the worker stopping, or a timeout); the rest is retried');
        if (!recipientsOf.has(alert.account_id)) recipientsOf.set(alert.account_id, await alertRecipients(db, alert.account_id));
        for (const recipient of recipientsOf.get(alert.account_id)!.filter((r) => allows(r.roles, 'view', alert.path))) {
          const key = `license-alert:${alert.id}:${recipient.email.toLowerCase()}`;
          const rendered = renderAlertEmail({
            kind: alert.kind,
            message: alert.message,
            accountName: alert.account_name,
            virtualAccountPath: alert.path,
            day: alert.day,
            recipientName: recipient.full_name ?? undefined,
            // The page a person signs in to, not the API route (which needs an API key).
            pagesUrl: `${deps.publicBaseUrl}/accounts/${encodeURIComponent(alert.account_id)}/alerts`,
          });
          const { pending } = await outbox.queue({
            ...rendered,
            idempotencyKey: key,
            orderId: null,
            alertId: alert.id,
            template: 'license-alert',
            to: recipient.email,
          });
          if (pending && (await outbox.deliver(key))) emails++;
          // Per email: one alert may go to many people, each an SMTP exchange.
          context?.heartbeat();
        }
        await db('license_alerts').where({ id: alert.id }).whereNull('emailed_at').update({ emailed_at: db.fn.now() });
      }
      return { alerts: alerts.length, emails, more: alerts.length >= input.batch };
    },
  };
}

/** The activity's context when it runs as one (heartbeats, cancellation); none when a test calls the delivery itself. */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
