/**
 * Whether an error means Postgres cannot be reached right now (stopped, restarting, the
 * connection cut, no connection to be had) rather than that the request was wrong: such a
 * request is worth repeating as it was, once the database is back.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** SQLSTATE class 08 (connection exception) and 57P01-57P03 (the server shutting down or starting). */
const SERVER_GOING_AWAY = /^(08...|57P0[123])$/;
/** Knex prefixes the statement that failed ("ROLLBACK - Connection terminated unexpectedly"). */
const CUT_CONNECTION =
  /^(?:[A-Z]+ - )?(Connection terminated|Client has encountered a connection error|Knex: Timeout acquiring a connection)/;

export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || SERVER_GOING_AWAY.test(e.code))) return true;
  if (e.name === 'KnexTimeoutError') return true;
  if (typeof e.message === 'string' && CUT_CONNECTION.test(e.message)) return true;
  // Node reports a refused localhost connection as an AggregateError of one error per address.
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}

/** 57014: a statement cancelled by statement_timeout; 25P03: a session ended by idle_in_transaction_session_timeout. */
const TIMED_OUT = new Set(['57014', '25P03']);

/**
 * The SQLSTATE when Postgres gave up on the request because it took too long (a lock wait, a
 * stuck transaction; the API's session timeouts), else undefined. The transaction rolled back,
 * so the same request is worth sending again.
 */
export function databaseTimeoutOf(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 3) return undefined;
  const e = err as { code?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && TIMED_OUT.has(e.code)) return e.code;
  return databaseTimeoutOf(e.cause, depth + 1);
}
