import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/knex';

/**
 * Signed-in browsers (R24). The session cookie holds 256 random bits; Postgres holds only their
 * SHA-256 (web_sessions), so a database dump opens no session. HttpOnly (no script reads it),
 * SameSite=Lax (not sent on cross-site posts), Secure when the pages are served over https.
 */
export const SESSION_COOKIE = 'lf_session';

const SESSION_VALUE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

function hashOf(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The value of the cookie `name` in a Cookie header, if exactly one is there. */
export function cookieOf(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  const values = cookieHeader
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${name}=`))
    .map((part) => part.slice(name.length + 1));
  return values.length === 1 ? values[0] : undefined;
}

export async function openSession(db: Db, userId: string, ttlMs: number): Promise<{ value: string; expiresAt: Date }> {
  const value = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlMs);
  await db('web_sessions').insert({ session_hash: hashOf(value), user_id: userId, expires_at: expiresAt });
  return { value, expiresAt };
}

/** The user of a live session cookie, or undefined (unknown, expired or signed out). */
export async function sessionUser(db: Db, cookieHeader: string | undefined): Promise<{ userId: string; sessionValue: string } | undefined> {
  const value = cookieOf(cookieHeader, SESSION_COOKIE);
  if (!value || !SESSION_VALUE_PATTERN.test(value)) return undefined;
  const row = await db('web_sessions')
    .where({ session_hash: hashOf(value) })
    .whereNull('revoked_at')
    .where('expires_at', '>', db.fn.now())
    .first<{ user_id: string | number } | undefined>('user_id');
  return row ? { userId: String(row.user_id), sessionValue: value } : undefined;
}

export async function closeSession(db: Db, value: string): Promise<void> {
  await db('web_sessions')
    .where({ session_hash: hashOf(value) })
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() });
}

export function sessionCookieHeader(value: string, ttlMs: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${Math.floor(ttlMs / 1000)}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookieHeader(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}
