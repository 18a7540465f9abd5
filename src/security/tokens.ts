import { createHash, randomBytes } from 'node:crypto';

/**
 * Secure links (delegation, activation): 256-bit random tokens, of which only the SHA-256 is
 * stored. A lookup by hash is an index probe, so no secret comparison happens in application
 * code; the raw token never reaches Postgres or the workflow history.
 */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The hash as hex: what Updates carry instead of the token itself. */
export function tokenHashHex(token: string): string {
  return hashToken(token).toString('hex');
}

export function isWellFormedToken(token: unknown): token is string {
  return typeof token === 'string' && /^[A-Za-z0-9_-]{43}$/.test(token);
}
