/**
 * Which errors mean "Postgres cannot be reached right now" (answered 503 with Retry-After by the
 * API, src/api/errors.ts), and how the device client reads a Retry-After header.
 */
import { isDatabaseUnavailable } from '../../src/db/unavailable';
import { retryAfterMsOf } from '../../src/device-client/client';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test.each<[string, unknown]>([
  ['a refused connection', withCode('ECONNREFUSED')],
  ['a refused localhost connection (one error per address)', Object.assign(new AggregateError([withCode('ECONNREFUSED')]), {})],
  ['the server shutting down (57P01)', withCode('57P01', 'terminating connection due to administrator command')],
  ['the server starting (57P03)', withCode('57P03', 'the database system is starting up')],
  ['a connection exception (08006)', withCode('08006')],
  ['a connection cut mid-query', new Error('Connection terminated unexpectedly')],
  // Found by the postgres-stop fault run: knex names the statement that failed first.
  ['a connection cut at the rollback', new Error('ROLLBACK - Connection terminated unexpectedly')],
  ['a client broken earlier', new Error('ROLLBACK - Client has encountered a connection error and is not queryable')],
  [
    'no pool connection to be had',
    Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }),
  ],
  ['a wrapped cause', new Error('query failed', { cause: withCode('ECONNRESET') })],
])('unavailable: %s', (_, err) => {
  expect(isDatabaseUnavailable(err)).toBe(true);
});

test.each<[string, unknown]>([
  ['a unique violation', withCode('23505', 'duplicate key value')],
  ['a syntax error', withCode('42601')],
  ['a plain error', new Error('something else')],
  ['not an error', 'ECONNREFUSED'],
  ['nothing', undefined],
])('not unavailable: %s', (_, err) => {
  expect(isDatabaseUnavailable(err)).toBe(false);
});

test('Retry-After: seconds or an HTTP date, in ms; absent or unreadable is undefined', () => {
  expect(retryAfterMsOf('5')).toBe(5_000);
  expect(retryAfterMsOf(new Date(61_000).toUTCString(), 1_000)).toBe(60_000);
  expect(retryAfterMsOf(null)).toBeUndefined();
  expect(retryAfterMsOf('soon')).toBeUndefined();
});
