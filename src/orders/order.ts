/**
 * Order domain types and booking validation. Pure: imported (as types, or for pure helpers)
 * by workflows, activities, the client and tests alike.
 */

export type LicenseType = 'smart' | 'classic';

export interface OrderLineInput {
  /** 1-based, unique within the order. */
  lineNumber: number;
  sku: string;
  quantity: number;
  licenseType: LicenseType;
  /** Subscription term in months; absent for a perpetual license. */
  termMonths?: number;
  /** The product is Smart License-enabled: the line must end in a customer Smart Account. */
  smartAccountMandatory: boolean;
}

/** R1: the one assignment choice made at booking. */
export type Assignment =
  | { kind: 'smart_account'; accountId: string; virtualAccountPath?: string }
  | { kind: 'holding_account'; accountId: string; virtualAccountPath?: string }
  | { kind: 'request_smart_account'; domain: string }
  | { kind: 'delegate' };

export interface ContactInput {
  email: string;
  fullName?: string;
  /** The contact's registered user ID (cisco.com-style ID), if they have one. */
  registeredId?: string;
}

export interface BookOrderInput {
  /** The ordering system's own reference; re-sending it books nothing new (S9). */
  externalReference: string;
  /** The partner (or distributor) that places the order. */
  bookedByPartnerId: string;
  /** The selling partner; defaults to bookedByPartnerId. A distributor names its reseller (R10). */
  partnerId?: string;
  assignment: Assignment;
  endCustomerContact?: ContactInput;
  lines: OrderLineInput[];
}

/** What the workflow is started with: the validated booking plus its derived identity. */
export interface OrderFulfillmentInput extends Omit<BookOrderInput, 'partnerId'> {
  orderId: string;
  partnerId: string;
}

export type LineState = 'booked' | 'held' | 'deposited' | 'shipped' | 'provisioned' | 'cancelled';

export interface FieldError {
  field: string;
  reason: string;
}

export class ValidationError extends Error {
  constructor(readonly errors: FieldError[]) {
    super('Invalid input: ' + errors.map((e) => `${e.field}: ${e.reason}`).join('; '));
    this.name = 'ValidationError';
  }
}

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const DOMAIN_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
// The local part is a dot-atom (RFC 5321): no control characters (Postgres refuses NUL, and mail
// libraries silently drop others), no leading, trailing or doubled dot (strict SMTP servers refuse it).
const EMAIL_ATOM = '[^\\s\\x00-\\x1f\\x7f-\\x9f\\u200b\\u2060@<>()[\\]\\\\,;:".]+';
export const EMAIL_PATTERN = new RegExp(
  `^(?=[^@]{1,64}@)${EMAIL_ATOM}(?:\\.${EMAIL_ATOM})*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$`,
  'i',
);
/** One line of text: no line break nor any other control character. */
export const CONTROL_CHARACTERS = /[\x00-\x1f\x7f]/;
// One name: 1-80 characters, no "/" or line breaks, no leading or trailing white space.
const VIRTUAL_ACCOUNT_NAME = '[^/\\s\\x00-\\x1f\\x7f](?:[^/\\x00-\\x1f\\x7f]{0,78}[^/\\s\\x00-\\x1f\\x7f])?';
export const VIRTUAL_ACCOUNT_PATH_PATTERN = new RegExp(`^${VIRTUAL_ACCOUNT_NAME}(?:/${VIRTUAL_ACCOUNT_NAME}){0,15}$`);
export const SKU_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._\-/+]{0,63}$/;
export const MAX_LINES = 500;
export const MAX_LINE_NUMBER = 999_999;
/** The most one booking line may hold. */
export const MAX_LINE_QUANTITY = 1_000_000;
export const MAX_TERM_MONTHS = 120;

export function isValidDomain(domain: string): boolean {
  return DOMAIN_PATTERN.test(domain);
}

export function isValidEmail(email: string): boolean {
  return EMAIL_PATTERN.test(email);
}

/** The domain part of an address that isValidEmail accepted ("" when there is no "@"). */
export function emailDomain(email: string): string {
  const at = email.lastIndexOf('@');
  return at < 0 ? '' : email.slice(at + 1).toLowerCase();
}

/** The lines of a booking: numbered uniquely, a known SKU and license type, a sane quantity and term. */
function validateOrderLines(lines: unknown, fail: (field: string, reason: string) => void): void {
  if (!Array.isArray(lines) || lines.length === 0) {
    fail('lines', 'must be a non-empty list');
  } else if (lines.length > MAX_LINES) {
    fail('lines', `must have at most ${MAX_LINES} lines`);
  } else {
    const seen = new Set<unknown>();
    lines.forEach((raw, i) => {
      const at = `lines[${i}]`;
      if (typeof raw !== 'object' || raw === null) return fail(at, 'must be an object');
      const line = raw as Record<string, unknown>;
      if (!Number.isInteger(line.lineNumber) || (line.lineNumber as number) < 1 || (line.lineNumber as number) > MAX_LINE_NUMBER) {
        fail(`${at}.lineNumber`, `must be a whole number from 1 to ${MAX_LINE_NUMBER}`);
      } else if (seen.has(line.lineNumber)) {
        fail(`${at}.lineNumber`, `duplicates line ${String(line.lineNumber)}`);
      }
      seen.add(line.lineNumber);
      if (typeof line.sku !== 'string' || !SKU_PATTERN.test(line.sku)) fail(`${at}.sku`, 'must be 1-64 letters, digits or ._-/+');
      if (!Number.isInteger(line.quantity) || (line.quantity as number) < 1 || (line.quantity as number) > MAX_LINE_QUANTITY) {
        fail(`${at}.quantity`, `must be a whole number from 1 to ${MAX_LINE_QUANTITY}`);
      }
      if (line.licenseType !== 'smart' && line.licenseType !== 'classic') fail(`${at}.licenseType`, 'must be smart or classic');
      if (
        line.termMonths !== undefined &&
        (!Number.isInteger(line.termMonths) || (line.termMonths as number) < 1 || (line.termMonths as number) > MAX_TERM_MONTHS)
      ) {
        fail(`${at}.termMonths`, `must be a whole number of months from 1 to ${MAX_TERM_MONTHS}, or absent for perpetual`);
      }
      if (typeof line.smartAccountMandatory !== 'boolean') fail(`${at}.smartAccountMandatory`, 'must be true or false');
      if (line.licenseType === 'classic' && line.smartAccountMandatory === true) {
        fail(`${at}.smartAccountMandatory`, 'a classic license cannot be Smart Account mandatory');
      }
    });
  }
}

/** Checks a booking before anything is started or written; every problem names its field. */
export function validateBookOrderInput(input: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const fail = (field: string, reason: string) => errors.push({ field, reason });
  if (typeof input !== 'object' || input === null) return [{ field: '(body)', reason: 'must be an object' }];
  const o = input as Record<string, unknown>;

  const id = (field: string, value: unknown, required: boolean) => {
    if (value === undefined && !required) return;
    if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
      fail(field, 'must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit');
    }
  };
  id('externalReference', o.externalReference, true);
  id('bookedByPartnerId', o.bookedByPartnerId, true);
  id('partnerId', o.partnerId, false);

  const assignment = o.assignment as Record<string, unknown> | undefined;
  if (typeof assignment !== 'object' || assignment === null) {
    fail('assignment', 'is required');
  } else {
    switch (assignment.kind) {
      case 'smart_account':
      case 'holding_account':
        id('assignment.accountId', assignment.accountId, true);
        if (assignment.virtualAccountPath !== undefined) {
          const path = assignment.virtualAccountPath;
          if (typeof path !== 'string' || !VIRTUAL_ACCOUNT_PATH_PATTERN.test(path)) {
            fail(
              'assignment.virtualAccountPath',
              'must be names of 1-80 characters, not starting or ending with a space, joined by "/", at most 16 deep',
            );
          }
        }
        break;
      case 'request_smart_account':
        if (typeof assignment.domain !== 'string' || !isValidDomain(assignment.domain)) {
          fail('assignment.domain', 'must be a lower-case domain name such as acme.com');
        }
        if (o.endCustomerContact === undefined) fail('endCustomerContact', 'is required to request a Smart Account');
        break;
      case 'delegate':
        if (o.endCustomerContact === undefined) fail('endCustomerContact', 'is required to delegate the choice');
        break;
      default:
        fail('assignment.kind', 'must be one of smart_account, holding_account, request_smart_account, delegate');
    }
  }

  if (o.endCustomerContact !== undefined) {
    const c = o.endCustomerContact as Record<string, unknown>;
    if (typeof c !== 'object' || c === null) {
      fail('endCustomerContact', 'must be an object');
    } else {
      if (typeof c.email !== 'string' || !isValidEmail(c.email)) fail('endCustomerContact.email', 'must be an email address');
      if (c.fullName !== undefined && (typeof c.fullName !== 'string' || c.fullName.length > 200 || CONTROL_CHARACTERS.test(c.fullName))) {
        fail('endCustomerContact.fullName', 'must be one line of at most 200 characters');
      }
      if (c.registeredId !== undefined) id('endCustomerContact.registeredId', c.registeredId, true);
    }
  }

  validateOrderLines(o.lines, fail);
  return errors;
}

/** Checks the shape of an assignment request (Update validator and API alike). */
export function validateAssignmentRequest(input: unknown): FieldError[] {
  if (typeof input !== 'object' || input === null) return [{ field: '(body)', reason: 'must be an object' }];
  const o = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const field of ['accountId', 'actingPartnerId'] as const) {
    if (typeof o[field] !== 'string' || !ID_PATTERN.test(o[field])) {
      errors.push({ field, reason: 'must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit' });
    }
  }
  if (
    o.virtualAccountPath !== undefined &&
    (typeof o.virtualAccountPath !== 'string' || !VIRTUAL_ACCOUNT_PATH_PATTERN.test(o.virtualAccountPath))
  ) {
    errors.push({
      field: 'virtualAccountPath',
      reason: 'must be names of 1-80 characters, not starting or ending with a space, joined by "/", at most 16 deep',
    });
  }
  return errors;
}
