import { Type, type Static } from '@sinclair/typebox';
import { ROLE_NAMES, type RoleName } from './roles';
import { DOMAIN_PATTERN, EMAIL_PATTERN } from '../orders/order';
import { Domain, Id, VirtualAccountPath } from '../api/schemas';

/**
 * Request and response schemas of the accounts routes (src/accounts/routes.ts), in the style
 * of schemas.ts: a constraining `description` starts with "must ..." because a 400 quotes it as
 * the reason, and every request object refuses unknown fields. The typed client takes its types
 * from the `...Type` aliases below.
 */

/**
 * The domain layer's email rule (src/orders/order.ts) as a JSON-schema pattern. Ajv compiles
 * patterns without the "i" flag, so the lower-case letter ranges also admit upper case here.
 */
const EMAIL_PATTERN_ANY_CASE = EMAIL_PATTERN.source.replace(/a-z/g, 'a-zA-Z');
export const EmailAddress = Type.String({
  minLength: 3,
  maxLength: 254,
  pattern: EMAIL_PATTERN_ANY_CASE,
  description: 'must be an email address',
});
const FullName = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[^\\x00-\\x1f\\x7f]*$',
  description: 'must be one line of 1-200 characters',
});
const Timestamp = Type.String({ format: 'date-time' });

// ---------------------------------------------------------------- path and query parameters

export const AccountIdParams = Type.Object(
  { accountId: Id('must be an account ID: 1-128 letters, digits, ".", "_", ":" or "-"') },
  { additionalProperties: false },
);
export type AccountIdParamsType = Static<typeof AccountIdParams>;

export const MemberParams = Type.Object(
  { accountId: Id('must be an account ID: 1-128 letters, digits, ".", "_", ":" or "-"'), email: EmailAddress },
  { additionalProperties: false },
);
export type MemberParamsType = Static<typeof MemberParams>;

export const GrantParams = Type.Object(
  {
    accountId: Id('must be an account ID: 1-128 letters, digits, ".", "_", ":" or "-"'),
    grantId: Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be a grant ID (a whole number)' }),
  },
  { additionalProperties: false },
);
export type GrantParamsType = Static<typeof GrantParams>;

/** A domain as people type it: any case (the search lower-cases it). */
const DomainAnyCase = Type.String({
  pattern: DOMAIN_PATTERN.source.replace(/a-z/g, 'a-zA-Z'),
  maxLength: 253,
  description: 'must be a domain name such as acme.com (any case)',
});
export const SearchSmartAccountsQuery = Type.Object({ domain: DomainAnyCase }, { additionalProperties: false });
export type SearchSmartAccountsQueryType = Static<typeof SearchSmartAccountsQuery>;

// ---------------------------------------------------------------- Smart Account search and requests (R2)

export const SmartAccountSearchResponse = Type.Object({
  smartAccounts: Type.Array(
    Type.Object({
      accountId: Type.String(),
      name: Type.String(),
      domain: Type.String(),
      status: Type.String({ description: 'requested, pending_activation or active' }),
      virtualAccounts: Type.Optional(
        Type.Array(Type.String(), {
          description: 'virtual account paths; only for an operator or a partner holding a role on this account',
        }),
      ),
    }),
  ),
});
export type SmartAccountSearchResponseType = Static<typeof SmartAccountSearchResponse>;

export const SmartAccountRequestBody = Type.Object(
  {
    domain: Domain,
    contact: Type.Object(
      {
        email: EmailAddress,
        fullName: Type.Optional(FullName),
        registeredId: Type.Optional(
          Id(
            'must be the contact\'s registered user ID (letters, digits, ".", "_", ":" or "-"); it must match the identity records, it never replaces them',
          ),
        ),
      },
      {
        additionalProperties: false,
        description: 'must be the end-customer contact: an email of the requested domain, with a registered user ID',
      },
    ),
    requestedByPartnerId: Type.Optional(Id("must be the requesting partner; required with an operator key, else the API key's partner")),
  },
  { additionalProperties: false, description: 'must be a JSON object: domain and contact' },
);
export type SmartAccountRequestBodyType = Static<typeof SmartAccountRequestBody>;

export const SmartAccountRequestResponse = Type.Object({
  accountId: Type.String(),
  domain: Type.String(),
  status: Type.Union([Type.Literal('pending_activation'), Type.Literal('active')], {
    description:
      'pending_activation until the contact activates it through the emailed link; active when a repeated request finds it activated',
  }),
  alreadyRequested: Type.Boolean({
    description: 'true when this domain and contact were requested before: nothing new was written or mailed',
  }),
});
export type SmartAccountRequestResponseType = Static<typeof SmartAccountRequestResponse>;

// ---------------------------------------------------------------- virtual accounts

const VirtualAccountView = Type.Object({
  path: Type.String({ description: 'full path, e.g. Region-US/Finance/Sacramento' }),
  name: Type.String({ description: 'the last name of the path' }),
  parentPath: Type.Union([Type.String(), Type.Null()], { description: 'null at the top level' }),
});

export const VirtualAccountList = Type.Object({ virtualAccounts: Type.Array(VirtualAccountView) });
export type VirtualAccountListType = Static<typeof VirtualAccountList>;

export const CreateVirtualAccountBody = Type.Object(
  { path: VirtualAccountPath },
  { additionalProperties: false, description: 'must be a JSON object with the path' },
);
export type CreateVirtualAccountBodyType = Static<typeof CreateVirtualAccountBody>;

export const CreatedVirtualAccount = Type.Object({
  ...VirtualAccountView.properties,
  created: Type.Boolean({ description: 'false when the virtual account existed already: nothing was written' }),
});
export type CreatedVirtualAccountType = Static<typeof CreatedVirtualAccount>;

// ---------------------------------------------------------------- holding-account members (R9)

export const HoldingAccountMember = Type.Object({
  email: Type.String(),
  fullName: Type.Union([Type.String(), Type.Null()]),
  subscribedAt: Timestamp,
});
export type HoldingAccountMemberType = Static<typeof HoldingAccountMember>;

export const HoldingAccountMemberList = Type.Object({ members: Type.Array(HoldingAccountMember) });
export type HoldingAccountMemberListType = Static<typeof HoldingAccountMemberList>;

export const AddMemberBody = Type.Object(
  { email: EmailAddress, fullName: Type.Optional(FullName) },
  { additionalProperties: false, description: "must be a JSON object with the member's email" },
);
export type AddMemberBodyType = Static<typeof AddMemberBody>;

// ---------------------------------------------------------------- role grants (R11)

const RoleSchema = Type.Unsafe<RoleName>({
  type: 'string',
  enum: [...ROLE_NAMES],
  description: `must be one of ${ROLE_NAMES.join(', ')}`,
});

export const RoleGrant = Type.Object({
  grantId: Type.String(),
  partnerId: Type.Optional(Type.String({ description: 'the partner holding the role (absent for a user)' })),
  userId: Type.Optional(Type.String({ description: "the user's registered user ID (absent for a partner)" })),
  role: RoleSchema,
  virtualAccountPath: Type.Union([Type.String(), Type.Null()], {
    description: 'the virtual account a va_* role covers (and its children); null for sa_* roles',
  }),
  grantedAt: Timestamp,
});
export type RoleGrantType = Static<typeof RoleGrant>;

export const RoleGrantList = Type.Object({ roleGrants: Type.Array(RoleGrant) });
export type RoleGrantListType = Static<typeof RoleGrantList>;

export const GrantRoleBody = Type.Object(
  {
    partnerId: Type.Optional(Id('must be the partner receiving the role: 1-128 letters, digits, ".", "_", ":" or "-"')),
    userId: Type.Optional(Id('must be the registered user ID of the user receiving the role: 1-128 letters, digits, ".", "_", ":" or "-"')),
    role: RoleSchema,
    virtualAccountPath: Type.Optional(VirtualAccountPath),
  },
  {
    additionalProperties: false,
    description: 'must be a JSON object: partnerId or userId, role and, for va_admin, va_user or va_viewer, virtualAccountPath',
  },
);
export type GrantRoleBodyType = Static<typeof GrantRoleBody>;
