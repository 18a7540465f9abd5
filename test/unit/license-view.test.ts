/**
 * The pure pieces of the complete view and the people pages: CSV quoting and formula safety,
 * who may grant which role where, the SVG chart, the session cookie's flags, the user-ID form's
 * validation, and the app pages' stylesheet hash.
 */
import { createHash } from 'node:crypto';
import { mayManageGrant } from '../../src/accounts/role-grants';
import { validateUserIdRequest } from '../../src/accounts/people';
import type { HeldRole, RoleName } from '../../src/accounts/roles';
import { csvCell, csvOf } from '../../src/licensing/csv';
import { APP_STYLE_SOURCE, APP_STYLESHEET, renderAppDocument } from '../../src/web/app-layout';
import { useChart } from '../../src/web/chart';
import { html } from '../../src/web/html';
import { clearedSessionCookieHeader, cookieOf, sessionCookieHeader } from '../../src/web/session';

describe('CSV export', () => {
  test.each([
    ['plain', 'plain'],
    ['a, b', '"a, b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['=SUM(A1:A2)', '"\'=SUM(A1:A2)"'],
    ['+1', '"\'+1"'],
    ['-1', '"\'-1"'],
    ['@cmd', '"\'@cmd"'],
    ['=HYPERLINK("x", "y")', `"'=HYPERLINK(""x"", ""y"")"`],
  ])('%j -> %s', (value, expected) => {
    expect(csvCell(value)).toBe(expected);
  });

  test('numbers, null and objects; rows joined with CRLF and a final CRLF', () => {
    expect(csvCell(null)).toBe('');
    expect(csvCell(42)).toBe('42');
    expect(csvCell({ a: 1, b: 'x,y' })).toBe('"{""a"":1,""b"":""x,y""}"');
    expect(
      csvOf(
        ['h1', 'h2'],
        [
          [1, 'a'],
          [2, null],
        ],
      ),
    ).toBe('h1,h2\r\n1,a\r\n2,\r\n');
  });
});

describe('who may grant a role where (manage on the role scope)', () => {
  const saAdmin: HeldRole[] = [{ role: 'sa_admin', path: null }];
  const saUser: HeldRole[] = [{ role: 'sa_user', path: null }];
  const financeAdmin: HeldRole[] = [{ role: 'va_admin', path: 'Finance' }];
  const viewer: HeldRole[] = [{ role: 'va_viewer', path: 'Finance' }];

  test.each<[string, HeldRole[], RoleName, string | null, boolean]>([
    ['sa_admin', saAdmin, 'sa_admin', null, true],
    ['sa_admin', saAdmin, 'va_viewer', 'Region-US/Finance', true],
    ['sa_user', saUser, 'va_user', 'Finance', false],
    ['va_admin Finance', financeAdmin, 'va_user', 'Finance', true],
    ['va_admin Finance', financeAdmin, 'va_admin', 'Finance/Sub', true],
    ['va_admin Finance', financeAdmin, 'va_user', 'Finance-2', false],
    ['va_admin Finance', financeAdmin, 'va_user', 'Region-US/Finance', false],
    ['va_admin Finance', financeAdmin, 'sa_user', null, false],
    ['va_viewer Finance', viewer, 'va_viewer', 'Finance', false],
  ])('%s grants %s on %s: %s', (_who, roles, role, path, allowed) => {
    expect(mayManageGrant(roles, role, path)).toBe(allowed);
  });
});

describe('the use chart', () => {
  test('an SVG with a title, a description of the last figures, and one point per day of each line', () => {
    const svg = useChart('c1', 'SKU-1 in Finance', [
      { day: '2026-12-01', purchased: 10, inUse: 4 },
      { day: '2026-12-02', purchased: 10, inUse: 12 },
    ]).value;
    expect(svg).toContain('role="img"');
    expect(svg).toContain('<title id="c1-title">SKU-1 in Finance: use against purchase</title>');
    expect(svg).toContain('on 2026-12-02, 12 in use of 10 purchased; highest use 12.');
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg).not.toMatch(/style=|<script/);
    // The caption heads its own chart (below it, it read as the title of the next one).
    const caption = svg.indexOf('<figcaption>SKU-1 in Finance</figcaption>');
    expect(caption).toBeGreaterThan(-1);
    expect(caption).toBeLessThan(svg.indexOf('<svg'));
  });

  test('names are escaped; no points: a sentence instead', () => {
    expect(useChart('c2', '<b>x</b>', [{ day: '2026-12-01', purchased: 1, inUse: 0 }]).value).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(useChart('c3', 'SKU', []).value).toBe('<p>No use recorded yet for SKU.</p>');
  });
});

describe('the session cookie', () => {
  test('HttpOnly, SameSite=Lax, whole site, Secure only over https; cleared with Max-Age=0', () => {
    expect(sessionCookieHeader('v', 3_600_000, false)).toBe('lf_session=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax');
    expect(sessionCookieHeader('v', 3_600_000, true)).toBe('lf_session=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure');
    expect(clearedSessionCookieHeader(true)).toBe('lf_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure');
  });

  test('a cookie is read only when exactly one of its name is sent', () => {
    expect(cookieOf('a=1; lf_session=xyz; b=2', 'lf_session')).toBe('xyz');
    expect(cookieOf('lf_session=x; lf_session=y', 'lf_session')).toBeUndefined();
    expect(cookieOf(undefined, 'lf_session')).toBeUndefined();
  });
});

test('the user-ID form names every bad field', () => {
  expect(validateUserIdRequest({ email: 'x', registeredId: 'a b', fullName: ' ' }).map((e) => e.field)).toEqual([
    'email',
    'registeredId',
    'fullName',
  ]);
  expect(validateUserIdRequest({ email: 'ann@acme.test', registeredId: 'ann.1', fullName: 'Ann' })).toEqual([]);
});

test("the app pages' <style> is exactly the hashed stylesheet (the CSP allows nothing else)", () => {
  const page = renderAppDocument({ status: 200, title: 'T', body: html`<p>x</p>` });
  const style = /<style>([\s\S]*?)<\/style>/.exec(page)![1];
  expect(style).toBe(APP_STYLESHEET);
  expect(APP_STYLE_SOURCE).toBe(`'sha256-${createHash('sha256').update(style, 'utf8').digest('base64')}'`);
  expect(page).not.toContain('<script');
});
