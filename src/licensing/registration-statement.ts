import type { Knex } from 'knex';
import { CREDENTIAL_VALIDITY_MS, newCredentialSerial, newInstanceId } from './credentials';
import { preparedStatement } from '../db/prepared';
import { hashRegistrationToken } from './tokens';

/**
 * The usual registration (a new UDI, a usable token) as ONE statement, outside any explicit
 * transaction: one round trip instead of five (BEGIN, the token, the UDI, the writes, COMMIT),
 * prepared once per connection (src/db/prepared.ts), so Postgres parses and plans it once, not for each device.
 * The token's use is spent in one of its slots (registration_token_slots) that no other
 * registration holds at the moment (FOR UPDATE SKIP LOCKED, a random one first), by the UPDATE's
 * own condition on the slot's latest version: registrations of one token at once do not queue
 * behind each other's commit, and the slots' capacities add up to max_uses, so they never spend
 * more. The token row is only read. The instance and its event are written only when a use was
 * spent. When every slot with a use left is held by another registration right now, nothing is
 * spent and the caller, the token usable and not used up as this statement saw it, takes the
 * locked path, which waits for a slot. Two registrations of one new UDI at once:
 * the second's insert waits for the first's and fails on the unique live-UDI index
 * (product_instances_udi_unique); the caller then takes the locked path, which finds the instance.
 * Anything else (the UDI registered already, a refusal) is decided by the caller from the token row read here.
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
  const { rows } = await preparedStatement<Partial<TokenRecord> & { registered: number; udi_registered: boolean }>(
    db,
    `WITH token AS (
         SELECT t.id, t.account_id, t.virtual_account_id, va.path, t.export_controlled, t.max_uses, t.expires_at, t.revoked_at,
                a.kind AS account_kind, a.status AS account_status
         FROM registration_tokens t JOIN virtual_accounts va ON va.id = t.virtual_account_id JOIN accounts a ON a.id = t.account_id
         WHERE t.token_hash = ? LIMIT 1
       ), existing AS (
         SELECT 1 FROM product_instances WHERE product_id = ? AND serial_number = ? AND state <> 'removed' LIMIT 1
       ), slot AS (
         SELECT s.token_id, s.slot FROM registration_token_slots s JOIN token ON s.token_id = token.id
         WHERE token.account_kind = 'smart_account' AND token.account_status = 'active' AND token.revoked_at IS NULL
           AND token.expires_at > ? AND NOT EXISTS (SELECT 1 FROM existing) AND s.uses < s.capacity
         ORDER BY random() LIMIT 1 FOR UPDATE OF s SKIP LOCKED
       ), spent AS (
         UPDATE registration_token_slots s SET uses = s.uses + 1 FROM slot
         WHERE s.token_id = slot.token_id AND s.slot = slot.slot AND s.uses < s.capacity
         RETURNING s.token_id
       ), inserted AS (
         INSERT INTO product_instances (id, account_id, virtual_account_id, product_id, serial_number, hostname, public_key,
           registration_token_id, state, credential_serial, credential_expires_at, registered_at, last_contact_at)
         SELECT ?, token.account_id, token.virtual_account_id, ?, ?, ?, ?, spent.token_id, 'active', ?, ?, ?, ? FROM spent JOIN token ON token.id = spent.token_id
         RETURNING id, account_id, virtual_account_id, registration_token_id
       ), event AS (
         INSERT INTO license_events (account_id, virtual_account_id, type, subject, actor, details)
         SELECT account_id, virtual_account_id, 'instance_registered', 'instance:' || id, 'device:' || id,
                jsonb_build_object('productId', ?::text, 'serialNumber', ?::text, 'hostname', ?::text, 'tokenId', registration_token_id::text)
         FROM inserted
       ), uses AS (
         SELECT COALESCE(sum(s.uses), 0)::int AS uses
         FROM registration_token_slots s JOIN token ON s.token_id = token.id
       )
       SELECT token.*, uses.uses, (SELECT count(*) FROM inserted)::int AS registered,
              EXISTS (SELECT 1 FROM existing) AS udi_registered
       FROM (VALUES (1)) AS one (x) LEFT JOIN token ON true CROSS JOIN uses`,
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
