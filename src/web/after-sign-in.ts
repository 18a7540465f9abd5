import { cookieOf } from './session';

/**
 * Where a person goes once signed in: the page that asked them to sign in (an alert email's link
 * to /accounts/<id>/alerts, a bookmark), not always /accounts. The path travels as `?next=` to the
 * sign-in form, then in a short-lived cookie while they fetch the emailed link in the same
 * browser. Only this site's own pages qualify, so the parameter cannot send anyone elsewhere.
 */
export const NEXT_COOKIE = 'lf_next';
export const LANDING = '/accounts';

/** A page under /accounts or /me: plain path segments (no escapes, which could spell a dot segment), then any query. */
const OWN_PAGE = /^\/(accounts|me)(\/[A-Za-z0-9._~-]*)*(\?[A-Za-z0-9._~%&=/-]*)?$/;

/** `path` if it is one of this site's signed-in pages, else undefined. */
export function pageToReturnTo(path: unknown): string | undefined {
  if (typeof path !== 'string' || path.length > 500 || path.includes('//') || !OWN_PAGE.test(path)) return undefined;
  const segments = path.split('?')[0].split('/');
  return segments.some((segment) => segment === '.' || segment === '..') ? undefined : path;
}

/** The sign-in page for a request that must sign in first: it names the page asked for, unless that is the landing page. */
export function signInFor(requestedUrl: string): string {
  const next = pageToReturnTo(requestedUrl);
  return next && next !== LANDING ? `/sign-in?next=${encodeURIComponent(next)}` : '/sign-in';
}

/** The cookie that keeps `next` while the sign-in link is on its way (only the sign-in pages see it). */
export function nextCookieHeader(next: string, ttlMs: number, secure: boolean): string {
  return `${NEXT_COOKIE}=${encodeURIComponent(next)}; Path=/sign-in; Max-Age=${Math.floor(ttlMs / 1000)}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

export function clearedNextCookieHeader(secure: boolean): string {
  return `${NEXT_COOKIE}=; Path=/sign-in; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** Where the sign-in link's POST sends the person: the kept page, or the landing page. */
export function returnPathOf(cookieHeader: string | undefined): string {
  const kept = cookieOf(cookieHeader, NEXT_COOKIE);
  let decoded: string | undefined;
  try {
    decoded = kept ? decodeURIComponent(kept) : undefined;
  } catch {
    decoded = undefined;
  }
  return pageToReturnTo(decoded) ?? LANDING;
}
