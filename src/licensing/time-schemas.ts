import { AlertEmailDelivery } from '../email/email-views';
import { Type, type Static } from '@sinclair/typebox';
import { SKU_PATTERN } from '../orders/order';
import { Id, IsoDate, VirtualAccountPath } from '../api/schemas';
import { ALERT_KINDS } from './alerts';
import { AGREEMENT_ALLOWANCES } from './agreements';
import { CADENCES } from './periods';

/** Request and response schemas of alerts, agreements, true-ups and moves (R20, R21, R25). */

const AccountId = Id('must be an account ID: 1-128 letters, digits, ".", "_", ":" or "-"');
const Sku = Type.String({ pattern: SKU_PATTERN.source, description: 'must be a SKU: 1-64 letters, digits, ".", "_", "-", "/" or "+"' });
const literals = (values: readonly string[], description: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description },
  );

export const AccountParams = Type.Object({ accountId: AccountId }, { additionalProperties: false });
export type AccountParamsType = Static<typeof AccountParams>;

export const SubscriptionParams = Type.Object(
  { accountId: AccountId, userId: Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be a user ID (a number)' }) },
  { additionalProperties: false },
);
export type SubscriptionParamsType = Static<typeof SubscriptionParams>;

export const TrueUpParams = Type.Object({ accountId: AccountId, period: IsoDate }, { additionalProperties: false });
export type TrueUpParamsType = Static<typeof TrueUpParams>;

export const AlertListQuery = Type.Object(
  {
    kind: Type.Optional(literals(ALERT_KINDS, `must be one of ${ALERT_KINDS.join(', ')}`)),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'must be a whole number from 1 to 500' })),
    virtualAccountPath: Type.Optional(VirtualAccountPath),
  },
  { additionalProperties: false },
);
export type AlertListQueryType = Static<typeof AlertListQuery>;

export const AlertView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  subject: Type.String(),
  virtualAccountPath: Type.Union([Type.String(), Type.Null()]),
  day: Type.String(),
  message: Type.String(),
  createdAt: Type.String(),
  emailedAt: Type.Union([Type.String(), Type.Null()]),
  emailDelivery: AlertEmailDelivery,
});
export const AlertList = Type.Object({ alerts: Type.Array(AlertView) });

export const SubscriptionBody = Type.Object(
  { userId: Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be a user ID (a number)' }) },
  { additionalProperties: false },
);
export type SubscriptionBodyType = Static<typeof SubscriptionBody>;
export const SubscriptionView = Type.Object({ accountId: Type.String(), userId: Type.String(), subscribed: Type.Boolean() });

export const AgreementBody = Type.Object(
  {
    allowance: literals(AGREEMENT_ALLOWANCES, `must be one of ${AGREEMENT_ALLOWANCES.join(', ')}`),
    cadence: literals(CADENCES, `must be one of ${CADENCES.join(', ')}`),
    firstPeriodStartsOn: IsoDate,
    partnerOfRecord: Type.Optional(Id('must be a partner ID')),
  },
  { additionalProperties: false },
);
export type AgreementBodyType = Static<typeof AgreementBody>;
export const AgreementView = Type.Object({
  accountId: Type.String(),
  allowance: Type.String(),
  cadence: Type.String(),
  firstPeriodStartsOn: Type.String(),
  partnerOfRecord: Type.Union([Type.String(), Type.Null()]),
});

export const TrueUpView = Type.Object({
  accountId: Type.String(),
  period: Type.String(),
  status: Type.String(),
  periodEndsOn: Type.String(),
  lines: Type.Array(Type.Object({ virtualAccountPath: Type.String(), sku: Type.String(), peak: Type.Integer() })),
  orderIds: Type.Array(Type.String()),
  approvedBy: Type.Optional(Type.String()),
});
export const TrueUpList = Type.Object({ trueUps: Type.Array(TrueUpView) });

export const LicenseMoveBody = Type.Object(
  {
    fromVirtualAccountPath: VirtualAccountPath,
    toVirtualAccountPath: VirtualAccountPath,
    sku: Sku,
    quantity: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'must be a whole number from 1 to 1000000' }),
    allowShortfall: Type.Optional(Type.Boolean({ description: 'must be true or false' })),
  },
  { additionalProperties: false },
);
export type LicenseMoveBodyType = Static<typeof LicenseMoveBody>;

const PoolView = Type.Object({
  virtualAccountPath: Type.String(),
  sku: Type.String(),
  purchased: Type.Integer(),
  authorized: Type.Integer(),
  overage: Type.Integer(),
  unserved: Type.Integer(),
});
export const LicenseMoveResponse = Type.Object({ moved: Type.Integer(), shortfall: Type.Integer(), from: PoolView, to: PoolView });

export const InstanceMoveParams = Type.Object(
  { accountId: AccountId, instanceId: Id('must be a product instance ID') },
  { additionalProperties: false },
);
export type InstanceMoveParamsType = Static<typeof InstanceMoveParams>;
export const InstanceMoveBody = Type.Object({ toVirtualAccountPath: VirtualAccountPath }, { additionalProperties: false });
export type InstanceMoveBodyType = Static<typeof InstanceMoveBody>;
export const InstanceMoveResponse = Type.Object({ instanceId: Type.String(), from: Type.Array(PoolView), to: Type.Array(PoolView) });
export const InstanceRemoveResponse = Type.Object({
  instanceId: Type.String(),
  virtualAccountPath: Type.String(),
  productId: Type.String(),
  serialNumber: Type.String(),
  hostname: Type.String(),
  state: Type.Literal('removed'),
  removedAt: Type.String({ format: 'date-time' }),
  pools: Type.Array(PoolView, { description: 'the pools of the SKUs it used, as they are after the removal' }),
});
