import type { Db } from '../../src/db/knex';
import { TOKEN_USES_SQL } from '../../src/licensing/tokens';

/** The uses of the tokens matching `where` (columns of registration_tokens), by token ID: the sum of each one's slots. */
export async function tokenUses(db: Db, where: Record<string, unknown>): Promise<number[]> {
  const rows: Array<{ uses: number }> = await db('registration_tokens as t')
    .where(Object.fromEntries(Object.entries(where).map(([k, v]) => [`t.${k}`, v])))
    .orderBy('t.id')
    .select(db.raw(`${TOKEN_USES_SQL} AS uses`));
  return rows.map((r) => r.uses);
}
