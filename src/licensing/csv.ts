/**
 * CSV for the event-log export (RFC 4180): every cell quoted when it holds a comma, a quote or a
 * line break, and a cell a spreadsheet would run as a formula (starting with = + - @, a tab or a
 * carriage return) is prefixed with a single quote, so an export opened in a spreadsheet runs nothing.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n']/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvOf(header: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
