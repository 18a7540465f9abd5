/**
 * License-use emails (R20, R25): an alert, and a true-up's overage report. Pure functions from
 * facts to subject, text and HTML, in the style of src/orders/email-templates.ts: what happened,
 * what to do, every interpolated value escaped in the HTML, subjects on one line.
 */
import { escapeHtml, type RenderedEmail } from '../orders/email-templates';
import type { AlertKind } from './alerts';

export const LICENSE_EMAIL_TEMPLATES = ['license-alert', 'true-up-report'] as const;

export interface AlertEmailFacts {
  kind: AlertKind;
  message: string;
  accountName: string;
  virtualAccountPath: string | null;
  day: string;
  recipientName?: string;
  pagesUrl: string;
}

const ALERT_TITLES: Record<AlertKind, string> = {
  insufficient_licenses: 'Insufficient licenses',
  licenses_expiring: 'Licenses expiring',
  licenses_expired: 'Licenses expired',
  failed_to_connect: 'Product instance failed to connect',
  authorization_expired: 'Product instance authorization expired',
  instance_removed: 'Product instance removed',
  overage_report: 'Overage report',
};

const ALERT_TODO: Record<AlertKind, string> = {
  insufficient_licenses: 'Order more licenses, move licenses from another virtual account, or reduce what the devices use.',
  licenses_expiring: 'Renew the subscription before it ends, or the devices using these licenses will be out of compliance.',
  licenses_expired: 'Renew the subscription to put the licenses back in the pool.',
  failed_to_connect: 'Check that the device can reach the licensing service; it keeps its licenses until its authorization expires.',
  authorization_expired: 'Reconnect the device: it is authorized again when it next reports.',
  instance_removed: 'Register the device again with a new registration token if it is still in use.',
  overage_report: 'Review the overage report and approve the true-up order.',
};

function oneLine(value: string): string {
  return value
    .replace(/[\r\n]+/g, ' ')
    .trim()
    .replace(/=\?/g, '=\u200b?');
}

function render(subject: string, greetingName: string | undefined, paragraphs: string[], todo: string, tableHtml = ''): RenderedEmail {
  const greeting = greetingName ? `Hello ${oneLine(greetingName)},` : 'Hello,';
  const text = [greeting, '', ...paragraphs.flatMap((p) => [p, '']), `What to do: ${todo}`, '', 'Smart Licensing'].join('\n');
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>` +
    '<body style="font-family: sans-serif">' +
    `<p>${escapeHtml(greeting)}</p>` +
    paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('') +
    tableHtml +
    `<p><strong>What to do:</strong> ${escapeHtml(todo)}</p>` +
    '</body></html>';
  return { subject, text, html };
}

export function renderAlertEmail(facts: AlertEmailFacts): RenderedEmail {
  const where = facts.virtualAccountPath ? `${facts.accountName} / ${facts.virtualAccountPath}` : facts.accountName;
  const subject = oneLine(`${ALERT_TITLES[facts.kind]}: ${where}`);
  return render(
    subject,
    facts.recipientName,
    [
      `${ALERT_TITLES[facts.kind]} in ${where} (${facts.day}): ${oneLine(facts.message)}.`,
      `See every alert of the account at ${facts.pagesUrl}.`,
    ],
    ALERT_TODO[facts.kind],
  );
}

export interface TrueUpReportFacts {
  accountName: string;
  period: { startsOn: string; endsOn: string };
  lines: Array<{ virtualAccountPath: string; sku: string; peak: number }>;
  orderReferences: string[];
  recipientName?: string;
}

export function renderTrueUpReportEmail(facts: TrueUpReportFacts): RenderedEmail {
  const subject = oneLine(`Overage report ${facts.period.startsOn} to ${facts.period.endsOn}: ${facts.accountName}`);
  const text = facts.lines.map((l) => `${l.virtualAccountPath}: ${l.sku} peak overage ${l.peak}`);
  const table =
    '<table role="presentation" border="1" cellpadding="4" cellspacing="0"><thead><tr><th>Virtual account</th><th>SKU</th><th>Peak overage</th></tr></thead><tbody>' +
    facts.lines
      .map((l) => `<tr><td>${escapeHtml(l.virtualAccountPath)}</td><td>${escapeHtml(l.sku)}</td><td>${l.peak}</td></tr>`)
      .join('') +
    '</tbody></table>';
  return render(
    subject,
    facts.recipientName,
    [
      `In the period from ${facts.period.startsOn} to ${facts.period.endsOn}, ${facts.accountName} used licenses beyond its purchase, within its overage agreement.`,
      ...text,
      `A true-up order for the peak overage was booked: ${facts.orderReferences.join(', ')}. It deposits the licenses once approved.`,
    ],
    'Approve the true-up (POST /v1/accounts/{accountId}/true-ups/{period}/approve) as a Smart Account admin or the partner of record.',
    table,
  );
}
