import { AlertEmailDelivery } from '../email/email-views';
import { Type, type Static } from '@sinclair/typebox';
import { VirtualAccountPath } from '../api/schemas';
import { TokenListResponse, type TokenListResponseType } from './schemas';

/**
 * Schemas of the complete view (R23) and of a user's own API keys (R24): the routes in
 * view-routes.ts validate with them, the OpenAPI document shows them and the typed client takes
 * its types from the `...Type` aliases.
 */

const Timestamp = Type.String({ format: 'date-time' });
const DateOrNull = Type.Union([Type.String({ format: 'date' }), Type.Null()]);
const PathOrNull = Type.Union([Type.String(), Type.Null()], { description: 'null: the Smart Account itself, no virtual account' });

export const ViewQuery = Type.Object(
  { virtualAccountPath: Type.Optional(VirtualAccountPath) },
  { additionalProperties: false, description: 'virtualAccountPath narrows the view to that virtual account and its children' },
);
export type ViewQueryType = Static<typeof ViewQuery>;

export const LicenseLine = Type.Object({
  virtualAccountPath: Type.String(),
  sku: Type.String(),
  purchased: Type.Integer(),
  inUse: Type.Integer({ description: 'use told Authorized, Overage or OutOfCompliance' }),
  balance: Type.Integer({ description: 'purchased - inUse; negative when more is used than bought' }),
  overage: Type.Integer(),
  unserved: Type.Integer({ description: 'use told OutOfCompliance' }),
  nextExpiryOn: DateOrNull,
  insufficientSince: Type.Union([Timestamp, Type.Null()]),
});
export const LicenseView = Type.Object({ accountId: Type.String(), licenses: Type.Array(LicenseLine) });
export type LicenseViewType = Static<typeof LicenseView>;

export const InstancesQuery = Type.Object(
  {
    virtualAccountPath: Type.Optional(VirtualAccountPath),
    includeRemoved: Type.Optional(Type.Boolean()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'must be a whole number 1-1000 (default 100)' })),
    after: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$', description: 'must be the nextCursor of a previous page' })),
  },
  { additionalProperties: false },
);
export type InstancesQueryType = Static<typeof InstancesQuery>;

export const InstanceLine = Type.Object({
  instanceId: Type.String(),
  virtualAccountPath: Type.String(),
  productId: Type.String(),
  serialNumber: Type.String(),
  hostname: Type.String(),
  state: Type.String(),
  registeredAt: Timestamp,
  lastContactAt: Type.String({
    format: 'date-time',
    description:
      'the last registration, renewal or report, to the minute (a report within a minute of the last contact is not written again)',
  }),
  uses: Type.Array(Type.Object({ sku: Type.String(), count: Type.Integer(), state: Type.String() })),
});
export const InstanceView = Type.Object({
  accountId: Type.String(),
  instances: Type.Array(InstanceLine),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as `after` for the next page; null on the last' }),
});
export type InstanceViewType = Static<typeof InstanceView>;

export const DailyUseQuery = Type.Object(
  {
    virtualAccountPath: Type.Optional(VirtualAccountPath),
    days: Type.Optional(Type.Integer({ minimum: 1, maximum: 1100, description: 'must be a whole number of days, 1-1100' })),
  },
  { additionalProperties: false },
);
export type DailyUseQueryType = Static<typeof DailyUseQuery>;

export const DailyUseView = Type.Object({
  accountId: Type.String(),
  series: Type.Array(
    Type.Object({
      virtualAccountPath: Type.String(),
      sku: Type.String(),
      points: Type.Array(Type.Object({ day: Type.String({ format: 'date' }), purchased: Type.Integer(), inUse: Type.Integer() })),
    }),
  ),
});
export type DailyUseViewType = Static<typeof DailyUseView>;

// The tokens view answers as listRegistrationTokens does (one shape: schemas.ts TokenListResponse).
export const TokenView = TokenListResponse;
export type TokenViewType = TokenListResponseType;

export const AlertLine = Type.Object({
  alertId: Type.String(),
  virtualAccountPath: PathOrNull,
  kind: Type.String(),
  subject: Type.String(),
  day: Type.String({ format: 'date' }),
  message: Type.String(),
  createdAt: Timestamp,
  emailDelivery: AlertEmailDelivery,
});
export const AlertView = Type.Object({ accountId: Type.String(), alerts: Type.Array(AlertLine) });
export type AlertViewType = Static<typeof AlertView>;

export const EventsQuery = Type.Object(
  {
    virtualAccountPath: Type.Optional(VirtualAccountPath),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'must be a whole number 1-1000' })),
    before: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be an eventId of a previous page' })),
  },
  { additionalProperties: false },
);
export type EventsQueryType = Static<typeof EventsQuery>;

export const EventLine = Type.Object({
  eventId: Type.String(),
  at: Timestamp,
  virtualAccountPath: PathOrNull,
  type: Type.String(),
  subject: Type.String(),
  actor: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
});
export const EventView = Type.Object({ accountId: Type.String(), events: Type.Array(EventLine) });
export type EventViewType = Static<typeof EventView>;

export const Me = Type.Object({
  userId: Type.String(),
  registeredId: Type.Union([Type.String(), Type.Null()]),
  email: Type.String(),
  fullName: Type.Union([Type.String(), Type.Null()]),
  apiKeys: Type.Array(Type.Object({ keyId: Type.String(), label: Type.String(), createdAt: Timestamp })),
});
export type MeType = Static<typeof Me>;

export const CreateMyKeyBody = Type.Object(
  {
    label: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: '^[^\\x00-\\x1f\\x7f]*$',
      description: 'must be one line of 1-200 characters',
    }),
  },
  { additionalProperties: false, description: 'must be a JSON object with a label' },
);
export type CreateMyKeyBodyType = Static<typeof CreateMyKeyBody>;

export const CreatedKey = Type.Object({
  keyId: Type.String(),
  key: Type.String({ description: 'shown once; only its SHA-256 is stored' }),
});
export type CreatedKeyType = Static<typeof CreatedKey>;

export const KeyIdParams = Type.Object(
  { keyId: Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be a key ID (a whole number)' }) },
  { additionalProperties: false },
);
export type KeyIdParamsType = Static<typeof KeyIdParams>;
