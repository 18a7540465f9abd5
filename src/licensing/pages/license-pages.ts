import type { AppPage } from '../../web/app-layout';
import { useChart } from '../../web/chart';
import { html, type SafeHtml } from '../../web/html';
import { dataTable } from '../../web/table';
import type { ViewScope } from '../views-access';
import type { InstanceLine, LicenseLine, UseSeries } from '../views-licenses';
import { accountBase, accountPage, csrfInput, vaHref, when, type Viewer } from './frame';

/**
 * R23 pages: the accounts a person may see, a Smart Account's overview (its virtual accounts and
 * licenses) and a virtual account's page (licenses, the chart of use against purchase, instances).
 */

export function accountsPage(viewer: Viewer, accounts: Array<{ accountId: string; name: string; roles: string[] }>): AppPage {
  return {
    status: 200,
    title: 'Your Smart Accounts',
    signedIn: viewer,
    body: html`<h1>Your Smart Accounts</h1>
      ${dataTable(
        'Smart Accounts you have a role on',
        [
          { header: 'Smart Account', cell: (a) => html`<a href="${accountBase(a.accountId)}">${a.name}</a>` },
          { header: 'Account ID', cell: (a) => a.accountId },
          { header: 'Your roles', cell: (a) => a.roles.join(', ') },
        ],
        accounts,
        'You have no role on any Smart Account yet. Ask an administrator of your account to grant you one.',
      )}`,
  };
}

function licenseTable(scope: ViewScope, lines: LicenseLine[], caption: string): SafeHtml {
  return dataTable(
    caption,
    [
      {
        header: 'Virtual account',
        cell: (l) => html`<a href="${vaHref(scope.accountId, l.virtualAccountPath)}">${l.virtualAccountPath}</a>`,
      },
      { header: 'SKU', cell: (l) => l.sku },
      { header: 'Purchased', cell: (l) => l.purchased, numeric: true },
      { header: 'In use', cell: (l) => l.inUse, numeric: true },
      { header: 'Balance', cell: (l) => (l.balance < 0 ? html`<span class="short">${l.balance}</span>` : l.balance), numeric: true },
      { header: 'Overage', cell: (l) => l.overage, numeric: true },
      { header: 'Out of compliance', cell: (l) => l.unserved, numeric: true },
      { header: 'Next expiry', cell: (l) => l.nextExpiryOn ?? '–' },
    ],
    lines,
    'No licenses here yet.',
  );
}

export function overviewPage(viewer: Viewer, scope: ViewScope, lines: LicenseLine[], openAlerts: number): AppPage {
  const totals = (path: string) => lines.filter((l) => l.virtualAccountPath === path);
  const body = html`<h1>${scope.accountName}</h1>
    <dl>
      <dt>Account ID</dt>
      <dd>${scope.accountId}</dd>
      <dt>Status</dt>
      <dd>${scope.accountStatus}</dd>
      <dt>Alerts today and earlier</dt>
      <dd><a href="${accountBase(scope.accountId)}/alerts">${openAlerts}</a></dd>
    </dl>
    <h2>Virtual accounts</h2>
    ${dataTable(
      'Virtual accounts you may see',
      [
        { header: 'Virtual account', cell: (va) => html`<a href="${vaHref(scope.accountId, va.path)}">${va.path}</a>` },
        { header: 'SKUs', cell: (va) => totals(va.path).length, numeric: true },
        { header: 'Purchased', cell: (va) => totals(va.path).reduce((n, l) => n + l.purchased, 0), numeric: true },
        { header: 'In use', cell: (va) => totals(va.path).reduce((n, l) => n + l.inUse, 0), numeric: true },
      ],
      scope.virtualAccounts,
      'No virtual accounts you may see.',
    )}
    <h2>Licenses</h2>
    ${licenseTable(scope, lines, 'Licenses per virtual account and SKU')}`;
  return accountPage(viewer, scope, accountBase(scope.accountId), 'Overview', body);
}

/** Who may remove which instance on this page, and where the form sends them back to. */
export interface InstanceRemoval {
  mayRemove: (virtualAccountPath: string) => boolean;
  accountId: string;
  returnPath: string;
  csrfToken: string;
}

/**
 * The Remove action of an instance (R23): a disclosure that asks first, then a CSRF-checked POST;
 * no script (the pages' policy allows none).
 */
function removeAction(removal: InstanceRemoval, i: InstanceLine): SafeHtml | string {
  if (i.state === 'removed' || !removal.mayRemove(i.virtualAccountPath)) return '–';
  return html`<details class="remove-instance">
    <summary>Remove<span class="visually-hidden"> ${i.hostname}</span></summary>
    <form class="inline" method="post" action="${accountBase(removal.accountId)}/instances/${encodeURIComponent(i.instanceId)}/remove">
      ${csrfInput(removal.csrfToken)}
      <input type="hidden" name="returnPath" value="${removal.returnPath}" />
      <p>Its licenses go back to the pool and its credentials stop working at once; the device registers again with a new token.</p>
      <button type="submit">Remove ${i.hostname} for good</button>
    </form>
  </details>`;
}

function instanceTable(instances: InstanceLine[], removal: InstanceRemoval): SafeHtml {
  const anyRemovable = instances.some((i) => i.state !== 'removed' && removal.mayRemove(i.virtualAccountPath));
  return dataTable(
    'Product instances',
    [
      { header: 'Hostname', cell: (i) => i.hostname },
      { header: 'Product ID / serial', cell: (i) => `${i.productId} / ${i.serialNumber}` },
      { header: 'Virtual account', cell: (i) => i.virtualAccountPath },
      { header: 'State', cell: (i) => html`<span class="state-${i.state}">${i.state}</span>` },
      { header: 'Last contact', cell: (i) => when(i.lastContactAt) },
      {
        header: 'Use',
        cell: (i) =>
          i.uses.length === 0
            ? '–'
            : html`<ul>
                ${i.uses.map((u) => html`<li>${u.sku}: ${u.count} <span class="state-${u.state}">${u.state}</span></li>`)}
              </ul>`,
      },
      ...(anyRemovable ? [{ header: 'Change', cell: (i: InstanceLine) => removeAction(removal, i) }] : []),
    ],
    instances,
    'No product instances here.',
  );
}

export function virtualAccountPage(
  viewer: Viewer,
  scope: ViewScope,
  path: string,
  lines: LicenseLine[],
  series: UseSeries[],
  instances: InstanceLine[],
  removal: Omit<InstanceRemoval, 'csrfToken' | 'accountId' | 'returnPath'> & { notice?: string },
): AppPage {
  const children = scope.virtualAccounts.filter((va) => va.path !== path);
  const body = html`<h1>Virtual account ${path}</h1>
    ${
      children.length > 0
        ? html`<p>
            Includes ${children.length} nested virtual account${children.length === 1 ? '' : 's'}:
            ${children.map((va, i) => html`${i > 0 ? ', ' : ''}<a href="${vaHref(scope.accountId, va.path)}">${va.path}</a>`)}
          </p>`
        : ''
    }
    <h2>Licenses</h2>
    ${licenseTable(scope, lines, `Licenses of ${path} and its nested virtual accounts`)}
    <h2>Use against purchase</h2>
    ${
      series.length === 0
        ? html`<p>No use recorded yet.</p>`
        : series.map((s, i) => useChart(`chart-${i}`, `${s.sku} in ${s.virtualAccountPath}`, s.points))
    }
    <h2>Product instances</h2>
    ${removal.notice ? html`<p class="notice" role="status">${removal.notice}</p>` : ''}
    ${instanceTable(instances, { ...removal, accountId: scope.accountId, returnPath: path, csrfToken: viewer.csrfToken })}`;
  return accountPage(viewer, scope, '', `Virtual account ${path}`, body);
}
