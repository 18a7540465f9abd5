import { html, type SafeHtml } from './html';

/**
 * One accessible table component for the pages: a caption, column headers with scope, numbers
 * right-aligned, and a sentence instead of an empty table.
 */
export interface Column<Row> {
  header: string;
  cell: (row: Row) => SafeHtml | string | number;
  numeric?: boolean;
}

export function dataTable<Row>(caption: string, columns: Array<Column<Row>>, rows: readonly Row[], empty: string): SafeHtml {
  if (rows.length === 0) return html`<p>${empty}</p>`;
  return html`<table>
    <caption>
      ${caption}
    </caption>
    <thead>
      <tr>
        ${columns.map((c) => html`<th scope="col" class="${c.numeric ? 'num' : ''}">${c.header}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (row) =>
          html`<tr>
            ${columns.map((c) => html`<td class="${c.numeric ? 'num' : ''}">${c.cell(row)}</td>`)}
          </tr>`,
      )}
    </tbody>
  </table>`;
}
