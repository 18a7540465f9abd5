import type { Knex } from 'knex';
import type { QueryResultRow } from 'pg';
import { preparedRaw, type SqlTransaction } from './prepared';

/** One write (the body of a CTE) and its `?` bindings; named when a later part reads what it returns. */
export interface WritePart {
  name?: string;
  sql: string;
  bindings: readonly Knex.RawBinding[];
}

/** A knex query as a WritePart, so a write built with knex can join a batch. */
export function writePartOf(query: Knex.QueryBuilder): WritePart {
  const { sql, bindings } = query.toSQL();
  return { sql, bindings };
}

/**
 * Writes gathered to run as ONE statement of data-modifying CTEs: one round trip instead of one
 * each, on hot paths. Every part sees the snapshot the statement starts with and none sees
 * another's effect, so the parts must write distinct rows and read nothing another part writes.
 */
export class StatementBatch {
  private readonly parts: WritePart[] = [];

  add(...parts: WritePart[]): void {
    this.parts.push(...parts);
  }

  /** Runs the gathered writes (and empties the batch), then `last`, whose rows are returned. */
  async run<T = Record<string, unknown>>(q: Knex | Knex.Transaction, last?: WritePart): Promise<T[]> {
    const statement = this.take(last);
    if (!statement) return [];
    const { rows }: { rows: T[] } = await q.raw(statement.sql, statement.bindings);
    return rows;
  }

  /** As `run`, as a prepared statement on the transaction's connection (src/db/prepared.ts): for the hottest paths. */
  async runPrepared<T extends QueryResultRow = Record<string, unknown>>(trx: SqlTransaction, last?: WritePart): Promise<T[]> {
    const statement = this.take(last);
    if (!statement) return [];
    return (await preparedRaw<T>(trx, statement.sql, statement.bindings)).rows;
  }

  /** The gathered writes and `last` as one statement (the batch emptied); undefined when there is nothing to run. */
  private take(last: WritePart | undefined): WritePart | undefined {
    const parts = this.parts.splice(0);
    if (parts.length === 0 && !last) return undefined;
    const ctes = parts.map((part, i) => `${part.name ?? `w${i}`} AS (${part.sql})`);
    const sql = `${ctes.length > 0 ? `WITH ${ctes.join(', ')} ` : ''}${last ? last.sql : 'SELECT 1'}`;
    return { sql, bindings: [...parts.flatMap((part) => part.bindings), ...(last?.bindings ?? [])] };
  }
}
