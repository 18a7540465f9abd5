/**
 * The customer pages behind the email links, as pure functions from what the page shows to a
 * status and an HTML body. Plain server-rendered forms: they work without JavaScript, every
 * control has a label, choices are grouped in fieldsets with a legend, errors are listed at the
 * top (linked to their field) and repeated next to the field.
 */
import type { SmartAccountChoice } from '../accounts/customer-links';
import type { FieldError } from './order';
import { html, type SafeHtml } from '../web/html';
import type { Page } from '../web/layout';

export interface OrderLineSummary {
  lineNumber: number;
  sku: string;
  quantity: number;
  licenseType: 'smart' | 'classic';
  termMonths: number | null;
}

export interface OrderSummary {
  orderId: string;
  externalReference: string;
  partnerName: string;
  lines: OrderLineSummary[];
}

/** The hidden field that carries the double-submit CSRF value (its twin is the cookie). */
export const CSRF_FIELD = 'csrf';

// ---- the radio value of "this account, this virtual account" ----

/**
 * One radio per place the licenses can go: `<accountId>` or `<accountId>/<virtual account path>`,
 * each part URI-encoded so an account ID can never be confused with a path.
 */
export function destinationValue(accountId: string, virtualAccountPath?: string): string {
  return virtualAccountPath === undefined
    ? encodeURIComponent(accountId)
    : `${encodeURIComponent(accountId)}/${encodeURIComponent(virtualAccountPath)}`;
}

export function parseDestination(value: string): { accountId: string; virtualAccountPath?: string } | undefined {
  const slash = value.indexOf('/');
  try {
    if (slash < 0) return { accountId: decodeURIComponent(value) };
    return { accountId: decodeURIComponent(value.slice(0, slash)), virtualAccountPath: decodeURIComponent(value.slice(slash + 1)) };
  } catch {
    return undefined; // malformed %-encoding: not a value this page wrote
  }
}

// ---- pieces ----

function describeTerm(line: OrderLineSummary): string {
  return line.termMonths === null ? 'Perpetual' : `${line.termMonths} months`;
}

function orderSummary(order: OrderSummary): SafeHtml {
  return html`<section aria-labelledby="order-heading">
<h2 id="order-heading">Your order</h2>
<dl>
<dt>Reference</dt><dd>${order.externalReference}</dd>
<dt>Partner</dt><dd>${order.partnerName}</dd>
<dt>Order ID</dt><dd>${order.orderId}</dd>
</dl>
<table>
<caption>Order lines</caption>
<thead><tr><th scope="col">Line</th><th scope="col">SKU</th><th scope="col">Quantity</th><th scope="col">License</th><th scope="col">Term</th></tr></thead>
<tbody>
${order.lines.map(
  (l) =>
    html`<tr><td>${l.lineNumber}</td><td>${l.sku}</td><td>${l.quantity}</td><td>${l.licenseType === 'smart' ? 'Smart license' : 'Classic license'}</td><td>${describeTerm(l)}</td></tr>
`,
)}</tbody>
</table>
</section>`;
}

/** The error summary at the top of a form page: each error links to its field. */
function errorSummary(errors: FieldError[], anchorOf: (field: string) => string): SafeHtml {
  if (errors.length === 0) return html``;
  return html`<div class="alert" role="alert" aria-labelledby="error-summary-heading">
<h2 id="error-summary-heading">There is a problem</h2>
<ul>${errors.map((e) => html`<li><a href="#${anchorOf(e.field)}">${e.reason}</a></li>`)}</ul>
</div>`;
}

/** The workflow's refusal of a choice that passed the form checks: nothing was changed. */
function refusalNotice(refusal: string | undefined, heading: string): SafeHtml {
  if (!refusal) return html``;
  return html`<div class="alert" role="alert" aria-labelledby="refusal-heading">
<h2 id="refusal-heading">${heading}</h2>
<p>${refusal.charAt(0).toUpperCase() + refusal.slice(1)}.</p>
<p>Nothing has been changed.</p>
</div>`;
}

function csrfInput(csrfToken: string): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrfToken}">`;
}

// ---- delegation ----

export interface DelegationFormView {
  order: OrderSummary;
  domain: string;
  smartAccounts: SmartAccountChoice[];
  csrfToken: string;
  /** Form errors (400): the fields named here are marked. */
  errors?: FieldError[];
  /** Why the order refused the choice (409/422). */
  refusal?: string;
  /** What the contact submitted, to show it again with the errors. */
  values?: { destination?: string; accountName?: string };
}

const DESTINATION_FIELD_ANCHOR = 'destination-0-0';

function accountStatusText(account: SmartAccountChoice): string {
  return account.status === 'active'
    ? 'active'
    : account.status === 'pending_activation'
      ? 'pending activation'
      : account.status.replace(/_/g, ' ');
}

function existingAccountForm(view: DelegationFormView): SafeHtml {
  const errors = view.errors ?? [];
  const destinationError = errors.find((e) => e.field === 'destination');
  const chosen = view.values?.destination;
  if (view.smartAccounts.length === 0) {
    return html`<section aria-labelledby="existing-heading">
<h2 id="existing-heading">Your company's Smart Accounts</h2>
<p>There is no Smart Account for ${view.domain} yet. Create one below.</p>
</section>`;
  }
  const radio = (id: string, value: string, label: SafeHtml | string, hint?: string) =>
    html`<div class="option"><input type="radio" id="${id}" name="destination" value="${value}" required${chosen === value ? html` checked` : ''}${hint ? html` aria-describedby="${id}-hint"` : ''}>
<label for="${id}">${label}${hint ? html`<span class="hint" id="${id}-hint"> ${hint}</span>` : ''}</label></div>
`;
  return html`<section aria-labelledby="existing-heading">
<h2 id="existing-heading">Use an existing Smart Account of ${view.domain}</h2>
<form method="post">
${csrfInput(view.csrfToken)}
<input type="hidden" name="choice" value="existing">
<fieldset${destinationError ? html` aria-invalid="true" aria-describedby="destination-error"` : ''}>
<legend>Where should the licenses go?</legend>
<p class="hint">Pick a Smart Account, and a virtual account inside it if you want the licenses kept there.</p>
${destinationError ? html`<p class="field-error" id="destination-error"><span class="visually-hidden">Error:</span> ${destinationError.reason}</p>` : ''}
${view.smartAccounts.map(
  (account, i) => html`<fieldset>
<legend>${account.name} <span class="status">(${accountStatusText(account)})</span></legend>
${account.status !== 'active' ? html`<p class="hint">This account is not active yet: the licenses are deposited once it has been activated.</p>` : ''}
${radio(`destination-${i}-0`, destinationValue(account.accountId), 'The whole account, no virtual account')}
${account.virtualAccounts.map((path, j) => radio(`destination-${i}-${j + 1}`, destinationValue(account.accountId, path), path.split('/').join(' / ')))}
</fieldset>
`,
)}
</fieldset>
<button type="submit">Deposit the licenses here</button>
</form>
</section>`;
}

function newAccountForm(view: DelegationFormView): SafeHtml {
  const nameError = (view.errors ?? []).find((e) => e.field === 'accountName');
  const describedBy = ['accountName-hint', ...(nameError ? ['accountName-error'] : [])].join(' ');
  return html`<section aria-labelledby="create-heading">
<h2 id="create-heading">${view.smartAccounts.length ? 'Or create' : 'Create'} a new Smart Account for ${view.domain}</h2>
<form method="post">
${csrfInput(view.csrfToken)}
<input type="hidden" name="choice" value="create">
<div class="field">
<label for="accountName">Name of the new Smart Account</label>
<p class="hint" id="accountName-hint">Usually your company's name, up to 120 characters. We email you a link to activate it; the licenses are deposited once it is active.</p>
${nameError ? html`<p class="field-error" id="accountName-error">${nameError.reason}</p>` : ''}
<input type="text" id="accountName" name="accountName" maxlength="120" required autocomplete="organization" aria-describedby="${describedBy}"${nameError ? html` aria-invalid="true"` : ''} value="${view.values?.accountName ?? ''}">
</div>
<p><button type="submit">Create the Smart Account</button></p>
</form>
</section>`;
}

/** The delegation page: the order, the domain's Smart Accounts to pick from, or a new one to create. */
export function delegationFormPage(view: DelegationFormView, status = 200): Page {
  const errors = view.errors ?? [];
  return {
    status,
    title: `${errors.length || view.refusal ? 'Error: ' : ''}Choose the Smart Account for order ${view.order.externalReference}`,
    body: html`<h1>Choose the Smart Account for order ${view.order.externalReference}</h1>
<p>${view.order.partnerName} placed this order for you and asks you to choose the Smart Account of ${view.domain} that receives its licenses.</p>
${errorSummary(errors, (field) => (field === 'destination' ? DESTINATION_FIELD_ANCHOR : field === 'accountName' ? 'accountName' : 'main'))}
${refusalNotice(view.refusal, 'Your choice could not be recorded')}
${orderSummary(view.order)}
${existingAccountForm(view)}
${newAccountForm(view)}`,
  };
}

export type DelegationOutcome =
  | { kind: 'deposited'; accountName: string; virtualAccountPath?: string }
  | { kind: 'awaiting-activation'; accountName: string; created: boolean };

/** After the choice: where the licenses went, or what the contact must still do. */
export function delegationDonePage(order: OrderSummary, domain: string, outcome: DelegationOutcome): Page {
  if (outcome.kind === 'deposited') {
    return {
      status: 200,
      title: `Order ${order.externalReference}: licenses deposited`,
      body: html`<h1>The licenses of order ${order.externalReference} are deposited in ${outcome.accountName}</h1>
<div class="notice" role="status"><p>Thank you: your choice has been recorded${outcome.virtualAccountPath ? html`, virtual account ${outcome.virtualAccountPath}` : ''}.</p></div>
<h2>What happens next</h2>
<ul>
<li>You and ${order.partnerName} get an email confirming the deposit.</li>
<li>Smart licenses are activated in the account as their lines ship; you get an email when the whole order is fulfilled.</li>
<li>This link has now been used and cannot be used again.</li>
</ul>
${orderSummary(order)}`,
    };
  }
  return {
    status: 200,
    title: `Order ${order.externalReference}: activate the Smart Account`,
    body: html`<h1>${outcome.created ? 'Your new Smart Account has been requested' : `Smart Account ${outcome.accountName} is not active yet`}</h1>
<div class="notice" role="status"><p>Thank you: order ${order.externalReference} will go to the Smart Account ${outcome.accountName} of ${domain}, which is pending activation.</p></div>
<h2>What happens next</h2>
<ol>
<li>${outcome.created ? 'We email you a link to activate it.' : "We email a link to activate it to the account's contact."}</li>
<li>Open it and choose Activate.</li>
<li>The licenses are then deposited in the account, and you and ${order.partnerName} get an email confirming it.</li>
</ol>
<p>This delegation link has now been used and cannot be used again.</p>
${orderSummary(order)}`,
  };
}

// ---- activation ----

export interface ActivationView {
  account: { name: string; domain: string | null; status: string };
  csrfToken: string;
  refusal?: string;
}

function accountFacts(account: ActivationView['account']): SafeHtml {
  return html`<dl>
<dt>Smart Account</dt><dd>${account.name}</dd>
${account.domain ? html`<dt>Domain</dt><dd>${account.domain}</dd>` : ''}
<dt>Status</dt><dd>${account.status === 'active' ? 'Active' : account.status === 'pending_activation' ? 'Pending activation' : account.status.replace(/_/g, ' ')}</dd>
</dl>`;
}

export function activationFormPage(view: ActivationView, status = 200): Page {
  return {
    status,
    title: `${view.refusal ? 'Error: ' : ''}Activate the Smart Account ${view.account.name}`,
    body: html`<h1>Activate the Smart Account ${view.account.name}</h1>
${refusalNotice(view.refusal, 'The account could not be activated')}
<p>A Smart Account has been requested for you. Orders placed for ${view.account.domain ?? 'you'} wait until it is active; once you activate it, their licenses are deposited in it.</p>
${accountFacts(view.account)}
<form method="post">
${csrfInput(view.csrfToken)}
<button type="submit">Activate</button>
</form>`,
  };
}

export function activationDonePage(account: ActivationView['account']): Page {
  return {
    status: 200,
    title: `Smart Account ${account.name} is active`,
    body: html`<h1>The Smart Account ${account.name} is active</h1>
<div class="notice" role="status"><p>Thank you: the Smart Account has been activated.</p></div>
<h2>What happens next</h2>
<ul>
<li>Orders waiting for this account are deposited in it now; you and the partner get an email for each.</li>
<li>Smart licenses are activated as their lines ship.</li>
<li>This link has now been used and cannot be used again.</li>
</ul>
${accountFacts({ ...account, status: 'active' })}`,
  };
}

// ---- links that cannot be used, and other problems ----

export type LinkKind = 'delegation' | 'activation';

/** 404 for a link we do not know, 410 for one that was used or has expired. */
export function linkProblemPage(reason: 'unknown' | 'used' | 'expired', kind: LinkKind): Page {
  const whatFor = kind === 'delegation' ? 'choose the Smart Account for an order' : 'activate a Smart Account';
  switch (reason) {
    case 'unknown':
      return {
        status: 404,
        title: 'This link is not valid',
        body: html`<h1>This link is not valid</h1>
<p>We do not know this link. Check that you opened the whole link from the email: copying only part of it is the usual cause.</p>
<h2>What you can do</h2>
<p>Open the link again from the email. If it still does not work, ask ${kind === 'delegation' ? 'the partner who placed your order' : 'the partner who requested the account for you'} to send a new one.</p>`,
      };
    case 'used':
      return {
        status: 410,
        title: 'This link has already been used',
        body: html`<h1>This link has already been used</h1>
<p>Each link to ${whatFor} works once, and this one has been used${kind === 'delegation' ? ': the Smart Account for this order has been chosen' : ': the Smart Account has been activated'}.</p>
<h2>What happens next</h2>
<p>Nothing is needed from you. You get an email when the licenses are deposited and when the order is fulfilled.</p>`,
      };
    case 'expired':
      return {
        status: 410,
        title: 'This link has expired',
        body: html`<h1>This link has expired</h1>
<p>Links to ${whatFor} are valid for a limited time, and this one is no longer valid. Nothing has been changed.</p>
<h2>What you can do</h2>
<p>${kind === 'delegation' ? 'Use the link in the most recent reminder email, or ask the partner who placed your order to send a new one.' : 'Use the link in the most recent activation reminder email, or ask the partner who requested the account for you to send a new one.'}</p>`,
      };
  }
}

/** 410 for a delegation link of an order that is over (cancelled or fulfilled). */
export function orderClosedPage(order: OrderSummary, status: 'Cancelled' | 'Fulfilled'): Page {
  return {
    status: 410,
    title: `Order ${order.externalReference} no longer needs your choice`,
    body: html`<h1>Order ${order.externalReference} no longer needs your choice</h1>
<p>${status === 'Cancelled' ? 'This order has been cancelled.' : 'This order has already been fulfilled.'} Nothing has been changed.</p>
<p>If this is unexpected, contact ${order.partnerName}.</p>
${orderSummary(order)}`,
  };
}

/** Any other problem: a title, what happened, and a way back to the form when there is one. */
export function problemPage(status: number, title: string, message: string, retryHref?: string): Page {
  return {
    status,
    title,
    body: html`<h1>${title}</h1>
<p>${message}</p>
${retryHref ? html`<p><a href="${retryHref}">Open the form again</a></p>` : ''}`,
  };
}
