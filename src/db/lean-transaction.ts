import type { Knex } from 'knex';
import type { Client as PgClient, QueryResultRow } from 'pg';
import { runPrepared, type OwnStatementsTransaction, type StatementClient } from './prepared';

// knex's own constructor of a knex instance over a client (what its transactions use); untyped.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const makeKnex = require('knex/lib/knex-builder/make-knex') as (client: unknown) => Knex;

/**
 * A transaction driven straight on one pooled pg connection (BEGIN, prepared statements, COMMIT),
 * for the hottest path, a batch of usage reports (issue 15). knex's own transaction builds a knex
 * instance, a client and their promises for each one: a loop of trivial transactions ran 4,669 a
 * second through it against 16,068 on a bare connection, most of the difference garbage. Rare
 * steps written with knex's builder still run inside it, through `knex()`.
 */
export class LeanTransaction implements OwnStatementsTransaction {
  private bound?: Knex.Transaction;

  constructor(
    private readonly db: Knex,
    private readonly connection: PgClient,
  ) {}

  /** `sql` with its `?` bindings as a statement prepared once per connection (src/db/prepared.ts). */
  prepared<T extends QueryResultRow = Record<string, unknown>>(sql: string, bindings: readonly unknown[]): Promise<{ rows: T[] }> {
    return runPrepared<T>(this.db.client as StatementClient, this.connection, sql, bindings);
  }

  /**
   * A knex whose every query runs on this transaction's connection (made on first use): a client
   * inheriting the pool's (its 'query' listeners too) that hands out this connection and never
   * releases it, as knex's own transaction client does.
   */
  knex(): Knex.Transaction {
    if (!this.bound) {
      const client = Object.create(this.db.client as object) as StatementClient & { transacting: boolean };
      client.acquireConnection = () => Promise.resolve(this.connection);
      client.releaseConnection = () => Promise.resolve();
      client.transacting = true;
      this.bound = makeKnex(client) as Knex.Transaction;
    }
    return this.bound;
  }
}

/**
 * Runs `work` in a LeanTransaction: committed when it resolves, rolled back when it throws (the
 * error rethrown). A connection the rollback cannot reach is marked broken, so the pool destroys
 * it instead of handing it out again.
 */
export async function inLeanTransaction<T>(db: Knex, work: (tx: LeanTransaction) => Promise<T>): Promise<T> {
  const client = db.client as StatementClient;
  const connection = await client.acquireConnection();
  // Each a round trip, and told to knex's 'query' listeners as its own transactions' are.
  const control = (sql: 'BEGIN' | 'COMMIT' | 'ROLLBACK') => {
    client.emit('query', { method: 'raw', sql, bindings: [] });
    return connection.query(sql);
  };
  try {
    await control('BEGIN');
    let result: T;
    try {
      result = await work(new LeanTransaction(db, connection));
    } catch (err) {
      await control('ROLLBACK').catch((rollbackErr: unknown) => markBroken(connection, rollbackErr));
      throw err;
    }
    await control('COMMIT');
    return result;
  } finally {
    await client.releaseConnection(connection);
  }
}

/** knex's pg client validates a connection on acquire by this mark (set too when pg reports an error on it). */
function markBroken(connection: PgClient, err: unknown): void {
  (connection as PgClient & { __knex__disposed?: unknown }).__knex__disposed ??= err;
}
