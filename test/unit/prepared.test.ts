/**
 * Prepared statements on a transaction's connection (src/db/prepared.ts): knex's `?` bindings
 * numbered for pg, one name per SQL text, knex's 'query' event still emitted, and new names after
 * Postgres refused a cached plan (a migration changed what the statement returns).
 */
import type { Knex } from 'knex';
import { preparedRaw } from '../../src/db/prepared';

interface Sent {
  name?: string;
  text: string;
  values: unknown[];
}

/** A transaction whose one connection records what it is sent and fails when told to. */
function fakeTransaction(fail?: { code: string }): { trx: Knex.Transaction; sent: Sent[]; events: string[] } {
  const sent: Sent[] = [];
  const events: string[] = [];
  const connection = {
    query: (config: Sent) => {
      sent.push(config);
      return fail ? Promise.reject(Object.assign(new Error('refused'), fail)) : Promise.resolve({ rows: [{ ok: 1 }] });
    },
  };
  const client = { acquireConnection: () => Promise.resolve(connection), emit: (_event: string, q: { sql: string }) => events.push(q.sql) };
  return { trx: { client } as unknown as Knex.Transaction, sent, events };
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

test('?? identifiers are refused: a prepared statement takes only values', async () => {
  await expect(preparedRaw(fakeTransaction().trx, 'SELECT ?? FROM t', ['a'])).rejects.toThrow(/plain \? bindings/);
});

test('after Postgres refuses a cached plan (0A000), the statement is prepared again under a new name', async () => {
  const sql = 'SELECT count FROM instance_usage WHERE instance_id = ?';
  const before = fakeTransaction();
  await preparedRaw(before.trx, sql, ['pi-1']);
  const refused = fakeTransaction({ code: '0A000' });
  await expect(preparedRaw(refused.trx, sql, ['pi-1'])).rejects.toThrow('refused');
  const after = fakeTransaction();
  await preparedRaw(after.trx, sql, ['pi-1']);
  expect(refused.sent[0].name).toBe(before.sent[0].name);
  expect(after.sent[0].name).not.toBe(before.sent[0].name);
});
