import knex, { type Knex } from 'knex';
import { Client, types } from 'pg';
import { redact, type DatabaseSessionTimeouts } from '../config';

export type Db = Knex;

// Calendar dates (ship dates, subscription terms) stay "YYYY-MM-DD" strings: a JavaScript Date
// would put them at local midnight and shift them by the server's time zone.
types.setTypeParser(types.builtins.DATE, (value: string) => value);

/** Where knex's own messages go (a lost connection, a failed acquire); pino's logger fits. */
export interface DbLogger {
  warn(obj: object, message: string): void;
  error(obj: object, message: string): void;
}

/**
 * `timeouts`: only the API process gives them (a request never hangs on a lock or a stuck
 * transaction); workers (activities have Temporal's timeouts) and migrations (may be long) do not.
 */
export function createDb(databaseUrl: string, poolMax = 10, logger?: DbLogger, timeouts?: DatabaseSessionTimeouts): Db {
  const text = (message: unknown) => (message instanceof Error ? message.message : String(message));
  return knex({
    client: 'pg',
    connection: timeouts ? withSessionTimeouts(databaseUrl, timeouts) : databaseUrl,
    pool: { min: 0, max: poolMax, ...(timeouts && logger ? { afterCreate: warnWhenEndedIdle(logger) } : {}) },
    // Knex prints these with console.log by default, stack traces included; a process whose
    // stdout is one JSON object per line (the worker, the API) hands over its logger instead.
    ...(logger
      ? {
          log: {
            warn: (message: unknown) => logger.warn({ component: 'knex' }, text(message)),
            error: (message: unknown) => logger.error({ component: 'knex' }, text(message)),
            deprecate: (method: string, alternative: string) =>
              logger.warn({ component: 'knex' }, `${method} is deprecated; use ${alternative}`),
            debug: () => undefined,
          },
        }
      : {}),
  });
}

/**
 * pg sends these in the startup message, so each connection has them at no cost per query; a 0 is
 * left out (the server's own setting applies).
 */
function withSessionTimeouts(databaseUrl: string, timeouts: DatabaseSessionTimeouts): Knex.PgConnectionConfig {
  return {
    connectionString: databaseUrl,
    ...(timeouts.statementTimeoutMs > 0 ? { statement_timeout: timeouts.statementTimeoutMs } : {}),
    ...(timeouts.idleInTransactionTimeoutMs > 0 ? { idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs } : {}),
  };
}

/**
 * Postgres ends an idle-in-transaction session with a FATAL 25P03 on the connection, not on a
 * query: the request itself sees only a cut connection (503 DatabaseUnavailable), so the reason is
 * logged here.
 */
function warnWhenEndedIdle(logger: DbLogger) {
  return (connection: Client, done: (err: Error | null, connection: Client) => void) => {
    connection.on('error', (err: Error & { code?: string }) => {
      if (err.code === '25P03') logger.warn({ component: 'knex', sqlState: err.code }, 'Postgres ended a transaction left idle too long');
    });
    done(null, connection);
  };
}

/**
 * Creates the database named in the URL when it does not exist yet, connecting to the server's
 * `postgres` maintenance database. Used by the stack script and the test setup, never by workers.
 */
export async function ensureDatabase(databaseUrl: string): Promise<{ created: boolean }> {
  const name = databaseName(databaseUrl);
  const admin = await connectAdmin(databaseUrl);
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
  const admin = await connectAdmin(databaseUrl);
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Connects to the server's `postgres` maintenance database, with an error that says where and why. */
async function connectAdmin(databaseUrl: string): Promise<Client> {
  const admin = new Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  try {
    await admin.connect();
    return admin;
  } catch (err) {
    throw new Error(
      `Cannot reach Postgres at ${redact(withDatabase(databaseUrl, 'postgres'))}: ${(err as Error).message}. ` +
        'Start Postgres or set DATABASE_URL.',
    );
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
