import { html, type SafeHtml } from './html';

/** A navigation landmark; the current page is marked with aria-current. */
export function navBar(label: string, items: Array<{ href: string; text: string }>, currentHref: string): SafeHtml {
  return html`<nav aria-label="${label}">
    <ul>
      ${items.map(
        (item) =>
          html`<li>
            <a href="${item.href}" ${item.href === currentHref ? html`aria-current="page"` : ''}>${item.text}</a>
          </li>`,
      )}
    </ul>
  </nav>`;
}
