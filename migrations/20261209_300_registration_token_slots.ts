import type { Knex } from 'knex';

/**
 * A registration token's uses, counted in a few slots instead of one column (R16, issue 15): every
 * registration spent its use by updating the token's own row, so all the registrations of one
 * token (one per VA is the usual way to deploy a fleet) waited for each other's commit in turn.
 * Now a registration takes a slot no other holds (FOR UPDATE SKIP LOCKED) and spends there. Each
 * slot holds a share of max_uses (together exactly max_uses) and refuses past its share, so the
 * token still never registers more than max_uses instances; its uses are the slots' sum.
 * Existing tokens keep their count in one slot of their whole max_uses.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE registration_token_slots (
      token_id bigint NOT NULL REFERENCES registration_tokens (id),
      slot smallint NOT NULL,
      capacity integer NOT NULL,
      uses integer NOT NULL DEFAULT 0,
      PRIMARY KEY (token_id, slot),
      CONSTRAINT registration_token_slots_uses_check CHECK (capacity > 0 AND uses >= 0 AND uses <= capacity)
    )`);
  await knex.raw(
    `INSERT INTO registration_token_slots (token_id, slot, capacity, uses) SELECT id, 0, max_uses, uses FROM registration_tokens`,
  );
  // Dropping the column drops its CHECK (max_uses > 0 AND uses >= 0 AND uses <= max_uses); max_uses keeps its part.
  await knex.raw('ALTER TABLE registration_tokens DROP COLUMN uses');
  await knex.raw('ALTER TABLE registration_tokens ADD CONSTRAINT registration_tokens_max_uses_check CHECK (max_uses > 0)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE registration_tokens DROP CONSTRAINT registration_tokens_max_uses_check');
  await knex.raw('ALTER TABLE registration_tokens ADD COLUMN uses integer NOT NULL DEFAULT 0');
  await knex.raw(`
    UPDATE registration_tokens t SET uses = s.uses
    FROM (SELECT token_id, sum(uses)::int AS uses FROM registration_token_slots GROUP BY token_id) s
    WHERE s.token_id = t.id`);
  await knex.raw(
    'ALTER TABLE registration_tokens ADD CONSTRAINT registration_tokens_uses_check CHECK (max_uses > 0 AND uses >= 0 AND uses <= max_uses)',
  );
  await knex.raw('DROP TABLE registration_token_slots');
}
