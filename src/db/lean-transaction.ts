import type { Knex } from 'knex';
import type { Client as PgClient, QueryResultRow } from 'pg';
import { runPrepared, type OwnStatementsTransaction, type StatementClient } from './prepared';

// knex's own constructor of a knex instance over a client (what its transactions use); untyped.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const makeKnex = require('knex/lib/knex-builder/make-knex') as (client: unknown) => Knex;

/** What the bound client uses of knex's (untyped) client: its fields, and its events. */
interface KnexClient extends StatementClient {
  constructor: { prototype: object };
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  emit(event: string, ...args: unknown[]): boolean;
  [field: string]: unknown;
}

/** The events knex's runner emits on a client; the bound client passes them on to the pool's. */
const FORWARDED_EVENTS = ['start', 'query', 'query-error', 'query-response'];

/**
 * A transaction driven straight on one pooled pg connection (BEGIN, prepared statements, COMMIT),
 * for the hottest path, a batch of usage reports (issue 15). knex's own transaction builds a knex
 * instance, a client and their promises for each one: a loop of trivial transactions ran 1,802-2,073
 * a second through it against 2,469-2,749 on a bare connection (bench/findings.md). Rare steps
 * written with knex's builder still run inside it, through `knex()`.
 */
export class LeanTransaction implements OwnStatementsTransaction {
  private bound?: Knex.Transaction;
  private over = false;

  constructor(
    private readonly db: Knex,
    private readonly connection: PgClient,
  ) {}

  /** `sql` with its `?` bindings as a statement prepared once per connection (src/db/prepared.ts). */
  prepared<T extends QueryResultRow = Record<string, unknown>>(sql: string, bindings: readonly unknown[]): Promise<{ rows: T[] }> {
    if (this.over) return Promise.reject(overError());
    return runPrepared<T>(this.db.client as StatementClient, this.connection, sql, bindings);
  }

  /**
   * A knex whose every query runs on this transaction's connection (made on first use), over a
   * client of its own built as knex's transactions build theirs: the pool's settings, its own
   * listeners (makeKnex adds some) passing the events on to the pool's client, this connection
   * handed out and never released, and nothing run once the transaction is over.
   */
  knex(): Knex.Transaction {
    if (!this.bound) {
      const parent = this.db.client as KnexClient;
      const client = Object.create(parent.constructor.prototype) as KnexClient;
      for (const field of ['version', 'config', 'driver', 'connectionSettings', 'valueForUndefined', 'logger', 'searchPath']) {
        client[field] = parent[field];
      }
      client.transacting = true;
      for (const event of FORWARDED_EVENTS) client.on(event, (...args) => parent.emit(event, ...args));
      client.acquireConnection = () => (this.over ? Promise.reject(overError()) : Promise.resolve(this.connection));
      client.releaseConnection = () => Promise.resolve();
      this.bound = makeKnex(client) as Knex.Transaction;
    }
    return this.bound;
  }

  /** Called once COMMIT or ROLLBACK has been sent: the connection may belong to someone else next. */
  end(): void {
    this.over = true;
  }
}

function overError(): Error {
  return new Error('the lean transaction is over: its connection went back to the pool');
}

/**
 * Runs `work` in a LeanTransaction: committed when it resolves, rolled back when it throws (the
 * error rethrown). A connection whose ROLLBACK or COMMIT failed is marked broken and closed, so the
 * pool destroys it (and Postgres drops its locks) instead of handing it out again.
 */
export async function inLeanTransaction<T>(db: Knex, work: (tx: LeanTransaction) => Promise<T>): Promise<T> {
  const client = db.client as StatementClient;
  const connection = await client.acquireConnection();
  // Each a round trip, told to knex's 'query' listeners as its own transactions' are; async, so a
  // throwing listener is a rejection here, never a COMMIT or ROLLBACK skipped.
  const control = async (sql: 'BEGIN' | 'COMMIT' | 'ROLLBACK') => {
    client.emit('query', { method: 'raw', sql, bindings: [] });
    await connection.query(sql);
  };
  const tx = new LeanTransaction(db, connection);
  try {
    await control('BEGIN');
    let result: T;
    try {
      result = await work(tx);
    } catch (err) {
      tx.end();
      await control('ROLLBACK').catch((rollbackErr: unknown) => discard(connection, rollbackErr));
      throw err;
    }
    tx.end();
    // A COMMIT that failed, or was never sent, leaves the connection's state unknown: not reused.
    await control('COMMIT').catch((commitErr: unknown) => {
      discard(connection, commitErr);
      throw commitErr;
    });
    return result;
  } finally {
    tx.end();
    await client.releaseConnection(connection);
  }
}

/** knex's pg client validates a connection on acquire by this mark (set too when pg reports an error on it); ending it drops its locks now. */
function discard(connection: PgClient, err: unknown): void {
  (connection as PgClient & { __knex__disposed?: unknown }).__knex__disposed ??= err;
  connection.end().catch(() => undefined);
}
