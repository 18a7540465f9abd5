import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  DOMAIN_PATTERN,
  ID_PATTERN,
  MAX_LINE_NUMBER,
  MAX_LINES,
  MAX_TERM_MONTHS,
  SKU_PATTERN,
  VIRTUAL_ACCOUNT_PATH_PATTERN,
} from '../orders/order';
import { ORDER_PHASES, WAITING_FOR } from '../orders/order-lifecycle';
import { OrderEmailView } from '../email/email-views';

/**
 * The HTTP API's request and response schemas. Fastify validates every request against them,
 * the OpenAPI document is generated from them, and the typed client takes its types from them:
 * one definition serves all three. Each field's `description` starts with "must be ..." where
 * it constrains the value, because a 400 quotes it as the reason.
 *
 * The domain validators (src/orders/order.ts) still run after these, inside bookOrder and the
 * Update validators, so a caller that bypasses the HTTP layer is held to the same rules.
 */

const ID_RULE = 'must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
const PATH_RULE = 'must be names of 1-80 characters, not starting or ending with a space, joined by "/", at most 16 deep';

export const Id = (description = ID_RULE) => Type.String({ pattern: ID_PATTERN.source, description });
export const VirtualAccountPath = Type.String({ pattern: VIRTUAL_ACCOUNT_PATH_PATTERN.source, description: PATH_RULE });
export const Domain = Type.String({
  pattern: DOMAIN_PATTERN.source,
  maxLength: 253,
  description: 'must be a lower-case domain name such as acme.com',
});
export const Email = Type.String({ minLength: 3, maxLength: 254, description: 'must be an email address' });
export const IsoDate = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'must be a date YYYY-MM-DD' });
const OneLine = (max: number) =>
  Type.String({ minLength: 1, maxLength: max, pattern: '^[^\\x00-\\x1f\\x7f]*$', description: `must be one line of 1-${max} characters` });

/** A refusal or a malformed request: what went wrong, and for a 400 every field at fault. */
export const ErrorResponse = Type.Object(
  {
    error: Type.String({ description: 'machine-readable reason, e.g. ValidationFailed, NotAuthorized, InvalidState' }),
    message: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), reason: Type.String() }))),
  },
  { $id: 'Error', title: 'Error' },
);
export type ErrorBody = Static<typeof ErrorResponse>;

// ---------------------------------------------------------------- orders

const AccountAssignment = (kind: 'smart_account' | 'holding_account') =>
  Type.Object(
    { kind: Type.Literal(kind), accountId: Id(), virtualAccountPath: Type.Optional(VirtualAccountPath) },
    { additionalProperties: false },
  );

export const AssignmentSchema = Type.Unsafe<
  | { kind: 'smart_account'; accountId: string; virtualAccountPath?: string }
  | { kind: 'holding_account'; accountId: string; virtualAccountPath?: string }
  | { kind: 'request_smart_account'; domain: string }
  | { kind: 'delegate' }
>({
  type: 'object',
  description:
    'R1: deposit into the customer Smart Account, hold in a Partner Holding Account, request a Smart Account for a domain, or let the end customer choose',
  required: ['kind'],
  discriminator: { propertyName: 'kind' },
  oneOf: [
    AccountAssignment('smart_account'),
    AccountAssignment('holding_account'),
    Type.Object({ kind: Type.Literal('request_smart_account'), domain: Domain }, { additionalProperties: false }),
    Type.Object({ kind: Type.Literal('delegate') }, { additionalProperties: false }),
  ],
});

export const ContactSchema = Type.Object(
  {
    email: Email,
    fullName: Type.Optional(OneLine(200)),
    registeredId: Type.Optional(Id('must be the contact\'s registered user ID (letters, digits, ".", "_", ":" or "-")')),
  },
  { additionalProperties: false },
);

export const OrderLineSchema = Type.Object(
  {
    lineNumber: Type.Integer({
      minimum: 1,
      maximum: MAX_LINE_NUMBER,
      description: `must be a whole number from 1 to ${MAX_LINE_NUMBER}, unique in the order`,
    }),
    sku: Type.String({ pattern: SKU_PATTERN.source, description: 'must be 1-64 letters, digits or ._-/+' }),
    quantity: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'must be a whole number from 1 to 1000000' }),
    licenseType: Type.Union([Type.Literal('smart'), Type.Literal('classic')], { description: 'must be smart or classic' }),
    termMonths: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_TERM_MONTHS,
        description: `must be a whole number of months from 1 to ${MAX_TERM_MONTHS}; absent for perpetual`,
      }),
    ),
    smartAccountMandatory: Type.Boolean({ description: 'must be true or false: the product is Smart License-enabled' }),
  },
  { additionalProperties: false },
);

export const BookOrderBody = Type.Object(
  {
    externalReference: Id('must be the ordering system\'s reference: 1-128 letters, digits, ".", "_", ":" or "-"'),
    bookedByPartnerId: Type.Optional(Id("must be the booking partner; defaults to the API key's partner")),
    partnerId: Type.Optional(Id('must be the selling partner; a distributor names its reseller (R10)')),
    assignment: AssignmentSchema,
    endCustomerContact: Type.Optional(ContactSchema),
    lines: Type.Array(OrderLineSchema, { minItems: 1, maxItems: MAX_LINES, description: `must be 1-${MAX_LINES} order lines` }),
  },
  { additionalProperties: false, $id: 'BookOrderRequest', title: 'BookOrderRequest' },
);
export type BookOrderRequest = Static<typeof BookOrderBody>;

export const BookedOrderResponse = Type.Object(
  {
    orderId: Type.String(),
    workflowId: Type.String(),
    alreadyBooked: Type.Boolean({ description: 'true when this reference or Idempotency-Key was booked before: nothing new was started' }),
    links: Type.Object({ self: Type.String(), temporalUi: Type.String() }),
    assignmentRefused: Type.Optional(
      Type.Object(
        {
          error: Type.String({ description: 'the refusal: UnknownAccount, AccountNotActive, NotAConsumptionTarget, NotAuthorized, ...' }),
          message: Type.String(),
        },
        {
          description:
            'present when the booked assignment is refused at once: the order is booked all the same and waits for a valid assignment (POST .../assignment)',
        },
      ),
    ),
  },
  { $id: 'BookedOrder', title: 'BookedOrder' },
);
export type BookedOrderBody = Static<typeof BookedOrderResponse>;

const LineStatusSchema = Type.Object({
  lineNumber: Type.Integer(),
  sku: Type.String(),
  quantity: Type.Integer(),
  licenseType: Type.String(),
  termMonths: Type.Optional(Type.Integer()),
  smartAccountMandatory: Type.Boolean(),
  state: Type.String({ description: 'booked, held, deposited, shipped, provisioned or cancelled' }),
  accountId: Type.Optional(Type.String()),
  virtualAccountPath: Type.Optional(Type.String()),
  shippedOn: Type.Optional(Type.String()),
  subscription: Type.Optional(Type.Object({ startsOn: Type.String(), endsOn: Type.String() })),
  licenseKey: Type.Optional(
    Type.String({ description: "a provisioned classic line's License Registration Portal key (LRP record); absent for smart lines" }),
  ),
});

export const OrderStatusResponse = Type.Object(
  {
    orderId: Type.String(),
    externalReference: Type.String(),
    partnerId: Type.String(),
    bookedByPartnerId: Type.String(),
    assignment: Type.Object({}, { additionalProperties: true, description: 'the assignment chosen at booking' }),
    phase: Type.Union(ORDER_PHASES.map((p) => Type.Literal(p))),
    waitingFor: Type.Union(WAITING_FOR.map((w) => Type.Literal(w))),
    pendingAction: Type.Optional(Type.String({ description: 'what someone has to do next, in words' })),
    customerAccountId: Type.Optional(Type.String()),
    holdingAccountId: Type.Optional(Type.String()),
    lines: Type.Array(LineStatusSchema),
    emailsSent: Type.Array(Type.String()),
    emails: Type.Optional(
      Type.Array(OrderEmailView, {
        description:
          "each email of the order as the outbox has it (GET only): a failed one with the SMTP server's answer, and the email that resent it",
      }),
    ),
  },
  {
    $id: 'OrderStatus',
    title: 'OrderStatus',
    description: "the state of the order as its workflow derived it: from Postgres by default, from the workflow's Query with ?live=true",
  },
);

export const OrderIdParams = Type.Object(
  { orderId: Type.String({ pattern: '^[0-9a-f]{20}$', description: 'must be an order ID (20 hex digits)' }) },
  { additionalProperties: false },
);
export type OrderIdParamsType = Static<typeof OrderIdParams>;

export const ListOrdersQuery = Type.Object(
  {
    status: Type.Optional(
      Type.Union(
        ORDER_PHASES.map((p) => Type.Literal(p)),
        { description: `must be one of ${ORDER_PHASES.join(', ')}` },
      ),
    ),
    waitingFor: Type.Optional(
      Type.Union(
        WAITING_FOR.map((w) => Type.Literal(w)),
        { description: `must be one of ${WAITING_FOR.join(', ')}` },
      ),
    ),
    partnerId: Type.Optional(Id()),
    customerDomain: Type.Optional(Domain),
    holdingAccountId: Type.Optional(Id()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'must be a whole number from 1 to 500' })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$', description: 'must be the nextCursor of a previous page' })),
  },
  { additionalProperties: false },
);
export type ListOrdersQueryType = Static<typeof ListOrdersQuery>;

export const OrderStatusQuery = Type.Object(
  {
    live: Type.Optional(
      Type.Boolean({
        description:
          "true asks the order's workflow itself (a Temporal Query: slower, and it may trail the default answer by the step in flight); " +
          'by default the status comes from Postgres, where every step commits it',
      }),
    ),
  },
  { additionalProperties: false },
);
export type OrderStatusQueryType = Static<typeof OrderStatusQuery>;

export const OrderSummary = Type.Object(
  {
    orderId: Type.String(),
    externalReference: Type.String(),
    partnerId: Type.String(),
    bookedByPartnerId: Type.String(),
    status: Type.String(),
    waitingFor: Type.Union([Type.String(), Type.Null()]),
    assignmentKind: Type.String(),
    accountId: Type.Union([Type.String(), Type.Null()]),
    holdingAccountId: Type.Union([Type.String(), Type.Null()]),
    customerDomain: Type.Union([Type.String(), Type.Null()]),
    bookedAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'OrderSummary', title: 'OrderSummary' },
);
export type OrderSummaryBody = Static<typeof OrderSummary>;

export const OrderListResponse = Type.Object({
  orders: Type.Array(Type.Ref(OrderSummary)),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as cursor for the next page; null on the last page' }),
});

export const AssignBody = Type.Object(
  {
    accountId: Id("must be the customer's active Smart Account ID"),
    virtualAccountPath: Type.Optional(VirtualAccountPath),
    actingPartnerId: Type.Optional(
      Id("must be the partner acting; defaults to the API key's partner, or the order's partner for an operator"),
    ),
  },
  { additionalProperties: false },
);
export type AssignBodyType = Static<typeof AssignBody>;

export const ShipmentBody = Type.Object(
  {
    lineNumber: Type.Integer({ minimum: 1, maximum: MAX_LINE_NUMBER, description: 'must be a line number of the order' }),
    shippedOn: IsoDate,
  },
  { additionalProperties: false },
);
export type ShipmentBodyType = Static<typeof ShipmentBody>;

export const ShipmentAccepted = Type.Object({
  orderId: Type.String(),
  lineNumber: Type.Integer(),
  shippedOn: Type.String(),
  accepted: Type.Literal(true),
});

export const CancelBody = Type.Object({ reason: Type.Optional(OneLine(500)) }, { additionalProperties: false });
export type CancelBodyType = Static<typeof CancelBody>;

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ pattern: '^[A-Za-z0-9._:\\-]{1,128}$', description: 'must be 1-128 letters, digits, ".", "_", ":" or "-"' }),
  ),
});

/** Standard error responses of an authenticated route. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, Type.Ref(ErrorResponse)]));
}

/** Schemas with an $id: registered once on the app, they become OpenAPI components. */
export const SHARED_SCHEMAS: TSchema[] = [ErrorResponse, BookOrderBody, BookedOrderResponse, OrderStatusResponse, OrderSummary];
