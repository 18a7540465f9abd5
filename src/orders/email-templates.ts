/**
 * Email templates: pure functions from facts to a subject, a text body and an HTML body. Each
 * email says what happened, what the reader must do (with the link when there is one) and the
 * order summary. Every interpolated value in the HTML is escaped; subjects are one line.
 */
import { daysBetween } from '../common/dates';

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
  state?: string;
  shippedOn?: string | null;
  subscription?: { startsOn: string; endsOn: string } | null;
  /** A classic line's License Registration Portal key, for readers allowed to see the order. */
  licenseKey?: string;
}

export const EMAIL_TEMPLATES = [
  'deposit-confirmation',
  'transfer-needed',
  'transfer-reminder',
  'escalation',
  'order-fulfilled',
  'order-cancelled',
  'delegation-request',
  'assignment-refused',
  'activation-request',
  'delegation-unanswered',
] as const;
export type EmailTemplate = (typeof EMAIL_TEMPLATES)[number];

export interface OrderEmailFacts {
  orderId: string;
  externalReference: string;
  recipientName?: string;
  partnerName: string;
  /** The customer's Smart Account, when known. */
  account?: { name: string; domain: string | null; virtualAccountPath: string | null };
  holdingAccount?: { name: string; virtualAccountPath: string | null };
  lines: OrderSummaryLine[];
  /** Today's date (YYYY-MM-DD) when the email is written, for "running for N days". */
  today: string;
  /** The secure link of a delegation or activation email. */
  link?: string;
  linkExpiresOn?: string;
  reminderNumber?: number;
  heldSince?: string;
  refusalReason?: string;
  requestedDomain?: string;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').trim();
}

function describeTerm(line: OrderSummaryLine): string {
  return line.termMonths === null ? 'perpetual' : `${line.termMonths}-month term`;
}

function describeLine(line: OrderSummaryLine): string {
  const parts = [`${line.sku} x ${line.quantity} (${line.licenseType}, ${describeTerm(line)})`];
  if (line.state) parts.push(line.state);
  if (line.subscription) parts.push(`subscription ${line.subscription.startsOn} to ${line.subscription.endsOn}`);
  else if (line.shippedOn) parts.push(`shipped ${line.shippedOn}`);
  if (line.licenseKey) parts.push(`license key ${line.licenseKey}`);
  return parts.join(', ');
}

function accountWhere(account: NonNullable<OrderEmailFacts['account']>): string {
  return (
    `${account.name}${account.domain ? ` (${account.domain})` : ''}` +
    (account.virtualAccountPath ? `, virtual account ${account.virtualAccountPath}` : '')
  );
}

/** Term lines whose subscription already runs while the licenses cannot be used (S3). */
function runningTermWarnings(facts: OrderEmailFacts): string[] {
  return facts.lines
    .filter((line) => line.subscription && line.state !== 'provisioned' && line.state !== 'cancelled')
    .map((line) => {
      const days = Math.max(0, daysBetween(line.subscription!.startsOn, facts.today));
      return (
        `Line ${line.lineNumber} (${line.sku}) shipped on ${line.subscription!.startsOn}: its ${line.termMonths}-month subscription ` +
        `has been running for ${days} day${days === 1 ? '' : 's'} and ends on ${line.subscription!.endsOn} whatever happens; ` +
        'the customer cannot use it until it is in their active Smart Account.'
      );
    });
}

interface Content {
  subject: string;
  /** Paragraphs of what happened. */
  happened: string[];
  /** What the reader must do, or undefined when nothing. */
  todo?: string;
  warnings?: string[];
}

function content(template: EmailTemplate, facts: OrderEmailFacts): Content {
  const ref = facts.externalReference;
  const held = facts.holdingAccount
    ? `${facts.holdingAccount.name}${facts.holdingAccount.virtualAccountPath ? `, virtual account ${facts.holdingAccount.virtualAccountPath}` : ''}`
    : 'the Partner Holding Account';
  switch (template) {
    case 'deposit-confirmation':
      return {
        subject: `Order ${ref}: licenses deposited in ${facts.account?.name ?? 'the Smart Account'}`,
        happened: [
          `The licenses of order ${ref} (order ID ${facts.orderId}) have been deposited in ${facts.account ? `the Smart Account ${accountWhere(facts.account)}` : "the customer's Smart Account"}.`,
          'Smart licenses are activated there when their lines ship; classic licenses then appear in the License Registration Portal.',
        ],
        todo: 'Nothing is needed from you.',
      };
    case 'transfer-needed':
      return {
        subject: `Action needed: order ${ref} is in your holding account and must be moved to the customer's Smart Account`,
        happened: [
          `The licenses of order ${ref} (order ID ${facts.orderId}) have been deposited in ${held}. ` +
            'Licenses in a Partner Holding Account can be neither consumed nor activated.',
        ],
        todo: "This order contains Smart Account-mandatory lines: assign the customer's active Smart Account so that the licenses are transferred and activated.",
        warnings: runningTermWarnings(facts),
      };
    case 'transfer-reminder':
      return {
        subject: `Reminder${facts.reminderNumber ? ` ${facts.reminderNumber}` : ''}: order ${ref} is still in your holding account`,
        happened: [`Order ${ref} (order ID ${facts.orderId}) has been waiting in ${held} since ${facts.heldSince ?? 'it was booked'}.`],
        todo: "Assign the customer's active Smart Account to transfer and activate the licenses.",
        warnings: runningTermWarnings(facts),
      };
    case 'escalation':
      return {
        subject: `Escalation: order ${ref} of ${facts.partnerName} has waited in a holding account since ${facts.heldSince ?? 'booking'}`,
        happened: [
          `Order ${ref} (order ID ${facts.orderId}) of ${facts.partnerName} has sat in ${held} since ${facts.heldSince ?? 'booking'}, ` +
            "and the customer's Smart Account has still not been assigned despite the reminders.",
        ],
        todo: "Please follow up with the partner so that the customer's Smart Account is assigned. The order is kept; it is never dropped.",
        warnings: runningTermWarnings(facts),
      };
    case 'order-fulfilled':
      return {
        subject: `Order ${ref} is fulfilled`,
        happened: [
          `Every line of order ${ref} (order ID ${facts.orderId}) is provisioned` +
            (facts.account ? ` in the Smart Account ${accountWhere(facts.account)}.` : '.'),
          'Smart licenses are active in the Smart Account; classic licenses are available in the License Registration Portal.',
        ],
        todo: 'Nothing is needed from you. Work with the customer to deploy the licenses.',
      };
    case 'order-cancelled':
      return {
        subject: `Order ${ref} is cancelled`,
        happened: [
          `Order ${ref} (order ID ${facts.orderId}) has been cancelled; licenses that were held or deposited have been withdrawn.`,
        ],
      };
    case 'delegation-request':
      return {
        subject: `${facts.reminderNumber ? `Reminder ${facts.reminderNumber}: c` : 'C'}hoose the Smart Account for your order ${ref}`,
        happened: [
          `${facts.partnerName} has placed order ${ref} for you and asks you to choose the Smart Account that will receive its licenses.`,
        ],
        todo:
          "Open the secure link below to pick one of your company's Smart Accounts, or to create one if you have none" +
          (facts.linkExpiresOn ? ` (the link can be used once, until ${facts.linkExpiresOn}).` : '.'),
        warnings: runningTermWarnings(facts),
      };
    case 'delegation-unanswered':
      return {
        subject: `Action needed: the customer has not chosen a Smart Account for order ${ref}`,
        happened: [
          `The end customer was asked on ${facts.heldSince ?? 'booking'} to choose the Smart Account for order ${ref} (order ID ${facts.orderId}) ` +
            `and has not answered${facts.reminderNumber ? ` after ${facts.reminderNumber} reminder${facts.reminderNumber === 1 ? '' : 's'}` : ''}.`,
          'The customer keeps getting reminders with a fresh link; the order is kept and never dropped.',
        ],
        todo: "Contact the customer, or assign the customer's active Smart Account to the order yourself (API or CLI: orders assign).",
        warnings: runningTermWarnings(facts),
      };
    case 'assignment-refused':
      return {
        subject: `Action needed: order ${ref} could not be assigned`,
        happened: [
          `The account assignment of order ${ref} (order ID ${facts.orderId}) was refused: ${facts.refusalReason ?? 'no reason given'}.`,
          'The order is kept and waits for a valid assignment.',
        ],
        todo: "Assign the customer's active Smart Account (or your holding account) to the order.",
        warnings: runningTermWarnings(facts),
      };
    case 'activation-request':
      return {
        subject: facts.reminderNumber
          ? `Reminder ${facts.reminderNumber}: activate your new Smart Account ${facts.requestedDomain ?? ''}`.trim()
          : `Activate your new Smart Account ${facts.requestedDomain ?? ''}`.trim(),
        happened: [
          `A Smart Account for ${facts.requestedDomain ?? 'your company'} has been requested for you. ` +
            'Orders placed for you wait until it is active.',
        ],
        todo:
          'Open the secure link below to activate the Smart Account' +
          (facts.linkExpiresOn ? ` (the link can be used once, until ${facts.linkExpiresOn}).` : '.'),
      };
  }
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
