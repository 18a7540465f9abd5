import type { UserProfile } from '../../accounts/user-keys';
import type { AppPage } from '../../web/app-layout';
import { html } from '../../web/html';
import { dataTable } from '../../web/table';
import { csrfInput, when, type Viewer } from './frame';

/** R24: the signed-in person, and the API keys that act as them (a new key is shown once). */
export function profilePage(viewer: Viewer, profile: UserProfile, shown?: { key: string } | { error: string }): AppPage {
  return {
    status: shown && 'error' in shown ? 422 : 200,
    title: 'Your profile and API keys',
    signedIn: viewer,
    body: html`<h1>Your profile and API keys</h1>
      <dl>
        <dt>User ID</dt>
        <dd>${profile.registeredId ?? '–'}</dd>
        <dt>Email</dt>
        <dd>${profile.email}</dd>
        <dt>Name</dt>
        <dd>${profile.fullName ?? '–'}</dd>
      </dl>
      <p><a href="/accounts">Your Smart Accounts</a></p>
      ${
        shown && 'key' in shown
          ? html`<div class="notice" role="status">
              <p>Your new API key. Copy it now: it is shown only this once.</p>
              <p class="key">${shown.key}</p>
            </div>`
          : ''
      }
      ${shown && 'error' in shown ? html`<div class="alert" role="alert"><p>${shown.error}</p></div>` : ''}
      <h2>API keys</h2>
      <p>A key acts with exactly your roles, for scripts and the command line.</p>
      ${dataTable(
        'Your live API keys',
        [
          { header: 'Label', cell: (k) => k.label },
          { header: 'Created', cell: (k) => when(k.createdAt) },
          {
            header: 'Change',
            cell: (k) =>
              html`<form class="inline" method="post" action="/me/api-keys/${k.keyId}/revoke">
                ${csrfInput(viewer.csrfToken)}
                <button type="submit" class="secondary">Revoke<span class="visually-hidden"> ${k.label}</span></button>
              </form>`,
          },
        ],
        profile.apiKeys,
        'No API keys.',
      )}
      <h2>Make a new API key</h2>
      <form method="post" action="/me/api-keys">
        ${csrfInput(viewer.csrfToken)}
        <div class="field">
          <label for="label">What the key is for</label>
          <input type="text" id="label" name="label" maxlength="200" />
        </div>
        <button type="submit">Make a key</button>
      </form>`,
  };
}
