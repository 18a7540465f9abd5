import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Double-submit CSRF protection for the customer forms. The page puts one random value in a
 * cookie (HttpOnly, SameSite=Strict, scoped to the link's own path) and in a hidden field; a POST
 * is accepted only when both arrive and are equal. Another site can make a browser send the
 * cookie neither (SameSite=Strict) nor read it to fill the field, and the link's token alone
 * (from a leaked URL) is not enough to post a choice.
 */
export const CSRF_COOKIE = 'lf_csrf';

const CSRF_VALUE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newCsrfValue(): string {
  return randomBytes(32).toString('base64url');
}

/** The value of our CSRF cookie in a Cookie header, if there is exactly one well-formed one. */
export function csrfCookieOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  const values = cookieHeader
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${CSRF_COOKIE}=`))
    .map((part) => part.slice(CSRF_COOKIE.length + 1));
  // Two cookies of this name would mean one was planted for a wider path: trust neither.
  return values.length === 1 && CSRF_VALUE_PATTERN.test(values[0]) ? values[0] : undefined;
}

/** Cookie and field are both present, well-formed and equal (compared in constant time). */
export function csrfMatches(cookieValue: string | undefined, fieldValue: unknown): boolean {
  if (cookieValue === undefined || typeof fieldValue !== 'string' || !CSRF_VALUE_PATTERN.test(fieldValue)) return false;
  const a = Buffer.from(cookieValue, 'utf8');
  const b = Buffer.from(fieldValue, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The Set-Cookie value: only for this link's path, never readable by script, never sent cross-site. */
export function csrfCookieHeader(value: string, path: string, secure: boolean): string {
  return `${CSRF_COOKIE}=${value}; Path=${path}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** Removes the cookie once the link is used up. */
export function clearedCsrfCookieHeader(path: string, secure: boolean): string {
  return `${CSRF_COOKIE}=; Path=${path}; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}
