/**
 * What an order costs Temporal's own Postgres (production shape): transactions, rows written,
 * database growth, and the WAL the whole cluster wrote meanwhile. Read around a window in which
 * only our orders run (the warm-up), after the server's backends have reported their counters.
 */
import type { Db } from '../src/db/knex';

export interface PersistenceSnapshot {
  commits: number;
  rowsWritten: number;
  bytes: number;
  walLsn: string;
}

export interface PersistencePerOrder {
  orders: number;
  /** Committed transactions in Temporal's databases, per order. */
  commits: number;
  /** Rows inserted, updated and deleted in Temporal's databases, per order. */
  rowsWritten: number;
  /** Growth of Temporal's two databases (pg_database_size), kB per order. */
  kB: number;
  /** WAL written by the whole Postgres cluster (the application's database included), kB per order. */
  walKB: number;
}

export async function persistenceSnapshot(db: Db, databases: readonly string[]): Promise<PersistenceSnapshot> {
  const { rows } = await db.raw(
    `SELECT coalesce(sum(xact_commit), 0)::bigint AS commits,
            coalesce(sum(tup_inserted + tup_updated + tup_deleted), 0)::bigint AS rows_written,
            coalesce(sum(pg_database_size(datname)), 0)::bigint AS bytes,
            pg_current_wal_lsn()::text AS wal_lsn
       FROM pg_stat_database WHERE datname = ANY(?)`,
    [databases as string[]],
  );
  const row = rows[0];
  return { commits: Number(row.commits), rowsWritten: Number(row.rows_written), bytes: Number(row.bytes), walLsn: row.wal_lsn };
}

/**
 * Backends report their counters at most once a second while busy and within 10 s once idle
 * (Postgres 15): read until two reads 2 s apart agree, for at most 15 s.
 */
export async function settledPersistenceSnapshot(db: Db, databases: readonly string[]): Promise<PersistenceSnapshot> {
  let last = await persistenceSnapshot(db, databases);
  for (let waited = 0; waited < 15_000; waited += 2_000) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const next = await persistenceSnapshot(db, databases);
    if (next.commits === last.commits && next.rowsWritten === last.rowsWritten) return next;
    last = next;
  }
  return last;
}

export async function persistencePerOrder(
  db: Db,
  before: PersistenceSnapshot,
  after: PersistenceSnapshot,
  orders: number,
): Promise<PersistencePerOrder> {
  const n = Math.max(1, orders);
  const { rows } = await db.raw('SELECT pg_wal_lsn_diff(?::pg_lsn, ?::pg_lsn)::bigint AS wal', [after.walLsn, before.walLsn]);
  return {
    orders,
    commits: (after.commits - before.commits) / n,
    rowsWritten: (after.rowsWritten - before.rowsWritten) / n,
    kB: (after.bytes - before.bytes) / 1024 / n,
    walKB: Number(rows[0].wal) / 1024 / n,
  };
}
