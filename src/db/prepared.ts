import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Client as PgClient, QueryResultRow } from 'pg';

/**
 * A hot statement run straight on a transaction's own pg connection as a named prepared statement
 * (issue 15): Postgres parses and plans it once per connection instead of every time, and knex's
 * work per query (placing the `?` bindings, its runner) is skipped. The SQL is written as for
 * knex.raw (`?` bindings); knex's 'query' event is still emitted, so what counts statements sees it.
 */

interface PreparedStatement {
  name: string;
  text: string;
}

/** What this module uses of knex's (untyped) client inside a transaction, and of its pool outside one. */
export interface StatementClient {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(connection: PgClient): Promise<unknown>;
  emit(event: 'query', query: { method: 'raw'; sql: string; bindings: readonly unknown[] }): boolean;
}

/** Statements remembered by their SQL; past this many (SQL built from data), they run unnamed. */
const MAX_PREPARED = 500;
const statements = new Map<string, PreparedStatement>();
/**
 * Part of every name. A migration that changes what a prepared statement returns makes Postgres
 * refuse it on that connection for good (0A000, "cached plan must not change result type"): the
 * next use prepares every statement again under new names.
 */
let generation = 0;

/** The statement with knex's `?` bindings numbered as pg's `$1, $2, ...`, named by its SQL's digest. */
function preparedOf(sql: string): PreparedStatement {
  const known = statements.get(sql);
  if (known) return known;
  if (/\?\?|\\\?/.test(sql)) throw new Error('a prepared statement takes only plain ? bindings (no ?? identifiers, no \\? escapes)');
  let n = 0;
  const statement = {
    name: `lf${generation}_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`,
    text: sql.replace(/\?/g, () => `$${++n}`),
  };
  if (statements.size < MAX_PREPARED) statements.set(sql, statement);
  return statement;
}

/** A transaction that runs its prepared statements itself (LeanTransaction, src/db/lean-transaction.ts). */
export interface OwnStatementsTransaction {
  prepared<T extends QueryResultRow = Record<string, unknown>>(sql: string, bindings: readonly unknown[]): Promise<{ rows: T[] }>;
}

/** A transaction a prepared statement runs in: knex's, or a lean one. */
export type SqlTransaction = Knex.Transaction | OwnStatementsTransaction;

/** Runs `sql` with its `?` bindings in `trx`, as a statement prepared once per connection; the rows as knex.raw gives them. */
export async function preparedRaw<T extends QueryResultRow = Record<string, unknown>>(
  trx: SqlTransaction,
  sql: string,
  bindings: readonly unknown[],
): Promise<{ rows: T[] }> {
  if (!isKnex(trx)) return trx.prepared<T>(sql, bindings);
  // A knex transaction's client hands out its one connection and releases nothing.
  return preparedStatement<T>(trx, sql, bindings);
}

/**
 * Runs one statement prepared once per connection, the rows as knex.raw gives them: in `db`'s
 * transaction when it is one, else on its own (autocommitted, as knex.raw outside a transaction)
 * on a connection of the pool.
 */
export async function preparedStatement<T extends QueryResultRow = Record<string, unknown>>(
  db: Knex,
  sql: string,
  bindings: readonly unknown[],
): Promise<{ rows: T[] }> {
  assertOpen(db);
  const client = db.client as StatementClient;
  const connection = await client.acquireConnection();
  try {
    return await runPrepared<T>(client, connection, sql, bindings);
  } catch (err) {
    // A migration changed what the statement returns: alone (no transaction to have aborted), it
    // runs again at once under its new name instead of failing its caller.
    if (isStalePlan(err) && !(db.client as { transacting?: boolean }).transacting)
      return await runPrepared<T>(client, connection, sql, bindings);
    throw err;
  } finally {
    await client.releaseConnection(connection);
  }
}

/**
 * Refuses a knex transaction that has committed or rolled back, as knex's own queries do: its
 * client would still hand out the connection, which may be another caller's by now.
 */
function assertOpen(db: Knex): void {
  const trx = db as { isTransaction?: boolean; isCompleted?: () => boolean };
  if (trx.isTransaction && trx.isCompleted?.())
    throw new Error('a prepared statement after its transaction ended (Transaction query already complete)');
}

/**
 * A statement knex built (a query or a raw, named or positional bindings) run as a prepared
 * statement: inside `db`'s transaction when it is one (a transaction's client hands out its own
 * connection and releases nothing), else on a connection of the pool. For the order path's
 * larger statements, whose planning cost Postgres more than running them (issue 16). The rows
 * come as Postgres returns them: knex's reshaping (.first(), .pluck()) and its query options
 * (.timeout(), rowMode) do not apply.
 */
export function preparedQuery<T extends QueryResultRow = Record<string, unknown>>(
  db: Knex,
  query: Knex.QueryBuilder | Knex.Raw,
): Promise<{ rows: T[] }> {
  const { sql, bindings } = query.toSQL();
  return preparedStatement<T>(db, sql, bindings);
}

function isKnex(trx: SqlTransaction): trx is Knex.Transaction {
  return typeof (trx as Partial<OwnStatementsTransaction>).prepared !== 'function';
}

/** Runs `sql` on `connection` as a named prepared statement, emitting knex's 'query' event on `client`. */
export async function runPrepared<T extends QueryResultRow>(
  client: StatementClient,
  connection: PgClient,
  sql: string,
  bindings: readonly unknown[],
): Promise<{ rows: T[] }> {
  const { name, text } = preparedOf(sql);
  assertBound(sql, bindings);
  client.emit('query', { method: 'raw', sql, bindings });
  try {
    return await connection.query<T>({ name: statements.has(sql) ? name : undefined, text, values: bindings as unknown[] });
  } catch (err) {
    if (isStalePlan(err)) {
      generation++;
      statements.clear();
    }
    throw err;
  }
}

/**
 * Refuses an undefined binding before anything is sent, as knex.raw does: pg would send it as
 * NULL, and a missing value would quietly match nothing (or write NULL) instead of failing.
 */
function assertBound(sql: string, bindings: readonly unknown[]): void {
  if (!bindings.includes(undefined)) return; // the hot path's one check
  const missing = bindings.flatMap((value, i) => (value === undefined ? [i + 1] : []));
  if (missing.length > 0)
    throw new Error(
      `undefined binding(s) at position ${missing.join(', ')} of a prepared statement: ${sql.replace(/\s+/g, ' ').slice(0, 120)}`,
    );
}

/** Postgres refusing a prepared statement whose result columns a migration changed. */
function isStalePlan(err: unknown): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type');
}
