import type { Knex } from 'knex';
import { StatementBatch, writePartOf } from '../db/statement-batch';
import { issueCredential, newCredentialSerial, newInstanceId, type InstanceIdentity, type IssuedCredential } from './credentials';
import { admitDeviceRequest, type DeviceCaller } from './device-auth';
import { licenseEventInsert } from './events';
import { LicenseRefusal } from './refusals';
import type { SigningKeys } from './signing';
import {
  registerInOneStatement,
  type OneStatementRegistration,
  type RegistrationRequest,
  type TokenRecord,
} from './registration-statement';
import { hashRegistrationToken, TOKEN_USES_SQL, tokenStatus } from './tokens';

/**
 * R16: a product instance registers with a token of a VA and its identity, in one transaction.
 * One use of the token is spent atomically in one of its slots (registration_token_slots; the
 * UPDATE's own condition, so two instances racing for the last use cannot both win, and the slots'
 * capacities add up to max_uses); the same UDI registering again with the same key is the same
 * instance and spends nothing. The UDI is serialised by an advisory lock, so two registrations of
 * one UDI at once make one instance.
 */

export type { RegistrationRequest };

export interface Registered extends IssuedCredential {
  instanceId: string;
  accountId: string;
  virtualAccountPath: string;
  alreadyRegistered: boolean;
}

/**
 * The token, its VA and account, and the UDI's advisory lock, in one round trip: two registrations
 * of one UDI at once make one instance. What is read of the UDI's instances is read after this.
 */
async function findTokenAndLockUdi(trx: Knex.Transaction, token: string, request: RegistrationRequest): Promise<TokenRecord> {
  const { rows }: { rows: Array<TokenRecord & { udi_locked?: unknown }> } = await trx.raw(
    `SELECT t.id, t.account_id, t.virtual_account_id, va.path, t.export_controlled, t.max_uses, ${TOKEN_USES_SQL} AS uses, t.expires_at, t.revoked_at,
            a.kind AS account_kind, a.status AS account_status, pg_advisory_xact_lock(hashtextextended(?, 0)) AS udi_locked
     FROM registration_tokens t JOIN virtual_accounts va ON va.id = t.virtual_account_id JOIN accounts a ON a.id = t.account_id
     WHERE t.token_hash = ? LIMIT 1`,
    [`udi:${request.productId}/${request.serialNumber}`, hashRegistrationToken(token)],
  );
  if (rows.length === 0) throw new LicenseRefusal('UnknownToken', 'token: no such registration token (it may have been mistyped)');
  const { udi_locked: _locked, ...row } = rows[0];
  refuseAccount(row);
  return row;
}

/** Refuses a token of an account whose licenses serve no device (a holding account, an inactive account). */
function refuseAccount(token: TokenRecord): void {
  if (token.account_kind !== 'smart_account') {
    throw new LicenseRefusal('HoldingAccountToken', 'token: belongs to a Partner Holding Account, whose licenses serve no device');
  }
  if (token.account_status !== 'active') {
    throw new LicenseRefusal('AccountNotActive', `token: Smart Account ${token.account_id} is not active`);
  }
}

/** Refuses a token that cannot register now, with the reason. */
function refuseUnusable(token: TokenRecord, now: Date, spending: boolean): void {
  const status = tokenStatus(token, now);
  if (status === 'revoked') throw new LicenseRefusal('TokenRevoked', 'token: was revoked');
  if (status === 'expired') throw new LicenseRefusal('TokenExpired', `token: expired at ${token.expires_at.toISOString()}`);
  if (spending && status === 'used_up') throw new LicenseRefusal('TokenUsedUp', `token: used up (all ${token.max_uses} uses spent)`);
}

/**
 * The usual case (a new UDI, a usable token) in one statement (registration-statement.ts); a UDI
 * registered already, or registering at this very moment, takes the locked path, which decides
 * it as before, and so does a registration that found every slot with a use left held by others
 * (the locked path waits for one). A refusal is decided from the token row the statement read, in
 * the locked path's order.
 */
export async function registerInstance(db: Knex, keys: SigningKeys, request: RegistrationRequest): Promise<Registered> {
  const now = new Date();
  let result: OneStatementRegistration;
  try {
    result = await registerInOneStatement(db, request, now);
  } catch (err) {
    if ((err as { constraint?: string }).constraint === 'product_instances_udi_unique') return registerLocked(db, keys, request);
    throw err;
  }
  if (result.kind === 'unknown_token')
    throw new LicenseRefusal('UnknownToken', 'token: no such registration token (it may have been mistyped)');
  if (result.kind === 'not_registered') {
    refuseAccount(result.token);
    if (result.udiRegistered) return registerLocked(db, keys, request);
    refuseUnusable(result.token, now, true);
    return registerLocked(db, keys, request);
  }
  const { token, instanceId, serial } = result;
  const identity = {
    instanceId,
    publicKey: request.publicKey,
    accountId: token.account_id,
    virtualAccountId: String(token.virtual_account_id),
    serial,
    exportControlled: token.export_controlled,
  };
  const issued = issueCredential(keys, identity, now);
  return { ...issued, instanceId, accountId: token.account_id, virtualAccountPath: token.path, alreadyRegistered: false };
}

/** Registration under the UDI's advisory lock, in one transaction: a UDI registered already, or a race on a new one. */
async function registerLocked(db: Knex, keys: SigningKeys, request: RegistrationRequest): Promise<Registered> {
  const now = new Date();
  return db.transaction(async (trx) => {
    const token = await findTokenAndLockUdi(trx, request.token, request);
    const existing: { id: string; public_key: string; virtual_account_id: string; credential_serial: string } | undefined = await trx(
      'product_instances',
    )
      .where({ product_id: request.productId, serial_number: request.serialNumber })
      .whereNot('state', 'removed')
      .first('id', 'public_key', 'virtual_account_id', 'credential_serial');
    if (existing) return reRegister(trx, keys, token, existing, request, now);

    refuseUnusable(token, now, true);
    const identity = {
      instanceId: newInstanceId(),
      publicKey: request.publicKey,
      accountId: token.account_id,
      virtualAccountId: String(token.virtual_account_id),
      serial: newCredentialSerial(),
      exportControlled: token.export_controlled,
    };
    const issued = issueCredential(keys, identity, now);
    await spendTokenAndInsert(trx, token, identity, request, issued.expiresAt, now);
    return {
      ...issued,
      instanceId: identity.instanceId,
      accountId: identity.accountId,
      virtualAccountPath: token.path,
      alreadyRegistered: false,
    };
  });
}

/**
 * One use of the token spent in a slot with one left, waiting for a slot another registration
 * holds (the UPDATE's own condition, so two instances racing for the last use cannot both win; a
 * slot filled meanwhile is passed over), and only while the token is neither revoked nor expired;
 * the instance and its event written: one statement, the last before the commit, so the slot
 * stays locked only that long. When no use is left, nothing is inserted and the refusal rolls the rest back.
 */
async function spendTokenAndInsert(
  trx: Knex.Transaction,
  token: TokenRecord,
  identity: InstanceIdentity,
  request: RegistrationRequest,
  expiresAt: Date,
  now: Date,
): Promise<void> {
  const batch = new StatementBatch();
  batch.add(
    {
      name: 'spent',
      sql: `UPDATE registration_token_slots SET uses = uses + 1
            WHERE (token_id, slot) = (SELECT token_id, slot FROM registration_token_slots WHERE token_id = ? AND uses < capacity
                                      ORDER BY slot LIMIT 1 FOR UPDATE)
              AND uses < capacity
              AND EXISTS (SELECT 1 FROM registration_tokens WHERE id = ? AND revoked_at IS NULL AND expires_at > ?)
            RETURNING token_id AS id`,
      bindings: [token.id, token.id, now],
    },
    writePartOf(
      licenseEventInsert(trx, {
        accountId: identity.accountId,
        virtualAccountId: identity.virtualAccountId,
        type: 'instance_registered',
        subject: `instance:${identity.instanceId}`,
        actor: `device:${identity.instanceId}`,
        details: {
          productId: request.productId,
          serialNumber: request.serialNumber,
          hostname: request.hostname,
          tokenId: String(token.id),
        },
      }),
    ),
  );
  batch.add({
    name: 'inserted',
    sql: `INSERT INTO product_instances (id, account_id, virtual_account_id, product_id, serial_number, hostname, public_key,
            registration_token_id, state, credential_serial, credential_expires_at, registered_at, last_contact_at)
          SELECT ?, ?, ?, ?, ?, ?, ?, spent.id, 'active', ?, ?, ?, ? FROM spent RETURNING 1`,
    bindings: [
      identity.instanceId,
      identity.accountId,
      identity.virtualAccountId,
      request.productId,
      request.serialNumber,
      request.hostname,
      request.publicKey,
      identity.serial,
      expiresAt,
      now,
      now,
    ],
  });
  const [{ spent }] = await batch.run<{ spent: number }>(trx, { sql: 'SELECT count(*)::int AS spent FROM inserted', bindings: [] });
  if (spent === 0) throw new LicenseRefusal('TokenUsedUp', `token: used up (all ${token.max_uses} uses spent)`);
}

/** The same UDI again: the same instance if the key matches (a retry), refused if another key claims it. */
async function reRegister(
  trx: Knex.Transaction,
  keys: SigningKeys,
  token: TokenRecord,
  existing: { id: string; public_key: string; virtual_account_id: string; credential_serial: string },
  request: RegistrationRequest,
  now: Date,
): Promise<Registered> {
  if (existing.public_key !== request.publicKey) {
    throw new LicenseRefusal(
      'UdiRegisteredWithAnotherKey',
      `serialNumber: product ${request.productId} serial ${request.serialNumber} is registered already with another public key`,
    );
  }
  if (String(existing.virtual_account_id) !== String(token.virtual_account_id)) {
    throw new LicenseRefusal(
      'UdiRegisteredElsewhere',
      `token: product ${request.productId} serial ${request.serialNumber} is registered in another virtual account; move it there instead`,
    );
  }
  refuseUnusable(token, now, false);
  const issued = issueCredential(
    keys,
    {
      instanceId: existing.id,
      publicKey: existing.public_key,
      accountId: token.account_id,
      virtualAccountId: String(existing.virtual_account_id),
      serial: existing.credential_serial,
      exportControlled: token.export_controlled,
    },
    now,
  );
  await trx('product_instances')
    .where({ id: existing.id })
    .update({ hostname: request.hostname, credential_expires_at: issued.expiresAt, last_contact_at: now });
  return { ...issued, instanceId: existing.id, accountId: token.account_id, virtualAccountPath: token.path, alreadyRegistered: true };
}

/** R16: a fresh credential for a registered instance (its signed request admitted), valid a year from now. */
export async function renewCredential(db: Knex, keys: SigningKeys, caller: DeviceCaller): Promise<Registered> {
  return db.transaction(async (trx) => {
    const instance = await admitDeviceRequest(trx, caller);
    const va: { path: string } = await trx('virtual_accounts').where({ id: instance.virtual_account_id }).first('path');
    const issued = issueCredential(keys, {
      instanceId: instance.id,
      publicKey: instance.public_key,
      accountId: instance.account_id,
      virtualAccountId: String(instance.virtual_account_id),
      serial: caller.claims.serial,
      exportControlled: caller.claims.exportControlled,
    });
    await trx('product_instances')
      .where({ id: instance.id })
      .update({ credential_expires_at: issued.expiresAt, last_contact_at: trx.fn.now() });
    return { ...issued, instanceId: instance.id, accountId: instance.account_id, virtualAccountPath: va.path, alreadyRegistered: true };
  });
}
