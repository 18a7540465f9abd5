import type { Knex } from 'knex';
import { CREDENTIAL_VALIDITY_MS, newCredentialSerial, newInstanceId } from './credentials';
import { hashRegistrationToken } from './tokens';

/**
 * The usual registration (a new UDI, a usable token) as ONE statement, outside any explicit
 * transaction: one round trip instead of five (BEGIN, the token, the UDI, the writes, COMMIT).
 * The token's use is spent by the UPDATE's own condition, re-checked on the row's latest version
 * (two registrations racing for the last use cannot both win); the instance and its event are
 * written only when it was. Two registrations of one new UDI at once: the second's insert waits
 * for the first's and fails on the unique live-UDI index (product_instances_udi_unique); the
 * caller then takes the locked path, which finds the instance. Anything else (the UDI registered
 * already, a refusal) is decided by the caller from the token row read here.
 */

export interface RegistrationRequest {
  token: string;
  productId: string;
  serialNumber: string;
  hostname: string;
  publicKey: string;
}

export interface TokenRecord {
  id: string;
  account_id: string;
  virtual_account_id: string;
  path: string;
  export_controlled: boolean;
  max_uses: number;
  uses: number;
  expires_at: Date;
  revoked_at: Date | null;
  account_kind: string;
  account_status: string;
}

export type OneStatementRegistration =
  | { kind: 'registered'; token: TokenRecord; instanceId: string; serial: string }
  | { kind: 'unknown_token' }
  | { kind: 'not_registered'; token: TokenRecord; udiRegistered: boolean };

export async function registerInOneStatement(db: Knex, request: RegistrationRequest, now: Date): Promise<OneStatementRegistration> {
  const instanceId = newInstanceId();
  const serial = newCredentialSerial();
  const { rows }: { rows: Array<Partial<TokenRecord> & { registered: number; udi_registered: boolean }> } = await db.raw(
    `WITH token AS (
       SELECT t.id, t.account_id, t.virtual_account_id, va.path, t.export_controlled, t.max_uses, t.uses, t.expires_at, t.revoked_at,
              a.kind AS account_kind, a.status AS account_status
       FROM registration_tokens t JOIN virtual_accounts va ON va.id = t.virtual_account_id JOIN accounts a ON a.id = t.account_id
       WHERE t.token_hash = ? LIMIT 1
     ), existing AS (
       SELECT 1 FROM product_instances WHERE product_id = ? AND serial_number = ? AND state <> 'removed' LIMIT 1
     ), spent AS (
       UPDATE registration_tokens t SET uses = t.uses + 1 FROM token
       WHERE t.id = token.id AND token.account_kind = 'smart_account' AND token.account_status = 'active'
         AND NOT EXISTS (SELECT 1 FROM existing) AND t.uses < t.max_uses AND t.revoked_at IS NULL AND t.expires_at > ?
       RETURNING t.id, t.account_id, t.virtual_account_id
     ), inserted AS (
       INSERT INTO product_instances (id, account_id, virtual_account_id, product_id, serial_number, hostname, public_key,
         registration_token_id, state, credential_serial, credential_expires_at, registered_at, last_contact_at)
       SELECT ?, spent.account_id, spent.virtual_account_id, ?, ?, ?, ?, spent.id, 'active', ?, ?, ?, ? FROM spent
       RETURNING id, account_id, virtual_account_id, registration_token_id
     ), event AS (
       INSERT INTO license_events (account_id, virtual_account_id, type, subject, actor, details)
       SELECT account_id, virtual_account_id, 'instance_registered', 'instance:' || id, 'device:' || id,
              jsonb_build_object('productId', ?::text, 'serialNumber', ?::text, 'hostname', ?::text, 'tokenId', registration_token_id::text)
       FROM inserted
     )
     SELECT token.*, (SELECT count(*) FROM inserted)::int AS registered, EXISTS (SELECT 1 FROM existing) AS udi_registered
     FROM (VALUES (1)) AS one (x) LEFT JOIN token ON true`,
    [
      hashRegistrationToken(request.token),
      request.productId,
      request.serialNumber,
      now,
      instanceId,
      request.productId,
      request.serialNumber,
      request.hostname,
      request.publicKey,
      serial,
      new Date(now.getTime() + CREDENTIAL_VALIDITY_MS),
      now,
      now,
      request.productId,
      request.serialNumber,
      request.hostname,
    ],
  );
  const { registered, udi_registered: udiRegistered, ...row } = rows[0];
  if (!row.id) return { kind: 'unknown_token' };
  const token = row as TokenRecord;
  return registered > 0 ? { kind: 'registered', token, instanceId, serial } : { kind: 'not_registered', token, udiRegistered };
}
