import type { RoleGrantView } from '../../accounts/role-grants';
import { ROLE_NAMES } from '../../accounts/roles';
import type { AppPage } from '../../web/app-layout';
import { html, type SafeHtml } from '../../web/html';
import { dataTable } from '../../web/table';
import type { ViewScope } from '../views-access';
import type { TokenView } from '../tokens';
import type { AlertLine, EventLine } from '../views-activity';
import { accountBase, accountPage, csrfInput, when, type Viewer } from './frame';

/**
 * R23/R24 pages: users and roles (with grant and revoke forms only for those who manage), the
 * registration tokens, the alerts and the event log with its CSV download.
 */

export interface PeoplePageView {
  grants: RoleGrantView[];
  /** The scopes the viewer manages: null for the whole account, else VA paths. Empty: read only. */
  manages: Array<string | null>;
  notice?: string;
  error?: string;
  /** What a refused grant form held: shown again as entered, so a retry does not start from the first role. */
  entered?: GrantFormFields;
}

export interface GrantFormFields {
  grantee: string;
  granteeKind: 'user' | 'partner';
  role: string;
  virtualAccountPath: string;
}

/** The form's own labels for the grant's fields, for a refusal shown above the form. */
export const GRANT_FIELD_LABELS: Record<string, string> = {
  userId: 'Registered user ID or partner ID',
  partnerId: 'Registered user ID or partner ID',
  role: 'Role',
  virtualAccountPath: 'Virtual account',
};

const selected = (on: boolean) => (on ? html` selected` : '');

function grantForm(scope: ViewScope, viewer: Viewer, manages: Array<string | null>, entered?: GrantFormFields): SafeHtml {
  const paths = manages.includes(null)
    ? scope.virtualAccounts.map((va) => va.path)
    : scope.virtualAccounts.map((va) => va.path).filter((p) => manages.some((m) => m !== null && (p === m || p.startsWith(`${m}/`))));
  const roles = manages.includes(null) ? ROLE_NAMES : ROLE_NAMES.filter((r) => r.startsWith('va_'));
  return html`<h2>Grant a role</h2>
    <form method="post" action="${accountBase(scope.accountId)}/people/grants">
      ${csrfInput(viewer.csrfToken)}
      <div class="field">
        <label for="grantee">Registered user ID or partner ID</label>
        <input type="text" id="grantee" name="grantee" value="${entered?.grantee ?? ''}" />
      </div>
      <div class="field">
        <label for="granteeKind">Who receives it</label>
        <select id="granteeKind" name="granteeKind">
          <option value="user">A user</option>
          <option value="partner"${selected(entered?.granteeKind === 'partner')}>A partner</option>
        </select>
      </div>
      <div class="field">
        <label for="role">Role</label>
        <select id="role" name="role">
          ${roles.map((r) => html`<option value="${r}"${selected(entered?.role === r)}>${r}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="virtualAccountPath">Virtual account (for va_ roles)</label>
        <select id="virtualAccountPath" name="virtualAccountPath">
          <option value="">The whole Smart Account</option>
          ${paths.map((p) => html`<option value="${p}"${selected(entered?.virtualAccountPath === p)}>${p}</option>`)}
        </select>
      </div>
      <button type="submit">Grant</button>
    </form>`;
}

function mayRevoke(manages: Array<string | null>, grant: RoleGrantView): boolean {
  if (manages.includes(null)) return true;
  const path = grant.virtualAccountPath;
  return path !== null && manages.some((m) => m !== null && (path === m || path.startsWith(`${m}/`)));
}

export function peoplePage(viewer: Viewer, scope: ViewScope, view: PeoplePageView, status = 200): AppPage {
  const base = accountBase(scope.accountId);
  const canManage = view.manages.length > 0;
  const body = html`<h1>Users and roles</h1>
    ${view.notice ? html`<p class="notice" role="status">${view.notice}</p>` : ''}
    ${view.error ? html`<div class="alert" role="alert"><p>${view.error}</p></div>` : ''}
    ${dataTable(
      'Live role grants',
      [
        { header: 'Who', cell: (g) => (g.userId !== undefined ? `user ${g.userId}` : `partner ${g.partnerId}`) },
        { header: 'Role', cell: (g) => g.role },
        { header: 'Virtual account', cell: (g) => g.virtualAccountPath ?? 'whole Smart Account' },
        { header: 'Granted', cell: (g) => when(g.grantedAt) },
        ...(canManage
          ? [
              {
                header: 'Change',
                cell: (g: RoleGrantView) =>
                  mayRevoke(view.manages, g)
                    ? html`<form class="inline" method="post" action="${base}/people/grants/${g.grantId}/revoke">
                        ${csrfInput(viewer.csrfToken)}
                        <button type="submit" class="secondary">
                          Revoke<span class="visually-hidden"> ${g.role} of ${g.userId ?? g.partnerId}</span>
                        </button>
                      </form>`
                    : '–',
              },
            ]
          : []),
      ],
      view.grants,
      'No role grants you may see.',
    )}
    ${canManage ? grantForm(scope, viewer, view.manages, view.entered) : html`<p>You may read this account; changing roles needs an administrator role.</p>`}`;
  return accountPage(viewer, scope, `${base}/people`, 'Users and roles', body, status);
}

export function tokensPage(viewer: Viewer, scope: ViewScope, tokens: TokenView[]): AppPage {
  const body = html`<h1>Registration tokens</h1>
    <p>Devices register with a token of their virtual account. A token is shown once, when it is created; here only its use.</p>
    ${dataTable(
      'Registration tokens',
      [
        { header: 'Virtual account', cell: (t) => t.virtualAccountPath },
        { header: 'Description', cell: (t) => t.description || '–' },
        { header: 'Uses', cell: (t) => `${t.uses} of ${t.maxUses}`, numeric: true },
        { header: 'Expires', cell: (t) => when(t.expiresAt) },
        { header: 'Status', cell: (t) => t.status.replace('_', ' ') },
        { header: 'Export controlled', cell: (t) => (t.exportControlled ? 'yes' : 'no') },
        { header: 'Created by', cell: (t) => t.createdBy },
      ],
      tokens,
      'No registration tokens.',
    )}`;
  return accountPage(viewer, scope, `${accountBase(scope.accountId)}/tokens`, 'Tokens', body);
}

export function alertsPage(viewer: Viewer, scope: ViewScope, alerts: AlertLine[]): AppPage {
  const body = html`<h1>Alerts</h1>
    ${dataTable(
      'Alerts, newest first',
      [
        { header: 'Day', cell: (a) => a.day },
        { header: 'Kind', cell: (a) => a.kind.replace(/_/g, ' ') },
        { header: 'Virtual account', cell: (a) => a.virtualAccountPath ?? 'whole Smart Account' },
        { header: 'Message', cell: (a) => a.message },
        { header: 'Email', cell: (a) => emailDeliveryText(a.emailDelivery) },
      ],
      alerts,
      'No alerts.',
    )}`;
  return accountPage(viewer, scope, `${accountBase(scope.accountId)}/alerts`, 'Alerts', body);
}

/** Whether the alert's emails went out; a refused one says so, for the operator to resend (GET /v1/emails). */
function emailDeliveryText(delivery: AlertLine['emailDelivery']): string {
  if (delivery.failed > 0) return `delivery failed (${delivery.failed} of ${delivery.failed + delivery.sent + delivery.pending})`;
  if (delivery.pending > 0) return 'sending';
  return delivery.sent > 0 ? 'sent' : '–';
}

export function eventsPage(viewer: Viewer, scope: ViewScope, events: EventLine[], pageSize: number): AppPage {
  const base = accountBase(scope.accountId);
  const older = events.length === pageSize ? events[events.length - 1].eventId : undefined;
  const body = html`<h1>Event log</h1>
    <p><a href="${base}/events.csv" download>Download the event log as CSV</a></p>
    ${dataTable(
      'Events, newest first',
      [
        { header: 'When', cell: (e) => when(e.at) },
        { header: 'Event', cell: (e) => e.type.replace(/_/g, ' ') },
        { header: 'Virtual account', cell: (e) => e.virtualAccountPath ?? 'whole Smart Account' },
        { header: 'Subject', cell: (e) => e.subject },
        { header: 'By', cell: (e) => e.actor },
      ],
      events,
      'No events.',
    )}
    ${older ? html`<p><a href="${base}/events?before=${older}">Older events</a></p>` : ''}`;
  return accountPage(viewer, scope, `${base}/events`, 'Event log', body);
}
