/**
 * A request Postgres gave up on because it took too long (the API's statement_timeout, SQLSTATE
 * 57014; idle_in_transaction_session_timeout, 25P03) is answered 503 DatabaseBusy with Retry-After
 * and one WARN line naming the route and the SQLSTATE; every other error is answered as before.
 */
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { DATABASE_RETRY_AFTER_SECONDS, handleError } from '../../src/api/errors';
import { databaseTimeoutOf } from '../../src/db/unavailable';
import { createLogger } from '../../src/logging';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
const statementTimeout = () => withCode('57014', 'select ... for update - canceling statement due to statement timeout');
const idleTimeout = () => withCode('25P03', 'terminating connection due to idle-in-transaction timeout');

test.each<[string, unknown, string | undefined]>([
  ['a statement cancelled by statement_timeout', statementTimeout(), '57014'],
  ['a session ended by idle_in_transaction_session_timeout', idleTimeout(), '25P03'],
  ['a wrapped cause', new Error('report failed', { cause: statementTimeout() }), '57014'],
  ['a unique violation', withCode('23505', 'duplicate key value'), undefined],
  ['a refused connection', withCode('ECONNREFUSED'), undefined],
  ['a plain error', new Error('57014'), undefined],
  ['nothing', undefined, undefined],
])('timed out: %s', (_, err, sqlState) => {
  expect(databaseTimeoutOf(err)).toBe(sqlState);
});

/** An API whose routes throw the given errors, and the lines it logs. */
async function apiThrowing(errors: Record<string, () => Error>) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const app = Fastify({ loggerInstance: createLogger('api', 'WARN', destination) });
  app.setErrorHandler(handleError);
  for (const [name, error] of Object.entries(errors)) {
    app.post(`/devices/:instanceId/${name}`, async () => {
      throw error();
    });
  }
  // Over a real socket: light-my-request's inject does not load under jest.
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = async (name: string) => {
    const response = await fetch(`${base}/devices/i-1/${name}`, { method: 'POST' });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
  };
  return { app, lines, post };
}

test('57014 and 25P03 answer 503 DatabaseBusy with Retry-After and one WARN with the route and SQLSTATE; other errors are unchanged', async () => {
  const { app, lines, post } = await apiThrowing({
    'statement-timeout': statementTimeout,
    'idle-timeout': idleTimeout,
    unreachable: () => withCode('ECONNREFUSED'),
    bug: () => withCode('23505', 'duplicate key value'),
  });
  try {
    const busy = {
      status: 503,
      retryAfter: String(DATABASE_RETRY_AFTER_SECONDS),
      body: {
        error: 'DatabaseBusy',
        message: expect.stringMatching(/^the database did not answer in time; send the same request again in 5 s/),
      },
    };
    expect(await post('statement-timeout')).toEqual(busy);
    expect(await post('idle-timeout')).toEqual(busy);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'database did not answer in time',
        route: '/devices/:instanceId/statement-timeout',
        sqlState: '57014',
      }),
      expect.objectContaining({
        level: 'warn',
        msg: 'database did not answer in time',
        route: '/devices/:instanceId/idle-timeout',
        sqlState: '25P03',
      }),
    ]);

    expect(await post('unreachable')).toEqual({
      status: 503,
      retryAfter: String(DATABASE_RETRY_AFTER_SECONDS),
      body: { error: 'DatabaseUnavailable', message: expect.stringMatching(/^the database cannot be reached right now/) },
    });
    expect(await post('bug')).toEqual({
      status: 500,
      retryAfter: null,
      body: { error: 'InternalError', message: 'something went wrong on our side; it has been logged' },
    });
  } finally {
    await app.close();
  }
});
