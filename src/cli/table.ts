/**
 * The CLI's text output: aligned tables and "key  value" blocks. The one place that formats for
 * people; --json output bypasses it entirely.
 */

export type Cell = string | number | boolean | null | undefined;

/**
 * A value as one printable line. Text from the API can come from other parties (names,
 * references, reasons), so control characters are replaced: a value can neither break the
 * table's layout nor send escape sequences to the operator's terminal.
 */
export function cellText(value: Cell): string {
  if (value === null || value === undefined || value === '') return '-';
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}

/** Columns padded to their widest cell, two spaces apart; numbers right-aligned. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || row[i] === null || row[i] === undefined),
  );
  const widths = headers.map((header, i) => Math.max(header.length, ...text.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h, i) => (numeric[i] ? h.padStart(widths[i]) : h))), ...text.map(line)].join('\n');
}

/** "Label   value" lines, labels padded to the longest; pairs whose value is undefined are left out. */
export function formatKeyValues(pairs: Array<[string, Cell]>): string {
  const shown = pairs.filter(([, value]) => value !== undefined);
  const width = Math.max(0, ...shown.map(([label]) => label.length));
  return shown.map(([label, value]) => `${label.padEnd(width)}  ${cellText(value)}`).join('\n');
}
