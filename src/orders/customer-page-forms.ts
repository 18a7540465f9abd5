import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowUpdateFailedError } from '@temporalio/client';
import type { FastifyError, FastifyReply } from 'fastify';
import type { SmartAccountChoice } from '../accounts/customer-links';
import type { Db } from '../db/knex';
import type { OrderLineRow } from '../db/rows';
import { renderDocument, type Page } from '../web/layout';
import { parseDestination, problemPage, type OrderSummary } from './customer-pages';
import type { FieldError } from './order';
import type { CustomerChoice } from './workflow-api';

/**
 * The pieces of the customer pages' handlers (customer-page-routes.ts): reading the form, the
 * order summary a page shows, and how a refusal or a bad request reads as a page.
 */

/** A form of a few fields; anything larger is not from these pages. */
export const FORM_BODY_LIMIT = 16 * 1024;

const ACCOUNT_NAME_MAX = 120;

/** A page to answer with, thrown from anywhere in a handler. */
export class PageResponse extends Error {
  constructor(readonly page: Page) {
    super(page.title);
    this.name = 'PageResponse';
  }
}

/** Order states that take no customer choice any more. */
export const CLOSED_ORDER_STATUSES = ['Cancelled', 'Fulfilled'] as const;

/** Workflow refusal types that mean "this choice is not usable" (422); anything else is the order's state (409). */
const UNUSABLE_CHOICE_TYPES = new Set([
  'DomainMismatch',
  'UnknownAccount',
  'UnknownVirtualAccount',
  'AccountNotActive',
  'NotAConsumptionTarget',
  'InvalidLink',
  'InvalidRequest',
]);

export function sendPage(reply: FastifyReply, page: Page): FastifyReply {
  return reply.status(page.status).type('text/html; charset=utf-8').send(renderDocument(page));
}

type FormBody = Record<string, string | string[] | undefined>;

/** One value of a form field: undefined when missing or sent more than once. */
export function fieldOf(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as FormBody)[name];
  return typeof value === 'string' ? value : undefined;
}

export async function loadOrderSummary(db: Db, orderId: string): Promise<{ summary: OrderSummary; status: string }> {
  const order = await db('orders as o')
    .join('partners as p', 'p.id', 'o.partner_id')
    .where('o.id', orderId)
    .first<{ id: string; external_reference: string; status: string; partner_name: string }>(
      'o.id',
      'o.external_reference',
      'o.status',
      'p.name as partner_name',
    );
  const lines = await db<OrderLineRow>('order_lines')
    .where({ order_id: orderId })
    .orderBy('line_number')
    .select('line_number', 'sku', 'quantity', 'license_type', 'term_months');
  return {
    status: order.status,
    summary: {
      orderId: order.id,
      externalReference: order.external_reference,
      partnerName: order.partner_name,
      lines: lines.map((l) => ({
        lineNumber: l.line_number,
        sku: l.sku,
        quantity: l.quantity,
        licenseType: l.license_type,
        termMonths: l.term_months ?? null,
      })),
    },
  };
}

/** The contact's choice from the form, or the fields that are wrong with it. */
export function choiceFrom(
  body: unknown,
  smartAccounts: SmartAccountChoice[],
): { choice: CustomerChoice; account?: SmartAccountChoice; errors?: undefined } | { errors: FieldError[] } {
  switch (fieldOf(body, 'choice')) {
    case 'existing': {
      const raw = fieldOf(body, 'destination');
      const destination = raw === undefined ? undefined : parseDestination(raw);
      const account = destination && smartAccounts.find((a) => a.accountId === destination.accountId);
      const pathListed = destination?.virtualAccountPath === undefined || account?.virtualAccounts.includes(destination.virtualAccountPath);
      if (!destination || !account || !pathListed) {
        return {
          errors: [
            {
              field: 'destination',
              reason:
                raw === undefined
                  ? 'Choose the Smart Account (and, if you want, a virtual account) for the licenses'
                  : 'Choose one of the Smart Accounts listed',
            },
          ],
        };
      }
      const choice: CustomerChoice = {
        kind: 'existing',
        accountId: account.accountId,
        ...(destination.virtualAccountPath !== undefined ? { virtualAccountPath: destination.virtualAccountPath } : {}),
      };
      return { choice, account };
    }
    case 'create': {
      const name = fieldOf(body, 'accountName')?.trim() ?? '';
      let reason: string | undefined;
      if (!name) reason = 'Enter a name for the new Smart Account';
      else if (name.length > ACCOUNT_NAME_MAX) reason = `The name must be at most ${ACCOUNT_NAME_MAX} characters`;
      else if (/[\u0000-\u001f\u007f]/.test(name)) reason = 'The name must be one line of text';
      if (reason) return { errors: [{ field: 'accountName', reason }] };
      return { choice: { kind: 'create', accountName: name } };
    }
    default:
      return { errors: [{ field: 'choice', reason: 'Choose an existing Smart Account or create a new one' }] };
  }
}

/** The workflow's refusal of a choice, as the page shows it: 422 for an unusable choice, 409 for the order's state. */
export function refusalOf(err: WorkflowUpdateFailedError): { status: number; message: string } {
  const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
  const type = cause?.type ?? 'InvalidState';
  return { status: UNUSABLE_CHOICE_TYPES.has(type) ? 422 : 409, message: cause?.message ?? err.message };
}

export function problemOf(err: FastifyError | Error): Page | undefined {
  const statusCode = (err as FastifyError).statusCode;
  if (statusCode === 413)
    return problemPage(413, 'The form is too large', 'The form sent was larger than these pages ever send. Nothing has been changed.');
  if (statusCode === 415) {
    return problemPage(
      415,
      'The form could not be read',
      'These pages accept only web forms (application/x-www-form-urlencoded). Nothing has been changed.',
    );
  }
  if (statusCode === 503) {
    // Shed under load (src/api/load-shedding.ts): nothing was done, and the same link works later.
    return problemPage(
      503,
      'Please try again',
      'The service is busy right now. Nothing has been changed; open the link again in a moment.',
    );
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return problemPage(statusCode, 'The request could not be read', 'Open the link from the email again. Nothing has been changed.');
  }
  return undefined;
}
