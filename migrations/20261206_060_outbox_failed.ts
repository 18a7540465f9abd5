import type { Knex } from 'knex';

/**
 * An email the SMTP server refused for good (a 5xx reply: unknown recipient, message rejected) is
 * `failed`, with the server's answer in `last_error`: it is never retried on its own, and an
 * operator lists and resends it (issue 18 item 1).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_status_check');
  await knex.raw(
    "ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_status_check CHECK (status IN ('pending', 'sent', 'withdrawn', 'failed'))",
  );
  await knex.raw("CREATE INDEX email_outbox_failed_idx ON email_outbox (id) WHERE status = 'failed'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS email_outbox_failed_idx');
  // The old schema has no word for it: such a row was settled, and nothing may send it again.
  await knex('email_outbox').where({ status: 'failed' }).update({ status: 'withdrawn' });
  await knex.raw('ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_status_check');
  await knex.raw("ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_status_check CHECK (status IN ('pending', 'sent', 'withdrawn'))");
}
