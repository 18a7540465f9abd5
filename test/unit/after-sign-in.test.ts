/** Where a person goes once signed in (src/web/after-sign-in.ts): only this site's own pages. */
import { pageToReturnTo, returnPathOf, signInFor } from '../../src/web/after-sign-in';

test.each([
  ['/accounts/sa-acme/alerts', true],
  ['/accounts/sa-acme/va?path=Region-US%2FFinance', true],
  ['/me', true],
  ['/accounts', true],
  ['/v1/orders', false],
  ['https://evil.example/accounts', false],
  ['//evil.example/accounts', false],
  ['/accounts//evil.example', false],
  ['/accounts/../v1/orders', false],
  ['/accounts/%2e%2e/v1/orders', false],
  ['/accounts/x\\\\evil', false],
  ['/sign-in', false],
])('%s is a page to return to: %s', (path, ok) => {
  expect(pageToReturnTo(path)).toBe(ok ? path : undefined);
});

test('the sign-in page names the page asked for, except the landing page', () => {
  expect(signInFor('/accounts/sa-acme/alerts')).toBe('/sign-in?next=%2Faccounts%2Fsa-acme%2Falerts');
  expect(signInFor('/accounts')).toBe('/sign-in');
  expect(signInFor('/v1/orders')).toBe('/sign-in');
});

test('the kept page, or the landing page when there is none or it is not one of the pages', () => {
  expect(returnPathOf('lf_next=%2Faccounts%2Fsa-acme%2Falerts; lf_session=x')).toBe('/accounts/sa-acme/alerts');
  expect(returnPathOf('lf_next=https%3A%2F%2Fevil.example')).toBe('/accounts');
  expect(returnPathOf('lf_next=%E0%A4%A')).toBe('/accounts');
  expect(returnPathOf(undefined)).toBe('/accounts');
});
