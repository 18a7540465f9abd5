import type { Db } from '../../src/db/knex';
import { raiseAlert } from '../../src/licensing/alerts';
import { recordLicenseEvent } from '../../src/licensing/events';
import { renderTrueUpReportEmail } from '../../src/licensing/license-emails';
import { markTrueUp, prepareTrueUp, type TrueUpReport, type TrueUpState } from '../../src/licensing/true-ups';
import type { Outbox } from '../shared/outbox';

/** SA admins who are users, then the partner of record; each address once. */
async function reportRecipients(db: Db, accountId: string, partnerId: string | null): Promise<Array<{ email: string; name?: string }>> {
  const admins: Array<{ email: string; full_name: string | null }> = await db('users as u')
    .join('role_grants as g', 'g.user_id', 'u.id')
    .where({ 'g.account_id': accountId, 'g.role': 'sa_admin' })
    .whereNull('g.revoked_at')
    .orderBy('u.id')
    .select('u.email', 'u.full_name');
  const partner = partnerId
    ? await db('partners')
        .where({ id: partnerId })
        .first<{ notification_email: string; name: string } | undefined>('notification_email', 'name')
    : undefined;
  const all = [
    ...admins.map((a) => ({ email: a.email, name: a.full_name ?? undefined })),
    ...(partner ? [{ email: partner.notification_email, name: partner.name }] : []),
  ];
  const seen = new Set<string>();
  return all.filter((r) => !seen.has(r.email.toLowerCase()) && seen.add(r.email.toLowerCase()));
}
/** The true-up workflow's activities (R20)
: each idempotent, the true_ups row their guard. */
export function createTrueUpActivities(deps: { db: Db; outbox: Outbox }) {
  const { db, outbox } = deps;

  return {
    async prepareTrueUp(input: { accountId: string; period: string }): Promise<TrueUpState> {
      return prepareTrueUp(db, input.accountId, input.period);
    },

    /** Emails the overage report once per recipient and records it as an (already emailed) alert. */
    async sendTrueUpReport(input: { accountId: string; period: string; workflowId: string }): Promise<{ recipients: number }> {
      const row = await db('true_ups as t')
        .join('accounts as a', 'a.id', 't.account_id')
        .where({ 't.account_id': input.accountId, 't.period': input.period })
        .first<{ report: TrueUpReport; name: string }>('t.report', 'a.name');
      const report = row.report;
      const recipients = await reportRecipients(db, input.accountId, report.partnerId);
      for (const recipient of recipients) {
        const key = `${input.workflowId}:report:${recipient.email.toLowerCase()}`;
        const rendered = renderTrueUpReportEmail({
          accountName: row.name,
          period: report.period,
          lines: report.lines,
          orderReferences: report.orders.map((o) => o.input.externalReference),
          recipientName: recipient.name,
        });
        const { pending } = await outbox.queue({
          ...rendered,
          idempotencyKey: key,
          orderId: null,
          template: 'true-up-report',
          to: recipient.email,
        });
        if (pending) await outbox.deliver(key);
      }
      await db.transaction(async (trx) => {
        const raised = await raiseAlert(trx, {
          accountId: input.accountId,
          kind: 'overage_report',
          subject: `true-up:${input.accountId}:${input.period}`,
          message: `overage report for ${report.period.startsOn} to ${report.period.endsOn}: ${report.lines.map((l) => `${l.sku} +${l.peak} in ${l.virtualAccountPath}`).join(', ')}`,
          details: { period: report.period, lines: report.lines },
        });
        // The report itself was the email: the alert is for the pages and the API.
        if (raised)
          await trx('license_alerts')
            .where({ kind: 'overage_report', subject: `true-up:${input.accountId}:${input.period}` })
            .update({ emailed_at: trx.fn.now() });
      });
      return { recipients: recipients.length };
    },

    async markTrueUpBooked(input: { accountId: string; period: string }): Promise<void> {
      await markTrueUp(db, input.accountId, input.period, 'booked');
      await recordLicenseEvent(db, {
        accountId: input.accountId,
        type: 'true_up_booked',
        subject: `true-up:${input.accountId}:${input.period}`,
        actor: 'system',
        idempotencyKey: `true-up-booked:${input.accountId}:${input.period}`,
      });
    },

    async markTrueUpApproved(input: { accountId: string; period: string; approvedBy: string }): Promise<void> {
      await markTrueUp(db, input.accountId, input.period, 'approved', input.approvedBy);
      await recordLicenseEvent(db, {
        accountId: input.accountId,
        type: 'true_up_approved',
        subject: `true-up:${input.accountId}:${input.period}`,
        actor: input.approvedBy,
        idempotencyKey: `true-up-approved:${input.accountId}:${input.period}`,
      });
    },
  };
}
