import { Type, type Static } from '@sinclair/typebox';
import type { Knex } from 'knex';
import { EMAIL_PATTERN } from '../orders/order';
import type { EmailOutboxRow } from '../db/rows';

/**
 * What the API says about an email of the outbox (issue 18 item 1): where it went, whether it
 * went, and for a failed one the SMTP server's answer. Read by GET /v1/emails, the resend answer
 * and (in short) the order's status.
 */
export const EMAIL_STATUSES = ['failed', 'pending', 'sent', 'withdrawn'] as const;
export type EmailStatus = (typeof EMAIL_STATUSES)[number];

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const EmailView = Type.Object(
  {
    emailId: Type.String(),
    orderId: Nullable(Type.String()),
    alertId: Nullable(Type.String()),
    template: Type.String(),
    to: Type.String(),
    subject: Type.String(),
    status: Type.Union(EMAIL_STATUSES.map((s) => Type.Literal(s))),
    attempts: Type.Integer(),
    lastError: Nullable(Type.String({ description: "for a failed email the SMTP server's answer, e.g. 550 5.1.1 ... User unknown" })),
    createdAt: Type.String(),
    sentAt: Nullable(Type.String()),
    resendOf: Nullable(Type.String({ description: 'the failed email this one resends' })),
    resentAs: Nullable(Type.String({ description: 'the email that resends this one, once resent' })),
    resentBy: Nullable(Type.String()),
  },
  { title: 'Email' },
);
export type EmailViewBody = Static<typeof EmailView>;

/** An order's emails in its status: enough to see that one failed, why, and whether it was resent. */
export const OrderEmailView = Type.Object({
  emailId: Type.String(),
  template: Type.String(),
  to: Type.String(),
  status: Type.Union(EMAIL_STATUSES.map((s) => Type.Literal(s))),
  lastError: Nullable(Type.String()),
  sentAt: Nullable(Type.String()),
  resentAs: Nullable(Type.String()),
});
export type OrderEmailViewBody = Static<typeof OrderEmailView>;

export const EmailListQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union(
        EMAIL_STATUSES.map((s) => Type.Literal(s)),
        { description: `must be one of ${EMAIL_STATUSES.join(', ')}`, default: 'failed' },
      ),
    ),
    orderId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{20}$', description: 'must be an order ID (20 hex digits)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'must be a whole number from 1 to 500' })),
    after: Type.Optional(
      Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be the nextCursor of a previous page (an email ID)' }),
    ),
  },
  { additionalProperties: false },
);
export type EmailListQueryType = Static<typeof EmailListQuery>;

export const EmailList = Type.Object({
  emails: Type.Array(EmailView),
  nextCursor: Nullable(Type.String({ description: 'pass as after for the next page; null on the last page' })),
});
export type EmailListBody = Static<typeof EmailList>;

export const EmailIdParams = Type.Object(
  { emailId: Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be an email ID (a number)' }) },
  { additionalProperties: false },
);
export type EmailIdParamsType = Static<typeof EmailIdParams>;

export const ResendEmailBody = Type.Object(
  {
    to: Type.Optional(
      Type.String({
        minLength: 3,
        maxLength: 254,
        // Ajv compiles patterns without the "i" flag: the letter ranges admit upper case too (as src/accounts/schemas.ts).
        pattern: EMAIL_PATTERN.source.replace(/a-z/g, 'a-zA-Z'),
        description: 'must be an email address: the corrected address (default: the address the email failed for)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ResendEmailBodyType = Static<typeof ResendEmailBody>;

export const EmailResent = Type.Object({
  email: EmailView,
  repeated: Type.Boolean({ description: 'true when this email had been resent before: nothing new was queued' }),
});
export type EmailResentBody = Static<typeof EmailResent>;

/** The outbox row with the ID of the email that resends it, as listEmails and the resend read it. */
export type EmailRowWithResend = EmailOutboxRow & { resent_as: string | null };

/** Selects the outbox columns the views need, plus `resent_as`: one index probe per row (resend_of is unique). */
export function selectEmailColumns(db: Knex, query: Knex.QueryBuilder): Knex.QueryBuilder {
  return query.select(
    'e.id',
    'e.order_id',
    'e.alert_id',
    'e.template',
    'e.to_address',
    'e.subject',
    'e.status',
    'e.attempts',
    'e.last_error',
    'e.created_at',
    'e.sent_at',
    'e.resend_of',
    'e.resent_by',
    db.raw('(SELECT r.id::text FROM email_outbox r WHERE r.resend_of = e.id) AS resent_as'),
  );
}

const iso = (at: Date | string | null) => (at ? new Date(at).toISOString() : null);

export function emailView(row: EmailRowWithResend): EmailViewBody {
  return {
    emailId: String(row.id),
    orderId: row.order_id,
    alertId: row.alert_id === null ? null : String(row.alert_id),
    template: row.template,
    to: row.to_address,
    subject: row.subject,
    status: row.status as EmailStatus,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: iso(row.created_at)!,
    sentAt: iso(row.sent_at),
    resendOf: row.resend_of === null ? null : String(row.resend_of),
    resentAs: row.resent_as,
    resentBy: row.resent_by,
  };
}

/** The columns an order's status shows of each of its emails: a SQL subquery, so the status read can carry them. */
export function orderEmailsJson(db: Knex, orderIdColumn: string): Knex.Raw {
  return db.raw(
    `(SELECT COALESCE(json_agg(json_build_object('id', e.id::text, 'template', e.template, 'to_address', e.to_address,
        'status', e.status, 'last_error', e.last_error, 'sent_at', e.sent_at,
        'resent_as', (SELECT r.id::text FROM email_outbox r WHERE r.resend_of = e.id)) ORDER BY e.id), '[]')
      FROM email_outbox e WHERE e.order_id = ??)`,
    [orderIdColumn],
  );
}

type OrderEmailRow = Pick<EmailRowWithResend, 'template' | 'to_address' | 'status' | 'last_error' | 'resent_as'> & {
  id: string;
  sent_at: Date | string | null;
};

/** One email in the short form of an order's status. */
export function orderEmailView(row: OrderEmailRow): OrderEmailViewBody {
  return {
    emailId: String(row.id),
    template: row.template,
    to: row.to_address,
    status: row.status as EmailStatus,
    lastError: row.last_error,
    sentAt: iso(row.sent_at),
    resentAs: row.resent_as,
  };
}

/** An order's emails, oldest first, in the short form of its status (one query on email_outbox(order_id)). */
export async function orderEmails(db: Knex, orderId: string): Promise<OrderEmailViewBody[]> {
  const { rows }: { rows: Array<{ emails: OrderEmailRow[] }> } = await db.raw('SELECT ? AS emails FROM (SELECT ?::text AS id) AS o', [
    orderEmailsJson(db, 'o.id'),
    orderId,
  ]);
  return rows[0].emails.map(orderEmailView);
}

/** How an alert's emails went: the latest email per recipient (a resent one counts as its resend). */
export const AlertEmailDelivery = Type.Object(
  { sent: Type.Integer(), pending: Type.Integer(), failed: Type.Integer() },
  { description: "the alert's emails: failed ones the SMTP server refused for good (GET /v1/emails lists them with its answer)" },
);
export type AlertEmailDeliveryBody = Static<typeof AlertEmailDelivery>;

/** The select column `email_delivery` of an alert query aliased `a`: one probe of email_outbox(alert_id). */
export function alertEmailDelivery(db: Knex): Knex.Raw {
  return db.raw(
    `(SELECT json_build_object(
              'sent', count(*) FILTER (WHERE e.status = 'sent'),
              'pending', count(*) FILTER (WHERE e.status = 'pending'),
              'failed', count(*) FILTER (WHERE e.status = 'failed'))
        FROM email_outbox e
       WHERE e.alert_id = a.id AND NOT EXISTS (SELECT 1 FROM email_outbox r WHERE r.resend_of = e.id)) AS email_delivery`,
  );
}
