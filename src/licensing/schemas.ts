import { Type, type Static } from '@sinclair/typebox';
import { SKU_PATTERN } from '../orders/order';
import { Id, VirtualAccountPath } from '../api/schemas';
import { MAX_TOKEN_USES } from './tokens';

/**
 * Request and response schemas of the license-use routes (tokens, registration, usage reports),
 * in the API's style: a constraining `description` starts with "must ..." because a 400 quotes
 * it as the reason; every request object refuses unknown fields.
 */

const Timestamp = Type.String({ format: 'date-time' });
const AccountId = Id('must be an account ID: 1-128 letters, digits, ".", "_", ":" or "-"');

/** Most SKUs one report may name, and the largest count of one SKU. */
export const MAX_REPORT_SKUS = 200;
export const MAX_USE_COUNT = 1_000_000;

// ---------------------------------------------------------------- registration tokens (R15)

export const TokenParams = Type.Object(
  { accountId: AccountId, tokenId: Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'must be a token ID (a whole number)' }) },
  { additionalProperties: false },
);
export type TokenParamsType = Static<typeof TokenParams>;

export const TokenListQuery = Type.Object({ virtualAccountPath: Type.Optional(VirtualAccountPath) }, { additionalProperties: false });
export type TokenListQueryType = Static<typeof TokenListQuery>;

export const CreateTokenBody = Type.Object(
  {
    virtualAccountPath: VirtualAccountPath,
    expiresInDays: Type.Integer({ minimum: 1, maximum: 365, description: 'must be a whole number of days from 1 to 365' }),
    maxUses: Type.Integer({
      minimum: 1,
      maximum: MAX_TOKEN_USES,
      description: `must be a whole number from 1 to ${MAX_TOKEN_USES}: how many product instances may register with it`,
    }),
    description: Type.Optional(
      Type.String({ maxLength: 200, pattern: '^[^\\x00-\\x1f\\x7f]*$', description: 'must be one line of at most 200 characters' }),
    ),
    exportControlled: Type.Optional(Type.Boolean({ description: 'must be true or false: may register export-controlled functionality' })),
  },
  { additionalProperties: false, description: 'must be a JSON object: virtualAccountPath, expiresInDays, maxUses' },
);
export type CreateTokenBodyType = Static<typeof CreateTokenBody>;

/** A registration token as every listing and answer shows it (tokens.ts TokenView). */
export const RegistrationToken = Type.Object({
  tokenId: Type.String(),
  virtualAccountPath: Type.String(),
  description: Type.String(),
  exportControlled: Type.Boolean(),
  maxUses: Type.Integer(),
  uses: Type.Integer({ description: 'product instances registered with it so far' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked'), Type.Literal('used_up')], {
    description: 'whether a device can still register with it: active, or why not (revoked before expired before used_up)',
  }),
  expiresAt: Timestamp,
  createdAt: Timestamp,
  createdBy: Type.String({ description: 'operator, partner:<id> or user:<id>' }),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
});
export const TokenResponse = RegistrationToken;
export const CreatedTokenResponse = Type.Object({
  ...RegistrationToken.properties,
  token: Type.String({ description: 'the token itself (lrt_...): shown this once, stored only as its SHA-256' }),
});
/** Both token listings answer this: listRegistrationTokens (who may use the VA) and the complete view's listTokens (who may see it). */
export const TokenListResponse = Type.Object({ accountId: Type.String(), tokens: Type.Array(RegistrationToken) });
export type TokenListResponseType = Static<typeof TokenListResponse>;

// ---------------------------------------------------------------- devices (R16, R17)

const Base64UrlKey = Type.String({
  pattern: '^[A-Za-z0-9_-]{43}$',
  description: "must be the instance's Ed25519 public key: 32 bytes, base64url without padding (43 characters)",
});

export const RegisterBody = Type.Object(
  {
    token: Type.String({ pattern: '^lrt_[A-Za-z0-9_-]{43}$', description: 'must be a registration token (lrt_ and 43 characters)' }),
    productId: Type.String({ pattern: SKU_PATTERN.source, description: 'must be the product ID: 1-64 letters, digits or ._-/+' }),
    serialNumber: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}$',
      description: 'must be 1-64 letters, digits, ".", "_", ":" or "-"',
    }),
    hostname: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: '^[A-Za-z0-9][A-Za-z0-9.\\-_]*$',
      description: 'must be a host name of 1-253 letters, digits, ".", "-" or "_"',
    }),
    publicKey: Base64UrlKey,
  },
  { additionalProperties: false, description: 'must be a JSON object: token, productId, serialNumber, hostname, publicKey' },
);
export type RegisterBodyType = Static<typeof RegisterBody>;

export const CredentialResponse = Type.Object({
  instanceId: Type.String(),
  accountId: Type.String(),
  virtualAccountPath: Type.String(),
  credential: Type.String({
    description: 'lic1.<claims>.<signature>: send as "Authorization: Device <credential>" with every device request',
  }),
  expiresAt: Timestamp,
  renewAfter: Timestamp,
  alreadyRegistered: Type.Boolean({ description: 'true when this UDI was registered already with this key: no token use was spent' }),
});

export const OpenSessionBody = Type.Object(
  {
    publicKey: Type.String({
      pattern: '^[A-Za-z0-9_-]{43}$',
      description: 'must be a fresh X25519 public key: 32 bytes, base64url without padding (43 characters)',
    }),
  },
  { additionalProperties: false, description: "must be a JSON object: publicKey (the device's fresh X25519 public key)" },
);
export type OpenSessionBodyType = Static<typeof OpenSessionBody>;

export const SessionResponse = Type.Object({
  ticket: Type.String({
    description:
      'ses1.<keyId>.<sealed session>: send as "Authorization: DeviceSession <ticket>", with X-Device-Signature the HMAC-SHA256 under the session key',
  }),
  serverPublicKey: Type.String({ description: "the server's X25519 public key for this session (raw 32 bytes, base64url)" }),
  expiresAt: Timestamp,
});

export const InstanceParams = Type.Object(
  { instanceId: Type.String({ pattern: '^pi-[A-Za-z0-9_-]{1,64}$', description: 'must be a product instance ID (pi-...)' }) },
  { additionalProperties: false },
);
export type InstanceParamsType = Static<typeof InstanceParams>;

export const UsageReportBody = Type.Object(
  {
    reportId: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:\\-]{0,127}$',
      description: 'must be 1-128 letters, digits, ".", "_", ":" or "-": the same ID on a retry gets the same answer',
    }),
    usage: Type.Record(
      Type.String(),
      Type.Integer({ minimum: 0, maximum: MAX_USE_COUNT, description: `must be a whole number from 0 to ${MAX_USE_COUNT}` }),
      {
        maxProperties: MAX_REPORT_SKUS,
        description: `must map at most ${MAX_REPORT_SKUS} SKUs to counts`,
      },
    ),
  },
  { additionalProperties: false, description: 'must be a JSON object: reportId and usage' },
);
export type UsageReportBodyType = Static<typeof UsageReportBody>;

/** SKUs are keys, which JSON Schema cannot name in an error: checked here, each named as usage.<key>. */
export function invalidSkus(usage: Record<string, number>): Array<{ field: string; reason: string }> {
  return Object.keys(usage)
    .filter((sku) => !SKU_PATTERN.test(sku))
    .map((sku) => ({ field: `usage.${sku.slice(0, 80)}`, reason: 'must be a SKU: 1-64 letters, digits or ._-/+' }));
}

const UseState = Type.Union([Type.Literal('Authorized'), Type.Literal('Overage'), Type.Literal('OutOfCompliance')]);
export const UsageAnswerResponse = Type.Object({
  v: Type.Literal(1),
  instanceId: Type.String(),
  reportId: Type.String(),
  instanceState: Type.Literal('active'),
  usage: Type.Array(Type.Object({ sku: Type.String(), count: Type.Integer(), state: UseState })),
  compliant: Type.Boolean(),
  issuedAt: Timestamp,
  keyId: Type.String({ description: 'the published signing key that signed it' }),
  payload: Type.String({ description: 'base64url of the signed JSON: the fields above' }),
  signature: Type.String({
    description:
      'Ed25519, base64url: without proof over "license-usage-answer-v1.<keyId>.<payload>"; ' +
      'with proof over "license-usage-answer-batch-v1.<keyId>.<size>.<root>", root the base64url Merkle root its proof leads to',
  }),
  proof: Type.Optional(
    Type.Object(
      {
        index: Type.Integer({ minimum: 0, description: "this answer's leaf in its batch" }),
        size: Type.Integer({ minimum: 2, description: 'how many answers the batch signed' }),
        path: Type.Array(Type.String(), {
          description:
            'RFC 6962 audit path, leaf to root, base64url SHA-256; the leaf is SHA-256(0x00 || "license-usage-answer-v1.<keyId>.<payload>"), ' +
            'a node SHA-256(0x01 || left || right)',
        }),
      },
      { description: 'present when the answer was signed with others of its batch under one signature over their Merkle root' },
    ),
  ),
});

export const SigningKeysResponse = Type.Object({
  keys: Type.Array(
    Type.Object({
      keyId: Type.String(),
      algorithm: Type.Literal('Ed25519'),
      publicKey: Type.String({ description: 'raw 32-byte public key, base64url' }),
      current: Type.Boolean({ description: 'true for the key signing now; the others still verify what they signed' }),
    }),
  ),
});
