import type { AppPage } from '../../web/app-layout';
import { html, type SafeHtml } from '../../web/html';
import { navBar } from '../../web/nav';
import { CSRF_FIELD } from '../../web/page-scope';
import type { ViewScope } from '../views-access';

/** What every signed-in page knows: who is signed in and the CSRF value of this browser's forms. */
export interface Viewer {
  name: string;
  csrfToken: string;
}

export function accountBase(accountId: string): string {
  return `/accounts/${encodeURIComponent(accountId)}`;
}

export function vaHref(accountId: string, path: string): string {
  return `${accountBase(accountId)}/va?path=${encodeURIComponent(path)}`;
}

/** A signed-in page of one Smart Account, with the account's navigation. */
export function accountPage(viewer: Viewer, scope: ViewScope, current: string, title: string, body: SafeHtml, status = 200): AppPage {
  const base = accountBase(scope.accountId);
  const items = [
    { href: base, text: 'Overview' },
    { href: `${base}/people`, text: 'Users and roles' },
    { href: `${base}/tokens`, text: 'Tokens' },
    { href: `${base}/alerts`, text: 'Alerts' },
    { href: `${base}/events`, text: 'Event log' },
    { href: '/accounts', text: 'All your accounts' },
  ];
  return {
    status,
    title: `${title} – ${scope.accountName}`,
    signedIn: viewer,
    nav: navBar(`Smart Account ${scope.accountName}`, items, current),
    body,
  };
}

export function csrfInput(csrfToken: string): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrfToken}" />`;
}

export function when(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '–';
}
