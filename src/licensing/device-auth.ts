import { timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import { boundedMapsPer } from '../common/bounded-map';
import { preparedRaw } from '../db/prepared';
import {
  decodeCredential,
  macRequest,
  publicKeyFromRaw,
  REQUEST_CLOCK_SKEW_MS,
  requestSigningInput,
  sha256,
  verifyBytes,
  type CredentialClaims,
} from '../device-client/protocol';
import { sessionOfTicket } from './device-sessions';
import { LicenseRefusal } from './refusals';
import type { SigningKeys } from './signing';

/**
 * Who a device request comes from (R16, R17): a credential the server signed, and a signature by
 * the private key the credential names over method, path, timestamp and body. The crypto is
 * checked before any database work; the signature is then spent once inside the request's own
 * transaction (`admitDeviceRequest`; a usage report keeps it with its stored answer instead,
 * src/licensing/reports.ts), so a replay within the clock-skew window is refused. On a session
 * (`DeviceSession <ticket>`) an HMAC under the session key stands for the signature, spent the same way.
 */

export interface DeviceCaller {
  claims: CredentialClaims;
  /** SHA-256 of the request's signature: what `admitDeviceRequest` stores (a usage report: its stored answer). */
  signatureHash: Buffer;
  /** Authenticated by a session's HMAC, not the device's signature: such a caller cannot open another session. */
  viaSession?: true;
}

export interface SignedRequest {
  method: string;
  path: string;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Credentials whose signature checked out, per key set, with the device's public key as a KeyObject
 * (making one costs most of a verify): a device's next request skips both.
 */
interface VerifiedCredential {
  claims: CredentialClaims;
  devicePublicKey?: KeyObject;
}
const verifiedCredentials = boundedMapsPer<SigningKeys, string, VerifiedCredential>(50_000);

/**
 * The claims of a credential this service signed. Remembered by the whole credential text (its
 * signature included), so nothing unsigned is ever taken from memory; expiry and revocation are
 * still checked on every request.
 */
function verifiedCredential(keys: SigningKeys, credential: string): VerifiedCredential | undefined {
  const remembered = verifiedCredentials(keys);
  const known = remembered.get(credential);
  if (known) return known;
  const claims = decodeCredential(credential, keys.verifiers);
  if (!claims) return undefined;
  const verified: VerifiedCredential = { claims };
  remembered.set(credential, verified);
  return verified;
}

/**
 * A credential this process has just signed (registration, renewal) is remembered as verified: the
 * device's first report skips checking a signature made here a moment ago. The claims are those
 * the credential was encoded from (plain strings and booleans, so the same as decodeCredential
 * would read back), or read from the credential's own text when not given.
 */
export function rememberIssuedCredential(keys: SigningKeys, credential: string, encoded?: CredentialClaims): void {
  const remembered = verifiedCredentials(keys);
  if (remembered.has(credential)) return;
  const claims = encoded ?? (JSON.parse(Buffer.from(credential.split('.')[1], 'base64url').toString('utf8')) as CredentialClaims);
  remembered.set(credential, { claims });
}

/** The device's public key named by the credential, made once per remembered credential. */
function devicePublicKeyOf(verified: VerifiedCredential): KeyObject {
  verified.devicePublicKey ??= publicKeyFromRaw(Buffer.from(verified.claims.publicKey, 'base64url'));
  return verified.devicePublicKey;
}

export function authenticateDevice(keys: SigningKeys, request: SignedRequest, now = Date.now()): DeviceCaller {
  const match = /^(Device|DeviceSession)\s+(\S+)$/.exec(header(request.headers, 'authorization') ?? '');
  if (!match) {
    throw new LicenseRefusal('InvalidCredential', 'header authorization: must be "Device <credential>" or "DeviceSession <ticket>"');
  }
  return match[1] === 'Device' ? bySignature(keys, match[2], request, now) : bySession(keys, match[2], request, now);
}

/** Ed25519: the credential this service signed, and the device's signature of the request. */
function bySignature(keys: SigningKeys, credential: string, request: SignedRequest, now: number): DeviceCaller {
  const verified = verifiedCredential(keys, credential);
  if (!verified) throw new LicenseRefusal('InvalidCredential', 'header authorization: the credential is not one this service signed');
  const { claims } = verified;
  if (Date.parse(claims.expiresAt) <= now) {
    throw new LicenseRefusal('InvalidCredential', `header authorization: the credential expired at ${claims.expiresAt}; register again`);
  }
  const { signature, input } = signedPart(request, now);
  let valid = false;
  try {
    valid = /^[A-Za-z0-9_-]{86}$/.test(signature) && verifyBytes(devicePublicKeyOf(verified), input, signature);
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new LicenseRefusal(
      'InvalidSignature',
      "header x-device-signature: not a signature of this request by the instance's private key",
    );
  }
  return { claims, signatureHash: sha256(signature) };
}

/** A session (src/licensing/device-sessions.ts): a ticket this service sealed, and the request's HMAC under its key. */
function bySession(keys: SigningKeys, ticket: string, request: SignedRequest, now: number): DeviceCaller {
  const session = sessionOfTicket(keys, ticket);
  if (!session)
    throw new LicenseRefusal('InvalidSession', 'header authorization: the ticket is not one this service sealed; open a session again');
  if (session.expiresAt <= now) {
    throw new LicenseRefusal(
      'SessionExpired',
      `header authorization: the session expired at ${new Date(session.expiresAt).toISOString()}; open another`,
    );
  }
  const { signature, input } = signedPart(request, now);
  const expected = Buffer.from(macRequest(session.key, input));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new LicenseRefusal('InvalidSignature', "header x-device-signature: not this request's HMAC under the session key");
  }
  return { claims: session.claims, signatureHash: sha256(signature), viaSession: true };
}

/** The request's timestamp, checked against the clock, its signature (or MAC) header and what it covers. */
function signedPart(request: SignedRequest, now: number): { signature: string; input: string } {
  const timestamp = header(request.headers, 'x-device-timestamp') ?? '';
  if (!/^\d{13}$/.test(timestamp)) throw new LicenseRefusal('StaleRequest', 'header x-device-timestamp: must be Unix milliseconds');
  if (Math.abs(now - Number(timestamp)) > REQUEST_CLOCK_SKEW_MS) {
    throw new LicenseRefusal(
      'StaleRequest',
      'header x-device-timestamp: more than 5 minutes from the server clock; sign the request again',
    );
  }
  return {
    signature: header(request.headers, 'x-device-signature') ?? '',
    input: requestSigningInput(request.method, request.path, timestamp, request.body),
  };
}

export interface CallerInstance {
  id: string;
  account_id: string;
  virtual_account_id: string;
  state: string;
  public_key: string;
  /** The account's overage agreement (null without one), read with the lock. */
  agreement_kind: string | null;
  allowance_factor: string | null;
}

/**
 * Spends the request's signature (a second use of it is a replay) and locks the live instance
 * behind the credential for the rest of the transaction, in one round trip. Refused when the
 * instance was removed or its credential revoked. Whatever the caller reads of the instance's
 * use is read after this, so under the lock.
 */
export async function admitDeviceRequest(trx: Knex.Transaction, caller: DeviceCaller): Promise<CallerInstance> {
  const { rows }: { rows: Array<Partial<CallerInstance> & { spent: number; credential_serial?: string }> } = await preparedRaw(
    trx,
    `WITH spent AS (
       INSERT INTO device_request_signatures (signature_hash, instance_id) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING 1
     ), locked AS (
       SELECT i.id, i.account_id, i.virtual_account_id, i.state, i.public_key, i.credential_serial,
              a.kind AS agreement_kind, a.allowance_factor
       FROM product_instances i LEFT JOIN overage_agreements a ON a.account_id = i.account_id
       WHERE i.id = ? FOR UPDATE OF i
     )
     SELECT (SELECT count(*) FROM spent)::int AS spent, locked.* FROM (VALUES (1)) AS one (x) LEFT JOIN locked ON true`,
    [caller.signatureHash, caller.claims.instanceId, caller.claims.instanceId],
  );
  const row = rows[0];
  const refusal = refusalOfAdmission(row.spent > 0, row.id ? (row as CallerInstance & { credential_serial: string }) : undefined, caller);
  if (refusal) throw refusal;
  const { spent: _spent, credential_serial: _serial, ...instance } = row;
  return instance as CallerInstance;
}

/**
 * Why a device request is refused once its signature was (or was not) found unspent and its instance
 * read under the lock: a replay, a removed instance, a revoked credential; undefined when admitted.
 */
export function refusalOfAdmission(
  spent: boolean,
  instance: (Pick<CallerInstance, 'state' | 'public_key'> & { credential_serial: string }) | undefined,
  caller: DeviceCaller,
): LicenseRefusal | undefined {
  if (!spent)
    return new LicenseRefusal('ReplayedRequest', 'header x-device-signature: this signed request was received before; sign it again');
  if (!instance || instance.state === 'removed') {
    return new LicenseRefusal(
      'InstanceRemoved',
      `instance ${caller.claims.instanceId} was removed and its credentials revoked; register again`,
    );
  }
  if (instance.credential_serial !== caller.claims.serial || instance.public_key !== caller.claims.publicKey) {
    return new LicenseRefusal('InvalidCredential', 'header authorization: this credential was revoked');
  }
  return undefined;
}

/** Forgets spent signatures older than the clock-skew window (they would be refused as stale anyway). */
export async function forgetOldSignatures(db: Knex): Promise<number> {
  return db('device_request_signatures')
    .where('seen_at', '<', db.raw(`now() - make_interval(secs => ?)`, [(2 * REQUEST_CLOCK_SKEW_MS) / 1000]))
    .delete();
}
