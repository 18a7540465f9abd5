import type { FieldError } from '../orders/order';
import type { AppPage } from '../web/app-layout';
import { html, type SafeHtml } from '../web/html';
import { CSRF_FIELD } from '../web/page-scope';

/**
 * The pages of R24 without a session: ask for a sign-in link, open it, create a user ID and
 * confirm the email. Plain forms with labels; errors listed at the top and at their field.
 */

function csrfInput(csrfToken: string): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrfToken}" />`;
}

function errorSummary(errors: FieldError[]): SafeHtml {
  if (errors.length === 0) return html``;
  return html`<div class="alert" role="alert">
    <h2>There is a problem</h2>
    <ul>
      ${errors.map((e) => html`<li><a href="#${e.field}">${e.reason}</a></li>`)}
    </ul>
  </div>`;
}

function textField(name: string, label: string, type: 'text' | 'email', value: string, errors: FieldError[], hint?: string): SafeHtml {
  const error = errors.find((e) => e.field === name);
  const describedBy = [hint ? `${name}-hint` : '', error ? `${name}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field">
    <label for="${name}">${label}</label>
    ${hint ? html`<p class="hint" id="${name}-hint">${hint}</p>` : ''}
    ${error ? html`<p class="field-error" id="${name}-error">${error.reason}</p>` : ''}
    <input
      type="${type}"
      id="${name}"
      name="${name}"
      value="${value}"
      autocomplete="${type === 'email' ? 'email' : 'off'}"
      ${describedBy ? html`aria-describedby="${describedBy}"` : ''}
      ${error ? html`aria-invalid="true"` : ''}
    />
  </div>`;
}

export function signInFormPage(csrfToken: string, email = '', next?: string): AppPage {
  return {
    status: 200,
    title: 'Sign in',
    body: html`<h1>Sign in</h1>
      <p>Enter the email address of your user ID. We email you a link that signs you in once.</p>
      <form method="post" action="/sign-in">
        ${csrfInput(csrfToken)} ${next ? html`<input type="hidden" name="next" value="${next}" />` : ''}
        ${textField('email', 'Email address', 'email', email, [])}
        <button type="submit">Email me a sign-in link</button>
      </form>
      <p>No user ID yet? <a href="/people/register">Create your user ID</a>.</p>`,
  };
}

/**
 * The same answer whether or not the address is known: nobody learns who has an account. A
 * sign-in link goes only to an address with a user ID; a registration always gets an email (the
 * link, or word that the address already has an ID), so its page can say so.
 */
export function checkEmailPage(kind: 'sign-in' | 'register'): AppPage {
  const notice =
    kind === 'sign-in'
      ? 'If the address belongs to a user ID, we have sent it a sign-in link. The link works once.'
      : 'We have emailed the address you gave: its link confirms the address and takes your user ID (it works once), or, if the address already has a user ID, the email says which.';
  return {
    status: 200,
    title: 'Check your email',
    body: html`<h1>Check your email</h1>
      <p class="notice">${notice}</p>
      <p><a href="/sign-in">Back to sign in</a></p>`,
  };
}

export function confirmLinkPage(kind: 'sign-in' | 'verify', action: string, csrfToken: string): AppPage {
  const title = kind === 'sign-in' ? 'Sign in to Smart Licensing' : 'Confirm your email';
  return {
    status: 200,
    title,
    body: html`<h1>${title}</h1>
      <p>
        ${kind === 'sign-in' ? 'Press the button to sign in on this browser.' : 'Press the button to confirm your email and create your user ID.'}
      </p>
      <form method="post" action="${action}">
        ${csrfInput(csrfToken)}
        <button type="submit">${kind === 'sign-in' ? 'Sign in' : 'Confirm and create my user ID'}</button>
      </form>`,
  };
}

export function linkProblemPage(state: 'unknown' | 'used' | 'expired' | 'id-taken', kind: 'sign-in' | 'verify'): AppPage {
  const again =
    kind === 'sign-in' ? { href: '/sign-in', text: 'Ask for a new sign-in link' } : { href: '/people/register', text: 'Start again' };
  const [status, title, message] = {
    unknown: [404, 'This link is not valid', 'The link is not one we sent, or it was copied incompletely.'],
    used: [410, 'This link has been used', 'Each link works once.'],
    expired: [410, 'This link has expired', 'Links work for a limited time.'],
    'id-taken': [409, 'That user ID was just taken', 'Someone else confirmed the same user ID first. Choose another one.'],
  }[state] as [number, string, string];
  return {
    status,
    title,
    body: html`<h1>${title}</h1>
      <p>${message}</p>
      <p><a href="${again.href}">${again.text}</a></p>`,
  };
}

export interface RegisterValues {
  email?: string;
  registeredId?: string;
  fullName?: string;
}

export function registerFormPage(csrfToken: string, values: RegisterValues = {}, errors: FieldError[] = [], status = 200): AppPage {
  return {
    status,
    title: 'Create your user ID',
    body: html`<h1>Create your user ID</h1>
      ${errorSummary(errors)}
      <p>
        Your user ID is how partners and your colleagues name you when they give you a role. We email you a link to confirm the address.
      </p>
      <form method="post" action="/people/register" novalidate>
        ${csrfInput(csrfToken)} ${textField('email', 'Email address', 'email', values.email ?? '', errors)}
        ${textField('registeredId', 'User ID you want', 'text', values.registeredId ?? '', errors, 'Letters, digits, ".", "_", ":" or "-"; up to 128.')}
        ${textField('fullName', 'Full name', 'text', values.fullName ?? '', errors)}
        <button type="submit">Email me a confirmation link</button>
      </form>`,
  };
}

export function verifiedPage(registeredId: string): AppPage {
  return {
    status: 200,
    title: 'Your user ID is ready',
    body: html`<h1>Your user ID is ready</h1>
      <p class="notice">Your email is confirmed and the user ID <strong>${registeredId}</strong> is yours.</p>
      <p><a href="/sign-in">Sign in</a></p>`,
  };
}
