/**
 * Prepared statements on a transaction's connection (src/db/prepared.ts): knex's `?` bindings
 * numbered for pg, one name per SQL text, knex's 'query' event still emitted, and new names after
 * Postgres refused a cached plan (a migration changed what the statement returns).
 */
import type { Knex } from 'knex';
import { preparedRaw, preparedStatement } from '../../src/db/prepared';

interface Sent {
  name?: string;
  text: string;
  values: unknown[];
}

const STALE_PLAN = { code: '0A000', message: 'cached plan must not change result type' };

/**
 * A transaction (or, with `pool`, a knex over a pool) whose one connection records what it is
 * sent and fails the first `failures` statements with `fail`.
 */
function fakeTransaction(
  fail?: { code: string; message?: string },
  { failures = Infinity, pool = false, completed = false } = {},
): { trx: Knex.Transaction; sent: Sent[]; events: string[]; released: () => number } {
  const sent: Sent[] = [];
  const events: string[] = [];
  let released = 0;
  const connection = {
    query: (config: Sent) => {
      sent.push(config);
      if (fail && sent.length <= failures) return Promise.reject(Object.assign(new Error(fail.message ?? 'refused'), { code: fail.code }));
      return Promise.resolve({ rows: [{ ok: 1 }] });
    },
  };
  const client = {
    acquireConnection: () => Promise.resolve(connection),
    releaseConnection: () => Promise.resolve(released++),
    emit: (_event: string, q: { sql: string }) => events.push(q.sql),
  };
  const trx = pool ? { client } : { client: { ...client, transacting: true }, isTransaction: true, isCompleted: () => completed };
  return { trx: trx as unknown as Knex.Transaction, sent, events, released: () => released };
}

test('the ? bindings become $1, $2 ...; the same SQL keeps its name; the query event carries the SQL as written', async () => {
  const { trx, sent, events } = fakeTransaction();
  const sql = 'SELECT * FROM t WHERE a = ANY(?::text[]) AND b = ?';
  expect((await preparedRaw(trx, sql, [['x'], 2])).rows).toEqual([{ ok: 1 }]);
  await preparedRaw(trx, sql, [['y'], 3]);
  await preparedRaw(trx, 'SELECT ?', [1]);
  expect(sent[0]).toMatchObject({ text: 'SELECT * FROM t WHERE a = ANY($1::text[]) AND b = $2', values: [['x'], 2] });
  expect(sent[1].name).toBe(sent[0].name);
  expect(sent[2].name).not.toBe(sent[0].name);
  expect(events).toEqual([sql, sql, 'SELECT ?']);
});

test('an undefined binding is refused before anything is sent (pg would send NULL), in and out of a transaction', async () => {
  for (const fake of [fakeTransaction(), fakeTransaction(undefined, { pool: true })]) {
    await expect(preparedRaw(fake.trx, 'SELECT * FROM t WHERE a = ? AND b = ?', ['x', undefined])).rejects.toThrow(
      /undefined binding\(s\) at position 2 of a prepared statement: SELECT \* FROM t WHERE a = \? AND b = \?/,
    );
    expect(fake.sent).toEqual([]);
    expect(fake.events).toEqual([]);
  }
  const fake = fakeTransaction();
  await preparedRaw(fake.trx, 'SELECT ?::text', [null]);
  expect(fake.sent[0].values).toEqual([null]);
});

test('?? identifiers are refused: a prepared statement takes only values', async () => {
  await expect(preparedRaw(fakeTransaction().trx, 'SELECT ?? FROM t', ['a'])).rejects.toThrow(/plain \? bindings/);
});

test('after Postgres refuses a cached plan (0A000), the statement is prepared again under a new name', async () => {
  const sql = 'SELECT count FROM instance_usage WHERE instance_id = ?';
  const before = fakeTransaction();
  await preparedRaw(before.trx, sql, ['pi-1']);
  const refused = fakeTransaction(STALE_PLAN);
  await expect(preparedRaw(refused.trx, sql, ['pi-1'])).rejects.toThrow(STALE_PLAN.message);
  const after = fakeTransaction();
  await preparedRaw(after.trx, sql, ['pi-1']);
  expect(refused.sent[0].name).toBe(before.sent[0].name);
  expect(after.sent[0].name).not.toBe(before.sent[0].name);
});

test('another "feature not supported" (0A000) keeps the names: only a stale plan renames', async () => {
  const sql = 'SELECT count FROM instance_usage WHERE sku = ?';
  const before = fakeTransaction();
  await preparedRaw(before.trx, sql, ['S']);
  await expect(
    preparedRaw(fakeTransaction({ code: '0A000', message: 'FOR UPDATE is not allowed with GROUP BY' }).trx, sql, ['S']),
  ).rejects.toThrow();
  const after = fakeTransaction();
  await preparedRaw(after.trx, sql, ['S']);
  expect(after.sent[0].name).toBe(before.sent[0].name);
});

test('a statement alone (no transaction) refused for a stale plan runs again at once under its new name', async () => {
  const sql = 'SELECT id FROM orders WHERE id = ?';
  const alone = fakeTransaction(STALE_PLAN, { failures: 1, pool: true });
  const db = alone.trx as unknown as Knex;
  expect((await preparedStatement(db, sql, ['o-1'])).rows).toEqual([{ ok: 1 }]);
  expect(alone.sent).toHaveLength(2);
  expect(alone.sent[1].name).not.toBe(alone.sent[0].name);
  expect(alone.released()).toBe(1);
});

test('in a transaction a stale plan is not retried (the transaction is aborted): the caller gets the error', async () => {
  const inTrx = fakeTransaction(STALE_PLAN, { failures: 1 });
  await expect(preparedStatement(inTrx.trx, 'SELECT id FROM orders WHERE external_reference = ?', ['r'])).rejects.toThrow(
    STALE_PLAN.message,
  );
  expect(inTrx.sent).toHaveLength(1);
});

test('a knex transaction that has ended is refused before any connection is asked for', async () => {
  const ended = fakeTransaction(undefined, { completed: true });
  await expect(preparedStatement(ended.trx, 'SELECT 1', [])).rejects.toThrow(/after its transaction ended/);
  await expect(preparedRaw(ended.trx, 'SELECT 1', [])).rejects.toThrow(/after its transaction ended/);
  expect(ended.sent).toHaveLength(0);
});
