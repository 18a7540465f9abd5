/**
 * Email templates: pure functions from facts to a subject, a text body and an HTML body.
 * Every interpolated value in the HTML is escaped; subjects are single-line by construction.
 */

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export interface OrderSummaryLine {
  lineNumber: number;
  sku: string;
  quantity: number;
  licenseType: 'smart' | 'classic';
  termMonths: number | null;
}

export interface DepositConfirmationFacts {
  orderId: string;
  externalReference: string;
  recipientName?: string;
  accountName: string;
  accountDomain: string | null;
  virtualAccountPath: string | null;
  lines: OrderSummaryLine[];
}

export type EmailTemplate = 'deposit-confirmation';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

function describeTerm(line: OrderSummaryLine): string {
  return line.termMonths === null ? 'perpetual' : `${line.termMonths}-month term`;
}

function linesAsText(lines: OrderSummaryLine[]): string {
  return lines
    .map((l) => `  ${l.lineNumber}. ${l.sku} x ${l.quantity} (${l.licenseType}, ${describeTerm(l)})`)
    .join('\n');
}

function linesAsHtml(lines: OrderSummaryLine[]): string {
  const rows = lines
    .map(
      (l) =>
        `<tr><td>${l.lineNumber}</td><td>${escapeHtml(l.sku)}</td><td>${l.quantity}</td>` +
        `<td>${l.licenseType}</td><td>${escapeHtml(describeTerm(l))}</td></tr>`,
    )
    .join('');
  return (
    '<table role="presentation" border="1" cellpadding="4" cellspacing="0">' +
    '<thead><tr><th>Line</th><th>SKU</th><th>Quantity</th><th>License</th><th>Term</th></tr></thead>' +
    `<tbody>${rows}</tbody></table>`
  );
}

function htmlPage(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
    `<body style="font-family: sans-serif">${body}</body></html>`
  );
}

export function renderDepositConfirmation(facts: DepositConfirmationFacts): RenderedEmail {
  const where =
    `${facts.accountName}${facts.accountDomain ? ` (${facts.accountDomain})` : ''}` +
    (facts.virtualAccountPath ? `, virtual account ${facts.virtualAccountPath}` : '');
  const greeting = facts.recipientName ? `Hello ${oneLine(facts.recipientName)},` : 'Hello,';
  const subject = oneLine(`Order ${facts.externalReference}: licenses deposited in ${facts.accountName}`);
  const text = [
    greeting,
    '',
    `The licenses of order ${facts.externalReference} (order ID ${facts.orderId}) have been deposited in the Smart Account ${where}.`,
    'Smart licenses are activated there when their lines ship; nothing else is needed from you.',
    '',
    'Order lines:',
    linesAsText(facts.lines),
    '',
    'Smart Licensing order fulfillment',
  ].join('\n');
  const html = htmlPage(
    subject,
    `<p>${escapeHtml(greeting)}</p>` +
      `<p>The licenses of order <strong>${escapeHtml(facts.externalReference)}</strong> (order ID ${escapeHtml(facts.orderId)}) ` +
      `have been deposited in the Smart Account <strong>${escapeHtml(where)}</strong>.</p>` +
      '<p>Smart licenses are activated there when their lines ship; nothing else is needed from you.</p>' +
      linesAsHtml(facts.lines),
  );
  return { subject, text, html };
}
