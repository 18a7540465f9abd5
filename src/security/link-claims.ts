import type { Knex } from 'knex';
import { hashToken, isWellFormedToken } from './tokens';

/** Why a link cannot be used. */
export type LinkProblem = 'unknown' | 'used' | 'expired';

export type LinkPurpose = 'delegation' | 'activation' | 'sign_in' | 'verify_email';

/**
 * Uses up one emailed link (delegation, activation, sign-in, verify) in ONE statement:
 * `UPDATE access_tokens SET used_at = now() WHERE token_hash = ? AND purpose = ? AND used_at IS
 * NULL AND expires_at > now() RETURNING …`. Two concurrent claims of one link: Postgres lets the
 * second UPDATE wait for the first's row lock, then re-checks `used_at IS NULL` and matches
 * nothing, so exactly one wins. Run it before any effect, or first in the effect's transaction
 * (a refusal later in that transaction rolls the claim back and the link stays usable).
 *
 * `scope` narrows the row further (the order a delegation link belongs to). On a refusal a second
 * read says why (unknown, used, expired); it changes nothing.
 */
export async function claimLink<Row extends object>(
  q: Knex | Knex.Transaction,
  purpose: LinkPurpose,
  token: string | Buffer,
  columns: readonly (keyof Row & string)[],
  scope: Record<string, string | number> = {},
): Promise<Row | LinkProblem> {
  if (typeof token === 'string' && !isWellFormedToken(token)) return 'unknown';
  const tokenHash = typeof token === 'string' ? hashToken(token) : token;
  const where = { token_hash: tokenHash, purpose, ...scope };
  const claimed: unknown[] = await q('access_tokens')
    .where(where)
    .whereNull('used_at')
    .where('expires_at', '>', q.fn.now())
    .update({ used_at: q.fn.now() })
    .returning([...columns]);
  if (claimed.length > 0) return claimed[0] as Row;
  const seen = await q('access_tokens').where(where).first<{ used_at: Date | null } | undefined>('used_at');
  return !seen ? 'unknown' : seen.used_at ? 'used' : 'expired';
}

export function isLinkProblem(value: unknown): value is LinkProblem {
  return value === 'unknown' || value === 'used' || value === 'expired';
}
