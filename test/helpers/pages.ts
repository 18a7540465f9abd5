/**
 * A browser without a browser, for page tests over plain HTTP: it keeps cookies like a browser
 * would (by name; path and expiry are not needed here), reads the hidden CSRF field of a form and
 * posts urlencoded forms. The real-browser tests use Chromium (test/helpers/browser.ts).
 */
import type { CaughtMail } from '../../src/dev/mail-catcher';

export interface PageResponse {
  status: number;
  text: string;
  headers: Headers;
  setCookies: string[];
}

export class PageClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly baseUrl: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: 'GET' | 'POST', path: string, form?: Record<string, string>): Promise<PageResponse> {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = this.cookieHeader();
    let body: string | undefined;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(`${this.baseUrl}${path}`, { method, headers, body, redirect: 'manual' });
    const setCookies = response.headers.getSetCookie();
    for (const c of setCookies) {
      const [pair, ...attributes] = c.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value === '' || attributes.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: response.status, text: await response.text(), headers: response.headers, setCookies };
  }

  get(path: string): Promise<PageResponse> {
    return this.request('GET', path);
  }

  /** Opens the page with the form, then posts it with the page's CSRF value and `fields`. */
  async submit(formPagePath: string, fields: Record<string, string>, action?: string): Promise<PageResponse> {
    const page = await this.get(formPagePath);
    const csrf = csrfFieldOf(page.text);
    const target = action ?? /<form method="post" action="([^"]+)"/.exec(page.text)?.[1] ?? formPagePath;
    return this.request('POST', target.replace(/&amp;/g, '&'), { csrf, ...fields });
  }
}

export function csrfFieldOf(pageHtml: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(pageHtml);
  if (!match) throw new Error('the page has no CSRF field');
  return match[1];
}

/** The token of the one `<base>/<path>/<token>` link in a mail's text. */
export function tokenOfLink(mail: CaughtMail | undefined, baseUrl: string, path: string): string {
  if (!mail) throw new Error(`no mail with a /${path}/ link was received`);
  const tokens = [...mail.text.matchAll(new RegExp(`${baseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${path}/([A-Za-z0-9_-]+)`, 'g'))].map(
    (m) => m[1],
  );
  if (tokens.length !== 1) throw new Error(`expected one /${path}/ link, found ${tokens.length}`);
  return tokens[0];
}
