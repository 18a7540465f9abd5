import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { actorShownSql, recordLicenseEvent } from './events';

/**
 * Registration tokens (R15): created in a virtual account, presented once by each product instance
 * that registers there. `lrt_` + 256 random bits, shown once; only the SHA-256 is stored, so a
 * lookup is an index probe and a database dump reveals no usable token. No PAK anywhere.
 */

export const TOKEN_PATTERN = /^lrt_[A-Za-z0-9_-]{43}$/;
export const MAX_TOKEN_USES = 1_000_000;

/**
 * A token's uses are counted in up to this many slots (registration_token_slots), so registrations
 * of one token at once each spend in a slot of their own instead of queueing on one row.
 */
export const TOKEN_SLOTS = 16;

/**
 * The slots of a token of `maxUses`: their capacities add up to exactly `maxUses` (each at least 1),
 * and `uses` already spent fill them in order (fixtures and the migration of older tokens).
 */
export function tokenSlotRows(
  tokenId: string,
  maxUses: number,
  uses = 0,
): Array<{ token_id: string; slot: number; capacity: number; uses: number }> {
  const slots = Math.min(maxUses, TOKEN_SLOTS);
  let left = uses;
  return Array.from({ length: slots }, (_, slot) => {
    const capacity = Math.floor(maxUses / slots) + (slot < maxUses % slots ? 1 : 0);
    const spent = Math.min(capacity, left);
    left -= spent;
    return { token_id: tokenId, slot, capacity, uses: spent };
  });
}

/** A token's uses so far, the sum of its slots: a column expression over registration_tokens aliased `t`. */
export const TOKEN_USES_SQL = '(SELECT COALESCE(sum(s.uses), 0)::int FROM registration_token_slots s WHERE s.token_id = t.id)';

export function hashRegistrationToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export type TokenStatus = 'active' | 'expired' | 'revoked' | 'used_up';

/**
 * A registration token as every listing shows it (never the token or its hash): the API's
 * registration-tokens routes, the complete view's tokens route, its page and the CLI.
 */
export interface TokenView {
  tokenId: string;
  virtualAccountPath: string;
  description: string;
  exportControlled: boolean;
  maxUses: number;
  uses: number;
  status: TokenStatus;
  expiresAt: string;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

export interface TokenRow {
  id: string;
  account_id: string;
  virtual_account_id: string;
  path: string;
  description: string;
  export_controlled: boolean;
  max_uses: number;
  uses: number;
  expires_at: Date;
  created_at: Date;
  created_by: string;
  revoked_at: Date | null;
}

/** Why a token cannot register anything now, or undefined while it can. */
export function tokenStatus(row: Pick<TokenRow, 'revoked_at' | 'expires_at' | 'uses' | 'max_uses'>, now = new Date()): TokenStatus {
  if (row.revoked_at) return 'revoked';
  if (row.expires_at.getTime() <= now.getTime()) return 'expired';
  if (row.uses >= row.max_uses) return 'used_up';
  return 'active';
}

export function tokenViewOf(row: TokenRow): TokenView {
  return {
    tokenId: String(row.id),
    virtualAccountPath: row.path,
    description: row.description,
    exportControlled: row.export_controlled,
    maxUses: row.max_uses,
    uses: row.uses,
    status: tokenStatus(row),
    expiresAt: row.expires_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
  };
}

function tokenColumns(q: Knex) {
  return [
    't.id',
    't.account_id',
    't.virtual_account_id',
    'va.path',
    't.description',
    't.export_controlled',
    't.max_uses',
    q.raw(`${TOKEN_USES_SQL} AS uses`),
    't.expires_at',
    't.created_at',
    q.raw(`${actorShownSql('t.created_by')} AS created_by`),
    't.revoked_at',
  ];
}

function tokensQuery(q: Knex) {
  return q('registration_tokens as t').join('virtual_accounts as va', 'va.id', 't.virtual_account_id');
}

export interface NewToken {
  expiresInDays: number;
  maxUses: number;
  description: string;
  exportControlled: boolean;
}

/** Creates a token in the VA; the token itself is returned once, here, and never again. */
export async function createRegistrationToken(
  db: Knex,
  target: { accountId: string; virtualAccountId: string },
  input: NewToken,
  actor: string,
): Promise<{ token: string; view: TokenView }> {
  const token = `lrt_${randomBytes(32).toString('base64url')}`;
  return db.transaction(async (trx) => {
    const [row]: Array<{ id: string }> = await trx('registration_tokens')
      .insert({
        token_hash: hashRegistrationToken(token),
        account_id: target.accountId,
        virtual_account_id: target.virtualAccountId,
        description: input.description,
        export_controlled: input.exportControlled,
        max_uses: input.maxUses,
        expires_at: trx.raw(`now() + make_interval(days => ?)`, [input.expiresInDays]),
        created_by: actor,
      })
      .returning('id');
    await trx('registration_token_slots').insert(tokenSlotRows(String(row.id), input.maxUses));
    const view = await loadToken(trx, target.accountId, String(row.id));
    await recordLicenseEvent(trx, {
      accountId: target.accountId,
      virtualAccountId: target.virtualAccountId,
      type: 'token_created',
      subject: `token:${row.id}`,
      actor,
      details: { maxUses: input.maxUses, expiresAt: view!.expiresAt, exportControlled: input.exportControlled },
    });
    return { token, view: view! };
  });
}

export async function loadToken(q: Knex, accountId: string, tokenId: string): Promise<TokenView | undefined> {
  const row: TokenRow | undefined = await tokensQuery(q)
    .where({ 't.account_id': accountId, 't.id': tokenId })
    .first(...tokenColumns(q));
  return row ? tokenViewOf(row) : undefined;
}

/** The most tokens one listing holds. */
export const TOKEN_LIST_MAX = 1000;

/**
 * The account's tokens in the given VAs, newest first: the one query behind every token listing
 * (the registration-tokens route passes the VAs the caller may use, the complete view the ones it may see).
 */
export async function listRegistrationTokens(q: Knex, accountId: string, virtualAccountIds: string[]): Promise<TokenView[]> {
  const rows: TokenRow[] = await tokensQuery(q)
    .where('t.account_id', accountId)
    .whereIn('t.virtual_account_id', virtualAccountIds)
    .orderBy('t.id', 'desc')
    .limit(TOKEN_LIST_MAX)
    .select(...tokenColumns(q));
  return rows.map(tokenViewOf);
}

/** Revokes a token (idempotent): what it registered stays registered, nothing new registers with it. */
export async function revokeRegistrationToken(db: Knex, accountId: string, tokenId: string, actor: string): Promise<TokenView | undefined> {
  return db.transaction(async (trx) => {
    const revoked: Array<{ virtual_account_id: string }> = await trx('registration_tokens')
      .where({ account_id: accountId, id: tokenId })
      .whereNull('revoked_at')
      .update({ revoked_at: trx.fn.now() })
      .returning('virtual_account_id');
    if (revoked.length > 0) {
      await recordLicenseEvent(trx, {
        accountId,
        virtualAccountId: String(revoked[0].virtual_account_id),
        type: 'token_revoked',
        subject: `token:${tokenId}`,
        actor,
      });
    }
    return loadToken(trx, accountId, tokenId);
  });
}
