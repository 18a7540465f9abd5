/**
 * preparedQuery (src/db/prepared.ts), which the order path's larger statements run through, on
 * real Postgres: inside a knex transaction it runs on that transaction's connection (rolled back
 * with it, the connection not handed back early); outside one on a pooled connection, released
 * after; the statement shapes the order path uses (named bindings with casts, arrays, a WITH with
 * a ?? identifier) give the rows knex itself gets; Postgres keeps one prepared statement per SQL
 * text on the connection; knex's 'query' event still sees each statement. The booking's
 * assignment pre-check is one of them (issue 16).
 */
import { PlacementRefusal, precheckPlacement } from '../../src/accounts/placement-rules';
import { createDb, type Db } from '../../src/db/knex';
import { preparedQuery } from '../../src/db/prepared';
import { createTestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const table = `prepared_probe_${uniqueSuffix()}`;
let db: Db;

beforeAll(async () => {
  await stack.db.schema.createTable(table, (t) => {
    t.text('tag').notNullable();
    t.integer('n').notNullable();
  });
  // One connection: what a transaction leaves on it, or hands back early, the next statement meets.
  db = createDb(stack.config.databaseUrl, 1);
});

afterAll(async () => {
  await db.schema.dropTableIfExists(table);
  await db.destroy();
});

/** The pool's connections in use and free (tarn's counts): an early release shows as a free one. */
const poolUse = (knex: Db) => {
  const pool = (knex.client as { pool: { numUsed(): number; numFree(): number } }).pool;
  return { used: pool.numUsed(), free: pool.numFree() };
};

const countTagged = async (tag: string) => Number((await stack.db(table).where({ tag }).count<[{ count: string }]>('* as count'))[0].count);

test('inside a transaction it runs on its connection: rolled back with it, the one connection still usable', async () => {
  const failed = db.transaction(async (trx) => {
    await preparedQuery(trx, trx.raw(`INSERT INTO ${table} (tag, n) VALUES (:tag, :n)`, { tag: 'rolled-back', n: 1 }));
    const inside = await preparedQuery<{ count: string }>(trx, trx(table).where({ tag: 'rolled-back' }).count('* as count'));
    expect(inside.rows).toEqual([{ count: '1' }]);
    expect(poolUse(db)).toEqual({ used: 1, free: 0 });
    expect(await countTagged('rolled-back')).toBe(0);
    throw new Error('judged wrong');
  });
  await expect(failed).rejects.toThrow('judged wrong');
  expect(await countTagged('rolled-back')).toBe(0);
  expect((await preparedQuery<{ one: number }>(db, db.raw('SELECT 1 AS one'))).rows).toEqual([{ one: 1 }]);
});

test('outside a transaction it commits on its own, and gives the rows knex.raw gives', async () => {
  const query = (n: number) => db.raw(`INSERT INTO ${table} (tag, n) VALUES (?, ?) RETURNING tag, n`, ['alone', n]);
  const prepared = await preparedQuery<{ tag: string; n: number }>(db, query(1));
  const plain = await query(2);
  expect(prepared.rows).toEqual([{ tag: 'alone', n: 1 }]);
  expect(plain.rows).toEqual([{ tag: 'alone', n: 2 }]);
  expect(await countTagged('alone')).toBe(2);
});

test('named bindings with casts, an array in ANY, a ?? identifier in a WITH: the rows knex itself gets', async () => {
  const raw = () =>
    db.raw(`SELECT :doc::jsonb -> 'a' AS a, 2 = ANY(:list) AS listed, :day::date AS day`, {
      doc: JSON.stringify({ a: [1, 'x'] }),
      list: [1, 2],
      day: '2026-12-07',
    });
  const prepared = await preparedQuery(db, raw());
  expect(prepared.rows).toEqual((await raw()).rows);
  expect(prepared.rows[0]).toMatchObject({ a: [1, 'x'], listed: true });
  const gated = () =>
    db
      .queryBuilder()
      .with('gate', db.raw('SELECT 1 AS one'))
      .select(db.raw('EXISTS (SELECT 1 FROM ??) AS open', ['gate']));
  expect((await preparedQuery(db, gated())).rows).toEqual(await gated());
  expect(poolUse(db)).toEqual({ used: 0, free: 1 });
});

test('Postgres prepares one statement per SQL text on the connection, and reuses it', async () => {
  const read = (tag: string) => preparedQuery(db, db(table).where({ tag }).first('n'));
  for (const tag of ['a', 'b', 'c']) await read(tag);
  const { rows } = await db.raw<{ rows: Array<{ calls: number }> }>(
    `SELECT count(*)::int AS calls FROM pg_prepared_statements WHERE statement ILIKE ?`,
    [`select "n" from "${table}"%`],
  );
  expect(rows).toEqual([{ calls: 1 }]);
});

test("knex's query event sees each statement", async () => {
  const seen: string[] = [];
  const listener = (q: { sql: string }) => seen.push(q.sql);
  db.on('query', listener);
  try {
    await preparedQuery(db, db.raw(`SELECT n FROM ${table} WHERE tag = ?`, ['alone']));
  } finally {
    db.off('query', listener);
  }
  expect(seen).toEqual([`SELECT n FROM ${table} WHERE tag = ?`]);
});

test("the booking's assignment pre-check is prepared once on the connection, and still judges", async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  for (let i = 0; i < 3; i++) {
    const account = await precheckPlacement(db, { kind: 'smart_account', accountId: world.smartAccountId }, world.partnerId);
    expect(account).toMatchObject({ id: world.smartAccountId, kind: 'smart_account' });
  }
  await expect(precheckPlacement(db, { kind: 'smart_account', accountId: `sa-nowhere-${world.suffix}` }, world.partnerId)).rejects.toThrow(
    PlacementRefusal,
  );
  const { rows } = await db.raw<{ rows: Array<{ statements: number }> }>(
    `SELECT count(*)::int AS statements FROM pg_prepared_statements WHERE statement ILIKE ?`,
    ['%FROM role_grants g LEFT JOIN virtual_accounts v%'],
  );
  expect(rows).toEqual([{ statements: 1 }]);
});
