import { daysBetween } from '../common/dates';

/** The facts every order email is written from, and the pieces of the order summary. */
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

export interface OrderSummaryLine {
  lineNumber: number;
  sku: string;
  quantity: number;
  licenseType: 'smart' | 'classic';
  termMonths: number | null;
  state?: string;
  shippedOn?: string | null;
  /** A classic line's License Registration Portal key, for readers allowed to see the order. */
  licenseKey?: string;
  subscription?: { startsOn: string; endsOn: string } | null;
}

/** Who reads this copy: the same event reads differently to the partner, the customer and the holding account's members. */
export type EmailRecipient = 'partner' | 'customer' | 'holding-members' | 'escalation';

export interface OrderEmailFacts {
  orderId: string;
  externalReference: string;
  recipientName?: string;
  /** Who this copy is for; the partner's wording when left out. */
  recipient?: EmailRecipient;
  partnerName: string;
  /** The customer's Smart Account, when known. */
  account?: { name: string; domain: string | null; virtualAccountPath: string | null };
  holdingAccount?: { name: string; virtualAccountPath: string | null };
  lines: OrderSummaryLine[];
  /** Today's date (YYYY-MM-DD) when the email is written, for "running for N days". */
  today: string;
  /** The secure link of a delegation or activation email. */
  link?: string;
  /** When the link stops working (ISO 8601 instant): shown with date, time and zone, since a link may live only minutes. */
  linkExpiresAt?: string;
  reminderNumber?: number;
  heldSince?: string;
  refusalReason?: string;
  requestedDomain?: string;
}

export function describeTerm(line: OrderSummaryLine): string {
  return line.termMonths === null ? 'perpetual' : `${line.termMonths}-month term`;
}

export function describeLine(line: OrderSummaryLine): string {
  const parts = [`${line.sku} x ${line.quantity} (${line.licenseType}, ${describeTerm(line)})`];
  if (line.state) parts.push(line.state);
  if (line.subscription) parts.push(`subscription ${line.subscription.startsOn} to ${line.subscription.endsOn}`);
  else if (line.shippedOn) parts.push(`shipped ${line.shippedOn}`);
  if (line.licenseKey) parts.push(`license key ${line.licenseKey}`);
  return parts.join(', ');
}

export function accountWhere(account: NonNullable<OrderEmailFacts['account']>): string {
  return (
    `${account.name}${account.domain ? ` (${account.domain})` : ''}` +
    (account.virtualAccountPath ? `, virtual account ${account.virtualAccountPath}` : '')
  );
}

/** `2026-03-25 14:05 UTC`: date, time and zone (the instant as given when it is not one). */
export function describeInstant(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return `${at.toISOString().slice(0, 10)} ${at.toISOString().slice(11, 16)} UTC`;
}

/** " (the link can be used once, until 2026-03-25 14:05 UTC)." or "." */
export function linkValidity(facts: OrderEmailFacts): string {
  return facts.linkExpiresAt ? ` (the link can be used once, until ${describeInstant(facts.linkExpiresAt)}).` : '.';
}

/** Term lines whose subscription already runs while the licenses cannot be used (S3). */
export function runningTermWarnings(facts: OrderEmailFacts): string[] {
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
