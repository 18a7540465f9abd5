import { createHash } from 'node:crypto';
import { html, trusted, type SafeHtml } from './html';

/**
 * The one stylesheet of the customer pages, inlined in each page. The Content-Security-Policy
 * allows exactly this text by its hash (STYLE_SOURCE), so no other style, and no script at all,
 * can run on a page that carries a link token. Readable without it: every page is plain HTML.
 */
export const STYLESHEET = `
:root { color-scheme: light; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 1rem; line-height: 1.5; color: #1b1b1b; background: #fff; }
header, main, footer { max-width: 46rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 4px solid #0b4f9c; }
header p { margin: .75rem 0; font-weight: 600; }
footer { margin-top: 2rem; border-top: 1px solid #c8c8c8; color: #4a4a4a; font-size: .9rem; }
h1 { font-size: 1.75rem; line-height: 1.25; margin: 1.25rem 0 .75rem; }
h2 { font-size: 1.3rem; margin: 1.75rem 0 .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0 0 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 0 0 1rem; }
caption { text-align: left; font-weight: 600; padding: 0 0 .25rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #c8c8c8; vertical-align: top; }
fieldset { border: 2px solid #767676; border-radius: 4px; margin: 0 0 1rem; padding: .5rem 1rem 1rem; }
fieldset fieldset { border-width: 1px; }
legend { font-weight: 600; padding: 0 .3rem; }
.option { display: flex; gap: .6rem; align-items: flex-start; margin: .4rem 0; }
.option input { margin-top: .25rem; }
input[type="radio"] { width: 1.2rem; height: 1.2rem; flex: none; }
label { font-weight: 500; }
.field label { display: block; font-weight: 600; }
input[type="text"] { font: inherit; padding: .45rem .5rem; width: 100%; max-width: 30rem; box-sizing: border-box; border: 2px solid #4a4a4a; border-radius: 4px; }
input[aria-invalid="true"], fieldset[aria-invalid="true"] { border-color: #b00020; }
button { font: inherit; font-weight: 600; padding: .55rem 1.1rem; border: 2px solid #0b4f9c; border-radius: 4px; background: #0b4f9c; color: #fff; cursor: pointer; }
button:hover { background: #083b75; border-color: #083b75; }
:focus-visible { outline: 3px solid #0b0c0c; outline-offset: 3px; box-shadow: 0 0 0 3px #ffbf47; }
.hint { color: #4a4a4a; margin: .2rem 0 .5rem; }
.field-error { color: #b00020; font-weight: 600; margin: .2rem 0 .5rem; }
.alert { border: 3px solid #b00020; border-radius: 4px; padding: .25rem 1rem; margin: 1rem 0; }
.alert h2 { margin-top: .5rem; font-size: 1.15rem; }
.notice { border-left: 5px solid #0b4f9c; background: #eef4fb; padding: .25rem 1rem; margin: 1rem 0; }
.status { font-weight: 400; }
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
`;

/** The CSP source that allows the stylesheet above and nothing else. */
export const STYLE_SOURCE = `'sha256-${createHash('sha256').update(STYLESHEET, 'utf8').digest('base64')}'`;

/**
 * The <style> element, built outside the html template: the CSP hash covers the element's exact
 * text, and a formatter re-indenting the template would otherwise add whitespace to it.
 */
const STYLE_ELEMENT = trusted('<style>' + STYLESHEET + '</style>');

export interface Page {
  status: number;
  title: string;
  body: SafeHtml;
}

/** A whole document: language, title, the stylesheet, a banner, the page's main content. */
export function renderDocument(page: Pick<Page, 'title' | 'body'>): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        <title>${page.title} – Smart Licensing</title>
        ${STYLE_ELEMENT}
      </head>
      <body>
        <header><p>Smart Licensing order fulfillment</p></header>
        <main id="main">${page.body}</main>
        <footer><p>This page belongs to a personal, single-use link from an email. Do not share it.</p></footer>
      </body>
    </html> `.value;
}
