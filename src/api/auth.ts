import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/knex';
import type { ApiKeyRow, PartnerRow } from '../db/rows';

/**
 * API keys. Every caller of the API is a partner, a distributor or an operator, and holds a key
 * of its own: `lfk_` followed by 256 random bits. Only the SHA-256 of a key is stored, so a
 * database dump reveals no usable key; the key itself is shown once, when it is created.
 */

export type Principal =
  | { role: 'operator'; keyId: string }
  | { role: 'partner' | 'distributor'; keyId: string; partnerId: string }
  /** A key a customer's user minted for their scripts: exactly that user's roles (R24), never a partner's. */
  | { role: 'user'; keyId: string; userId: string };

/** Keys an operator issues; a user's own key is made by createUserApiKey. */
export type ApiKeyRole = 'partner' | 'distributor' | 'operator';
export const API_KEY_ROLES: readonly ApiKeyRole[] = ['partner', 'distributor', 'operator'];

const API_KEY_PATTERN = /^lfk_[A-Za-z0-9_-]{43}$/;

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export class ApiKeyError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'ApiKeyError';
  }
}

/**
 * Creates a key and returns it in clear, once. A partner or distributor key is bound to that
 * partner, and the partner's kind must match: a distributor key acts for resellers (R10).
 */
export async function createApiKey(
  db: Db,
  request: { role: ApiKeyRole; partnerId?: string; label: string },
): Promise<{ id: string; key: string }> {
  if (!API_KEY_ROLES.includes(request.role)) throw new ApiKeyError('role', `must be one of ${API_KEY_ROLES.join(', ')}`);
  if (!request.label || request.label.length > 200 || /[\r\n]/.test(request.label)) {
    throw new ApiKeyError('label', 'must be 1-200 characters on one line');
  }
  if (request.role === 'operator') {
    if (request.partnerId) throw new ApiKeyError('partnerId', 'an operator key belongs to no partner');
  } else {
    if (!request.partnerId) throw new ApiKeyError('partnerId', `a ${request.role} key needs the partner it acts for`);
    const partner = await db<PartnerRow>('partners').where({ id: request.partnerId }).first('kind');
    if (!partner) throw new ApiKeyError('partnerId', `partner "${request.partnerId}" does not exist`);
    if (partner.kind !== request.role) {
      throw new ApiKeyError('role', `partner "${request.partnerId}" is a ${partner.kind}, so its key must have role ${partner.kind}`);
    }
  }
  const key = `lfk_${randomBytes(32).toString('base64url')}`;
  const [row] = await db<ApiKeyRow>('api_keys')
    .insert({ key_hash: hashApiKey(key), role: request.role, partner_id: request.partnerId ?? null, label: request.label })
    .returning('id');
  return { id: String(row.id), key };
}

/** A key acting as one user (R24), shown once; the user must have verified their email. */
export async function createUserApiKey(db: Db, userId: string, label: string): Promise<{ id: string; key: string }> {
  if (!label || label.length > 200 || /[\r\n]/.test(label)) throw new ApiKeyError('label', 'must be 1-200 characters on one line');
  const key = `lfk_${randomBytes(32).toString('base64url')}`;
  const [row] = await db<ApiKeyRow>('api_keys')
    .insert({ key_hash: hashApiKey(key), role: 'user', user_id: userId, label })
    .returning('id');
  return { id: String(row.id), key };
}

export async function revokeApiKey(db: Db, id: string): Promise<boolean> {
  const updated = await db<ApiKeyRow>('api_keys').where({ id }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
  return updated > 0;
}

/**
 * The principal behind an `Authorization: Bearer lfk_...` header, or undefined. The lookup is
 * by hash through a unique index, so no key is ever compared byte by byte in application code.
 */
export async function authenticate(db: Db, authorization: string | undefined): Promise<Principal | undefined> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match || !API_KEY_PATTERN.test(match[1])) return undefined;
  const row = await db<ApiKeyRow>('api_keys')
    .where({ key_hash: hashApiKey(match[1]) })
    .whereNull('revoked_at')
    .first('id', 'role', 'partner_id', 'user_id');
  if (!row) return undefined;
  const keyId = String(row.id);
  if (row.role === 'operator') return { role: 'operator', keyId };
  if (row.role === 'user') return { role: 'user', keyId, userId: String(row.user_id) };
  return { role: row.role, keyId, partnerId: row.partner_id! };
}
