import { Type, type Static } from '@sinclair/typebox';
import { Id } from '../api/schemas';
import { EmailAddress } from './schemas';

/**
 * Request and response schemas of platform administration (src/accounts/admin-routes.ts):
 * partners, the reseller link, holding accounts and users. Same style as schemas.ts: a
 * constraining `description` starts with "must ..." (a 400 quotes it), unknown fields refused.
 */

const Name = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[^\\x00-\\x1f\\x7f]*$',
  description: 'must be one line of 1-200 characters',
});
const PartnerId = Id('must be a partner ID: 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit');
const PartnerKind = Type.Unsafe<'partner' | 'distributor'>({
  type: 'string',
  enum: ['partner', 'distributor'],
  description: 'must be one of partner (a reseller or direct partner), distributor',
});

export const PartnerBody = Type.Object(
  { partnerId: PartnerId, name: Name, kind: PartnerKind, notificationEmail: EmailAddress },
  { additionalProperties: false, description: "must be a JSON object with the partner's ID, name, kind and notification email" },
);
export type PartnerBodyType = Static<typeof PartnerBody>;
export const Partner = Type.Object({ partnerId: Type.String(), name: Type.String(), kind: PartnerKind, notificationEmail: Type.String() });
export type PartnerType = Static<typeof Partner>;

export const PartnerIdParams = Type.Object({ partnerId: PartnerId }, { additionalProperties: false });
export type PartnerIdParamsType = Static<typeof PartnerIdParams>;

export const ResellerBody = Type.Object(
  { resellerId: PartnerId },
  { additionalProperties: false, description: "must be a JSON object with the reseller's partner ID" },
);
export type ResellerBodyType = Static<typeof ResellerBody>;
export const ResellerLink = Type.Object({ distributorId: Type.String(), resellerId: Type.String() });
export type ResellerLinkType = Static<typeof ResellerLink>;

export const HoldingAccountBody = Type.Object(
  {
    accountId: Id('must be an account ID: 1-128 letters, digits, ".", "_", ":" or "-"'),
    name: Name,
    ownerPartnerId: PartnerId,
  },
  { additionalProperties: false, description: "must be a JSON object with the account's ID, name and owning partner" },
);
export type HoldingAccountBodyType = Static<typeof HoldingAccountBody>;
export const HoldingAccount = Type.Object({
  accountId: Type.String(),
  name: Type.String(),
  ownerPartnerId: Type.String(),
  status: Type.String(),
});
export type HoldingAccountType = Static<typeof HoldingAccount>;

export const UserBody = Type.Object(
  { email: EmailAddress, fullName: Name },
  {
    additionalProperties: false,
    description:
      "must be a JSON object with the user's email and full name (a registered user ID comes only from the user's own verification)",
  },
);
export type UserBodyType = Static<typeof UserBody>;
export const User = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  fullName: Type.Union([Type.String(), Type.Null()]),
  registeredId: Type.Union([Type.String(), Type.Null()], { description: "set only by the user's own verification" }),
});
export type UserType = Static<typeof User>;
