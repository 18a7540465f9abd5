import { escapeHtml } from '../orders/email-templates';

/**
 * HTML built by a tagged template that escapes every interpolated value unless it is already
 * HTML built the same way, so no page can forget to escape a name, an SKU or an error message.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolated = SafeHtml | string | number | boolean | null | undefined | Interpolated[];

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0];
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1];
  });
  return new SafeHtml(out);
}

/** Text the page itself wrote (never user input), to be placed as is. */
export function trusted(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
