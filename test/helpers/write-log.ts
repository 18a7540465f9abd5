import type { Client } from 'pg';
import type { Db } from '../../src/db/knex';

/**
 * Which rows the API's own connections wrote, for a test that must prove a refused request changed
 * nothing while the worker keeps writing for orders booked earlier (a checksum of the tables could
 * not tell the two apart). Every application table gets a trigger that notes each inserted,
 * deleted or really changed row (and each TRUNCATE) made by a connection whose application_name is
 * `applicationName`; a rolled-back write rolls its note back with it.
 *
 * Only for a database of the test's own: the triggers stay until the database is dropped.
 */
export async function installWriteLog(db: Db, applicationName: string): Promise<void> {
  await db.raw(`CREATE TABLE IF NOT EXISTS test_write_log (
    id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    operation text NOT NULL,
    row_text text NOT NULL
  )`);
  // A function body cannot take a bind parameter: the name is checked to be a plain word instead.
  if (!/^[a-z0-9-]+$/.test(applicationName))
    throw new Error(`application name ${applicationName} must be lower-case letters, digits and -`);
  await db.raw(`CREATE OR REPLACE FUNCTION test_note_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- An UPDATE that leaves the row as it was (an upsert's DO UPDATE to the same value) changes nothing.
      IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
        RETURN NULL;
      END IF;
      IF current_setting('application_name', true) = '${applicationName}' THEN
        INSERT INTO test_write_log (table_name, operation, row_text) VALUES (TG_TABLE_NAME, TG_OP, CASE TG_OP
          WHEN 'INSERT' THEN NEW::text WHEN 'DELETE' THEN OLD::text WHEN 'UPDATE' THEN OLD::text || ' -> ' || NEW::text ELSE '' END);
      END IF;
      RETURN NULL;
    END $$`);
  // Every table but the migrations' own and the log; a partition inherits its parent's trigger.
  await db.raw(`DO $$
    DECLARE t record;
    BEGIN
      FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND c.relname NOT LIKE 'knex\\_%' AND c.relname <> 'test_write_log'
      LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS test_note_write_rows ON %I', t.relname);
        EXECUTE format('CREATE TRIGGER test_note_write_rows AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION test_note_write()', t.relname);
        EXECUTE format('DROP TRIGGER IF EXISTS test_note_write_truncate ON %I', t.relname);
        EXECUTE format('CREATE TRIGGER test_note_write_truncate AFTER TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION test_note_write()', t.relname);
      END LOOP;
    END $$`);
}

/**
 * The newest note's ID: a request wrote nothing when this is the same after it as before it. Read
 * on a connection of its own, so a busy pool never slows the question down.
 */
export async function lastWrite(reader: Client): Promise<number> {
  const { rows } = await reader.query<{ id: string | null }>('SELECT max(id) AS id FROM test_write_log');
  return Number(rows[0]?.id ?? 0);
}

/**
 * What was changed after note `since`, as table, operation and rows. A row inserted and deleted
 * again (a reservation taken and given back within the request) is no change, and is left out.
 */
export async function writesSince(reader: Client, since: number): Promise<string[]> {
  const { rows } = await reader.query<{ table_name: string; operation: string; row_text: string }>(
    'SELECT table_name, operation, row_text FROM test_write_log WHERE id > $1 ORDER BY id',
    [since],
  );
  const remaining = [...rows];
  for (const deleted of rows.filter((r) => r.operation === 'DELETE')) {
    const inserted = remaining.findIndex(
      (r) => r.operation === 'INSERT' && r.table_name === deleted.table_name && r.row_text === deleted.row_text,
    );
    if (inserted >= 0) {
      remaining.splice(inserted, 1);
      remaining.splice(remaining.indexOf(deleted), 1);
    }
  }
  const counts = new Map<string, number>();
  for (const r of remaining) counts.set(`${r.operation} ${r.table_name}`, (counts.get(`${r.operation} ${r.table_name}`) ?? 0) + 1);
  return [...counts].map(([what, n]) => `${what} x${n}`);
}
