import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { BoundedMap } from '../common/bounded-map';
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
  return (await revokeApiKeysWhere(db, (keys) => keys.where({ id }))) > 0;
}

/**
 * The one way keys are revoked: marks the live keys `which` selects as revoked and forgets every
 * key this process had verified, so none of them is trusted again here (VERIFIED_KEY_TTL_MS).
 * Answers how many were revoked.
 */
export async function revokeApiKeysWhere(
  db: Db,
  which: (keys: Knex.QueryBuilder<ApiKeyRow>) => Knex.QueryBuilder<ApiKeyRow>,
): Promise<number> {
  const revoked = await which(db<ApiKeyRow>('api_keys')).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
  forgetVerifiedKeys();
  return revoked;
}

/**
 * How long this process trusts a key it found valid without asking Postgres again. A busy caller
 * (an ordering system polling its orders) costs one lookup per window instead of one per request.
 * A revocation made in this process (revokeApiKey, a user revoking their own key, the quick start
 * stopping) forgets every remembered key at once; one made elsewhere (the CLI's `keys revoke`,
 * another API process, SQL) takes effect here within this bound. Unknown and revoked keys are
 * never remembered: a new key works at once, a wrong one is looked up every time (and rate limited).
 */
export const VERIFIED_KEY_TTL_MS = 2_000;
/** Keys remembered at most; past it the oldest are forgotten first (they are looked up again). */
const verifiedKeys = new BoundedMap<string, { principal: Principal; until: number }>(10_000);
/**
 * Lookups under way, by key hash: requests of one key that arrive together (a busy caller when its
 * remembered answer expires) share one statement instead of sending one each.
 */
const lookupsInFlight = new Map<string, Promise<Principal | undefined>>();
/** Bumped by every forget, so a lookup that began before a revocation does not remember its answer. */
let verifiedGeneration = 0;

/** Forgets every verified key: the next request of each is looked up again (revokeApiKeysWhere calls it). */
function forgetVerifiedKeys(): void {
  verifiedKeys.clear();
  // A request arriving after a revocation must not share a lookup that began before it.
  lookupsInFlight.clear();
  verifiedGeneration++;
}

function remember(hash: string, principal: Principal, generation: number): void {
  if (generation !== verifiedGeneration) return;
  verifiedKeys.set(hash, { principal, until: Date.now() + VERIFIED_KEY_TTL_MS });
}

/**
 * The principal behind an `Authorization: Bearer lfk_...` header, or undefined. The lookup is
 * by hash through a unique index, so no key is ever compared byte by byte in application code;
 * a key found valid is trusted for VERIFIED_KEY_TTL_MS (above) before it is looked up again.
 */
export async function authenticate(db: Db, authorization: string | undefined): Promise<Principal | undefined> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match || !API_KEY_PATTERN.test(match[1])) return undefined;
  const hash = hashApiKey(match[1]);
  const hashText = hash.toString('base64');
  const known = verifiedKeys.get(hashText);
  if (known && known.until > Date.now()) return known.principal;
  const inFlight = lookupsInFlight.get(hashText);
  if (inFlight) return inFlight;
  const lookup = lookUpKey(db, hash, hashText);
  lookupsInFlight.set(hashText, lookup);
  try {
    return await lookup;
  } finally {
    if (lookupsInFlight.get(hashText) === lookup) lookupsInFlight.delete(hashText);
  }
}

/** The key's principal from Postgres, remembered when valid (see authenticate). */
async function lookUpKey(db: Db, hash: Buffer, hashText: string): Promise<Principal | undefined> {
  const generation = verifiedGeneration;
  const row = await db<ApiKeyRow>('api_keys')
    .where({ key_hash: hash })
    .whereNull('revoked_at')
    .first('id', 'role', 'partner_id', 'user_id');
  if (!row) {
    verifiedKeys.delete(hashText);
    return undefined;
  }
  const keyId = String(row.id);
  const principal: Principal =
    row.role === 'operator'
      ? { role: 'operator', keyId }
      : row.role === 'user'
        ? { role: 'user', keyId, userId: String(row.user_id) }
        : { role: row.role, keyId, partnerId: row.partner_id! };
  remember(hashText, Object.freeze(principal), generation);
  return principal;
}
