import { createHash } from 'node:crypto';
import { html, type SafeHtml } from './html';

/**
 * The layout of the pages people sign in to (R23, R24): one stylesheet inlined and allowed by its
 * hash (APP_STYLE_SOURCE), no script at all, a skip link, a banner with the signed-in person and
 * a sign-out button, a navigation landmark, and the page's main content.
 */
export const APP_STYLESHEET = `
:root { color-scheme: light; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 1rem; line-height: 1.5; color: #1b1b1b; background: #fff; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .25rem .5rem; }
header, main, footer, nav { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
header { display: flex; justify-content: space-between; align-items: center; border-bottom: 4px solid #0b4f9c; gap: 1rem; flex-wrap: wrap; }
header p { margin: .75rem 0; font-weight: 600; }
header form { display: flex; gap: .75rem; align-items: center; margin: .5rem 0; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; padding: .5rem 0; margin: 0; border-bottom: 1px solid #c8c8c8; }
nav a[aria-current="page"] { font-weight: 700; text-decoration: none; color: #1b1b1b; border-bottom: 3px solid #0b4f9c; }
a { color: #0b4f9c; }
footer { margin-top: 2rem; border-top: 1px solid #c8c8c8; color: #4a4a4a; font-size: .9rem; }
h1 { font-size: 1.75rem; line-height: 1.25; margin: 1.25rem 0 .75rem; }
h2 { font-size: 1.3rem; margin: 1.75rem 0 .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0 0 1rem; }
dt { font-weight: 600; } dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 0 0 1rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 0 0 .25rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #c8c8c8; vertical-align: top; }
td.num, th.num { text-align: right; }
.short { color: #b00020; font-weight: 700; }
.state-OutOfCompliance, .state-authorization_expired { color: #b00020; font-weight: 600; }
.state-Overage { color: #8a4b00; font-weight: 600; }
form.inline { display: inline; }
.field { margin: 0 0 .75rem; } .field label { display: block; font-weight: 600; }
input[type="text"], input[type="email"], select { font: inherit; padding: .4rem .5rem; width: 100%; max-width: 26rem; box-sizing: border-box; border: 2px solid #4a4a4a; border-radius: 4px; }
input[aria-invalid="true"] { border-color: #b00020; }
button { font: inherit; font-weight: 600; padding: .45rem 1rem; border: 2px solid #0b4f9c; border-radius: 4px; background: #0b4f9c; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #0b4f9c; }
:focus-visible { outline: 3px solid #0b0c0c; outline-offset: 3px; box-shadow: 0 0 0 3px #ffbf47; }
.hint { color: #4a4a4a; margin: .2rem 0 .5rem; }
.field-error { color: #b00020; font-weight: 600; margin: .2rem 0 .5rem; }
.notice { border-left: 5px solid #0b4f9c; background: #eef4fb; padding: .25rem 1rem; margin: 1rem 0; }
.alert { border: 3px solid #b00020; border-radius: 4px; padding: .25rem 1rem; margin: 1rem 0; }
.key { font-family: ui-monospace, monospace; word-break: break-all; background: #f3f3f3; padding: .25rem .5rem; }
figure { margin: 0 0 1.5rem; max-width: 44rem; } figcaption { font-weight: 600; }
svg text { font-family: system-ui, sans-serif; font-size: 12px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
`;

/** The CSP source that allows the stylesheet above and nothing else. */
export const APP_STYLE_SOURCE = `'sha256-${createHash('sha256').update(APP_STYLESHEET, 'utf8').digest('base64')}'`;

export interface AppPage {
  status: number;
  title: string;
  body: SafeHtml;
  /** The signed-in person and the CSRF value of the sign-out form; absent on the sign-in pages. */
  signedIn?: { name: string; csrfToken: string };
  nav?: SafeHtml;
}

/** The whole document. The <style> element is built by concatenation: its text must equal the hashed stylesheet exactly. */
export function renderAppDocument(page: AppPage): string {
  const banner = page.signedIn
    ? html`<header>
        <p>Smart Licensing</p>
        <form method="post" action="/sign-out">
          <span>Signed in as ${page.signedIn.name}</span> <a href="/me">Your profile and API keys</a>
          <input type="hidden" name="csrf" value="${page.signedIn.csrfToken}" />
          <button type="submit" class="secondary">Sign out</button>
        </form>
      </header>`
    : html`<header><p>Smart Licensing</p></header>`;
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" />' +
    '<meta name="robots" content="noindex, nofollow" />' +
    html`<title>${page.title} – Smart Licensing</title>`.value +
    '<style>' +
    APP_STYLESHEET +
    '</style></head><body><a class="skip" href="#main">Skip to the content</a>' +
    banner.value +
    (page.nav?.value ?? '') +
    html`<main id="main">${page.body}</main>`.value +
    '<footer><p>Smart Licensing: licenses, devices and people of your Smart Accounts.</p></footer></body></html>'
  );
}

export function appProblemPage(status: number, title: string, message: string, link?: { href: string; text: string }): AppPage {
  return {
    status,
    title,
    body: html`<h1>${title}</h1>
      <p>${message}</p>
      ${link ? html`<p><a href="${link.href}">${link.text}</a></p>` : ''}`,
  };
}
