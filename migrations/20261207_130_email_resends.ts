import type { Knex } from 'knex';

/**
 * Issue 18 item 1: an email the SMTP server refused for good is shown where its reason is (the
 * order, the alert) and is resent with one call.
 * - `alert_id`: the alert an alert email is for, so the alert listing says whether its emails
 *   went out (rows from before are linked through their key, `license-alert:<id>:<address>`).
 * - `resend_of`: the failed email this row resends; unique, so two resend calls (or a call and
 *   its retry) make one new email, never two.
 * - `resent_by`: who asked for the resend (operator, partner:<id>), for the audit trail.
 * The failed emails are paged newest first through email_outbox_failed_idx (migration 060).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('email_outbox', (t) => {
    t.bigInteger('alert_id').references('license_alerts.id');
    t.bigInteger('resend_of').references('email_outbox.id').unique();
    t.text('resent_by');
    t.index(['alert_id']);
  });
  await knex.raw(
    `UPDATE email_outbox e SET alert_id = a.id FROM license_alerts a
      WHERE e.template = 'license-alert' AND e.idempotency_key LIKE 'license-alert:' || a.id || ':%'`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('email_outbox', (t) => {
    t.dropIndex(['alert_id']);
    t.dropColumn('resent_by');
    t.dropColumn('resend_of');
    t.dropColumn('alert_id');
  });
}
