/**
 * The lean transaction of the usage-report batch (src/db/lean-transaction.ts) on real Postgres:
 * its prepared statements and the statements built with knex() are one transaction, committed
 * together or rolled back together; knex's 'query' event sees both; a connection killed inside it
 * is not handed out again.
 */
import { createDb, type Db } from '../../src/db/knex';
import { inLeanTransaction } from '../../src/db/lean-transaction';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const table = `lean_tx_probe_${uniqueSuffix()}`;
let db: Db;

beforeAll(async () => {
  await stack.db.schema.createTable(table, (t) => {
    t.text('tag').notNullable();
    t.text('written_by').notNullable();
  });
  // One connection: whatever a transaction leaves on it, the next one meets.
  db = createDb(stack.config.databaseUrl, 1);
});

afterAll(async () => {
  await db.schema.dropTableIfExists(table);
  await db.destroy();
});

const rowsTagged = async (tag: string) =>
  (await stack.db(table).where({ tag }).orderBy('written_by')).map((r: { written_by: string }) => r.written_by);

test('prepared statements and knex() run in one transaction: unseen by others until the commit, then all there', async () => {
  const seenInside = await inLeanTransaction(db, async (tx) => {
    await tx.prepared(`INSERT INTO ${table} (tag, written_by) VALUES (?, ?)`, ['commit', 'prepared']);
    await tx.knex()(table).insert({ tag: 'commit', written_by: 'knex' });
    const own = await tx.prepared<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE tag = ?`, ['commit']);
    return { own: Number(own.rows[0].n), others: await rowsTagged('commit') };
  });
  expect(seenInside).toEqual({ own: 2, others: [] });
  expect(await rowsTagged('commit')).toEqual(['knex', 'prepared']);
});

test('a throw rolls back both kinds of statement, rethrows, and leaves the connection usable', async () => {
  const failed = inLeanTransaction(db, async (tx) => {
    await tx.prepared(`INSERT INTO ${table} (tag, written_by) VALUES (?, ?)`, ['rollback', 'prepared']);
    await tx.knex()(table).insert({ tag: 'rollback', written_by: 'knex' });
    throw new Error('judged wrong');
  });
  await expect(failed).rejects.toThrow('judged wrong');
  expect(await rowsTagged('rollback')).toEqual([]);
  // The pool's one connection is back, outside any transaction.
  expect((await db.raw('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
});

test("knex's query event sees BEGIN, the prepared statements, the knex() ones and COMMIT", async () => {
  const seen: string[] = [];
  const listener = (q: { sql: string }) => seen.push(q.sql);
  db.on('query', listener);
  try {
    await inLeanTransaction(db, async (tx) => {
      await tx.prepared(`SELECT tag FROM ${table} WHERE tag = ?`, ['none']);
      await tx.knex()(table).where({ tag: 'none' }).select('tag');
    });
  } finally {
    db.off('query', listener);
  }
  expect(seen).toEqual([
    'BEGIN',
    `SELECT tag FROM ${table} WHERE tag = ?`,
    db(table).where({ tag: 'none' }).select('tag').toSQL().toNative().sql,
    'COMMIT',
  ]);
});

test('a connection killed inside the transaction fails it and is replaced, not handed out again', async () => {
  const failed = inLeanTransaction(db, async (tx) => {
    await tx.prepared(`INSERT INTO ${table} (tag, written_by) VALUES (?, ?)`, ['killed', 'prepared']);
    const { rows } = await tx.prepared<{ pid: number }>('SELECT pg_backend_pid() AS pid', []);
    await stack.db.raw('SELECT pg_terminate_backend(?)', [rows[0].pid]);
    await tx.prepared('SELECT 1', []);
  });
  await expect(failed).rejects.toThrow();
  expect(await rowsTagged('killed')).toEqual([]);
  await inLeanTransaction(db, (tx) => tx.prepared(`INSERT INTO ${table} (tag, written_by) VALUES (?, ?)`, ['after', 'prepared']));
  expect(await rowsTagged('after')).toEqual(['prepared']);
});

test("knex() adds no listener to the pool's client (each transaction's own client forwards to it)", async () => {
  const before = ['start', 'query', 'query-error', 'query-response'].map((e) => db.client.listenerCount(e));
  for (let i = 0; i < 3; i++) await inLeanTransaction(db, async (tx) => tx.knex()(table).where({ tag: 'none' }).select('tag'));
  expect(['start', 'query', 'query-error', 'query-response'].map((e) => db.client.listenerCount(e))).toEqual(before);
});

test('a handle kept past the end of its transaction runs nothing', async () => {
  const kept = await inLeanTransaction(db, async (tx) => tx);
  await expect(kept.prepared('SELECT 1', [])).rejects.toThrow(/lean transaction is over/);
  await expect(kept.knex()(table).select('tag')).rejects.toThrow(/lean transaction is over/);
});

test('a COMMIT never sent (a query listener threw) commits nothing, and the connection is not handed out again', async () => {
  const throwAtCommit = (q: { sql: string }) => {
    if (q.sql === 'COMMIT') throw new Error('listener failed');
  };
  db.on('query', throwAtCommit);
  try {
    const failed = inLeanTransaction(db, (tx) =>
      tx.prepared(`INSERT INTO ${table} (tag, written_by) VALUES (?, ?)`, ['uncommitted', 'prepared']),
    );
    await expect(failed).rejects.toThrow('listener failed');
  } finally {
    db.off('query', throwAtCommit);
  }
  // The next transaction is not inside the old one: what it writes is all that is there.
  await inLeanTransaction(db, (tx) => tx.prepared(`INSERT INTO ${table} (tag, written_by) VALUES (?, ?)`, ['uncommitted', 'next']));
  expect(await rowsTagged('uncommitted')).toEqual(['next']);
});
