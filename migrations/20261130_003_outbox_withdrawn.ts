import type { Knex } from 'knex';

/**
 * An email the product decides not to send after it was queued (an activation reminder for an
 * account activated meanwhile) is `withdrawn`, so no outbox row stays `pending` forever. An
 * earlier attempt may still have reached SMTP before the row could be marked sent: `attempts`
 * and `last_error` say what was tried.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_status_check');
  await knex.raw("ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_status_check CHECK (status IN ('pending', 'sent', 'withdrawn'))");
}

export async function down(knex: Knex): Promise<void> {
  // The old schema has no word for it: such a row was settled, and nothing may send it again.
  await knex('email_outbox').where({ status: 'withdrawn' }).update({ status: 'sent' });
  await knex.raw('ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_status_check');
  await knex.raw("ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_status_check CHECK (status IN ('pending', 'sent'))");
}
