import { createUserApiKey, revokeApiKeysWhere } from '../api/auth';
import type { Db } from '../db/knex';

/**
 * R24: a signed-in user's own API keys, for scripts that act with exactly that user's roles.
 * The pages and the API (with a user key) share these; a user sees and revokes only their own.
 */

export interface UserProfile {
  userId: string;
  registeredId: string | null;
  email: string;
  fullName: string | null;
  apiKeys: Array<{ keyId: string; label: string; createdAt: string }>;
}

export async function profileOf(db: Db, userId: string): Promise<UserProfile | undefined> {
  const user: { id: string | number; registered_id: string | null; email: string; full_name: string | null } | undefined = await db('users')
    .where({ id: userId })
    .first('id', 'registered_id', 'email', 'full_name');
  if (!user) return undefined;
  const keys: Array<{ id: string | number; label: string; created_at: Date }> = await db('api_keys')
    .where({ user_id: userId, role: 'user' })
    .whereNull('revoked_at')
    .orderBy('id')
    .select('id', 'label', 'created_at');
  return {
    userId: String(user.id),
    registeredId: user.registered_id,
    email: user.email,
    fullName: user.full_name,
    apiKeys: keys.map((k) => ({ keyId: String(k.id), label: k.label, createdAt: k.created_at.toISOString() })),
  };
}

/** At most this many live keys per user: a script per purpose, not a key per request. */
export const MAX_USER_KEYS = 20;

export class UserKeyRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserKeyRefusal';
  }
}

/** Mints a key for the user (shown once). Only a user who verified their email owns an ID and keys. */
export async function mintUserKey(db: Db, userId: string, label: string): Promise<{ keyId: string; key: string }> {
  const user = await db('users').where({ id: userId }).first<{ email_verified_at: Date | null } | undefined>('email_verified_at');
  if (!user?.email_verified_at) throw new UserKeyRefusal('verify your email first: only a registered user ID has API keys');
  const [{ n }] = await db('api_keys').where({ user_id: userId, role: 'user' }).whereNull('revoked_at').count({ n: '*' });
  if (Number(n) >= MAX_USER_KEYS) throw new UserKeyRefusal(`a user has at most ${MAX_USER_KEYS} live API keys; revoke one first`);
  const { id, key } = await createUserApiKey(db, userId, label);
  return { keyId: id, key };
}

/** Revokes one of the user's own keys: 'revoked', 'already-revoked' or 'unknown' (not theirs). */
export async function revokeUserKey(db: Db, userId: string, keyId: string): Promise<'revoked' | 'already-revoked' | 'unknown'> {
  const updated = await revokeApiKeysWhere(db, (keys) => keys.where({ id: keyId, user_id: userId, role: 'user' }));
  if (updated > 0) return 'revoked';
  return (await db('api_keys').where({ id: keyId, user_id: userId, role: 'user' }).first('id')) ? 'already-revoked' : 'unknown';
}
