/**
 * Email templates: pure functions from facts to a subject, a text body and an HTML body. Each
 * email says what happened, what the reader must do (with the link when there is one) and the
 * order summary; the words per template and recipient are in email-content.ts. Every
 * interpolated value in the HTML is escaped; subjects are one line.
 */
import { content } from './email-content';
import { describeLine, describeTerm, type EmailTemplate, type OrderEmailFacts, type OrderSummaryLine } from './email-facts';

export { EMAIL_TEMPLATES, type EmailRecipient, type EmailTemplate, type OrderEmailFacts, type OrderSummaryLine } from './email-facts';

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

function linesAsText(lines: OrderSummaryLine[]): string {
  return lines.map((l) => `  ${l.lineNumber}. ${describeLine(l)}`).join('\n');
}

function linesAsHtml(lines: OrderSummaryLine[]): string {
  const rows = lines
    .map(
      (l) =>
        `<tr><td>${l.lineNumber}</td><td>${escapeHtml(l.sku)}</td><td>${l.quantity}</td><td>${l.licenseType}</td>` +
        `<td>${escapeHtml(describeTerm(l))}</td><td>${escapeHtml(l.state ?? '')}${l.licenseKey ? `, license key ${escapeHtml(l.licenseKey)}` : ''}</td>` +
        `<td>${l.subscription ? `${escapeHtml(l.subscription.startsOn)} to ${escapeHtml(l.subscription.endsOn)}` : escapeHtml(l.shippedOn ?? '')}</td></tr>`,
    )
    .join('');
  return (
    '<table role="presentation" border="1" cellpadding="4" cellspacing="0">' +
    '<thead><tr><th>Line</th><th>SKU</th><th>Quantity</th><th>License</th><th>Term</th><th>State</th><th>Shipped / subscription</th></tr></thead>' +
    `<tbody>${rows}</tbody></table>`
  );
}

export function renderOrderEmail(template: EmailTemplate, facts: OrderEmailFacts): RenderedEmail {
  const c = content(template, facts);
  const name = facts.recipientName ? oneLine(facts.recipientName) : '';
  const greeting = name ? `Hello ${name},` : 'Hello,';
  // "=?...?=" would be read as a MIME encoded word (RFC 2047) by the reader's client: break it up.
  const subject = oneLine(c.subject).replace(/=\?/g, '=\u200b?');
  const text = [
    greeting,
    '',
    ...c.happened.flatMap((p) => [p, '']),
    ...(c.warnings ?? []).flatMap((w) => [`Note: ${w}`, '']),
    ...(c.todo ? [`What to do: ${c.todo}`, ''] : []),
    ...(facts.link ? [facts.link, ''] : []),
    ...(facts.lines.length ? [`Order ${facts.externalReference}:`, linesAsText(facts.lines), ''] : []),
    'Smart Licensing order fulfillment',
  ].join('\n');
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>` +
    '<body style="font-family: sans-serif">' +
    `<p>${escapeHtml(greeting)}</p>` +
    c.happened.map((p) => `<p>${escapeHtml(p)}</p>`).join('') +
    (c.warnings ?? []).map((w) => `<p><strong>Note:</strong> ${escapeHtml(w)}</p>`).join('') +
    (c.todo ? `<p><strong>What to do:</strong> ${escapeHtml(c.todo)}</p>` : '') +
    (facts.link ? `<p><a href="${escapeHtml(facts.link)}">${escapeHtml(facts.link)}</a></p>` : '') +
    (facts.lines.length ? `<h2>Order ${escapeHtml(facts.externalReference)}</h2>` + linesAsHtml(facts.lines) : '') +
    '</body></html>';
  return { subject, text, html };
}
