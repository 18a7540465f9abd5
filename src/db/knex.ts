import knex, { type Knex } from 'knex';
import { Client } from 'pg';
import { redact } from '../config';

export type Db = Knex;

export function createDb(databaseUrl: string, poolMax = 10): Db {
  return knex({
    client: 'pg',
    connection: databaseUrl,
    pool: { min: 0, max: poolMax },
  });
}

/**
 * Creates the database named in the URL when it does not exist yet, connecting to the server's
 * `postgres` maintenance database. Used by the stack script and the test setup, never by workers.
 */
export async function ensureDatabase(databaseUrl: string): Promise<{ created: boolean }> {
  const name = databaseName(databaseUrl);
  const admin = new Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`Cannot reach Postgres at ${redact(databaseUrl)}: ${(err as Error).message}`);
  }
  try {
    const existing = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount) return { created: false };
    // Identifiers cannot be parameters; databaseName() allows only [A-Za-z0-9_].
    await admin.query(`CREATE DATABASE "${name}"`);
    return { created: true };
  } finally {
    await admin.end();
  }
}

/** Drops the database named in the URL (tests only). */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = databaseName(databaseUrl);
  const admin = new Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) {
    throw new Error(`DATABASE_URL: the database name must be letters, digits or "_" (got "${name}")`);
  }
  return name;
}

export function withDatabase(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
