import * as crypto from 'node:crypto';
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

/**
 * The wire protocol between a product instance and the license service (R16, R17), shared by the
 * server and the device client so both sign and check the same bytes. Ed25519 throughout:
 * - the server signs credentials and usage answers with a key the device can check offline
 *   against the published public keys (GET /v1/license-signing-keys);
 * - the device signs every request with its own private key; the credential binds that key (on a
 *   session, opened by one such signature, an HMAC under the session key stands in for it).
 */

/** Headers of a device request. */
export const DEVICE_HEADERS = {
  /** `Device <credential>`, or `DeviceSession <ticket>` on a session. */
  authorization: 'authorization',
  /** Unix milliseconds when the device signed the request. */
  timestamp: 'x-device-timestamp',
  /** base64url Ed25519 signature of `requestSigningInput(...)` by the device's private key (on a session: its HMAC, `macRequest`). */
  signature: 'x-device-signature',
} as const;

/** How far a device's clock may be from the server's before a request is refused as stale. */
export const REQUEST_CLOCK_SKEW_MS = 5 * 60_000;

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A new Ed25519 or X25519 private key and the base64url halves of its JWK, made from 32 random bytes.
 * Not generateKeyPairSync: on Node 20 exporting a key it made can deadlock the process for good. The
 * export holds the key's mutex while it allocates; a GC there may destroy the finished key-generation
 * job, whose destructor takes the same mutex (the bench's fleet and a bare loop hung in ~KeyGenJob).
 */
export function newKeyPair(crv: 'Ed25519' | 'X25519'): { privateKey: KeyObject; d: string; x: string } {
  const d = randomBytes(32).toString('base64url');
  // Node derives the public half from d; the x a JWK import requires is not checked against it.
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv, d, x: d }, format: 'jwk' });
  return { privateKey, d, x: privateKey.export({ format: 'jwk' }).x! };
}

/**
 * An Ed25519 private key from its 32-byte seed. Given its raw public half too (a device keeps both),
 * imported as a JWK at about a tenth of the CPU (about 45 us against 450 us on the bench host: the
 * PKCS#8 DER goes through OpenSSL's decoder search); node derives the public half from the seed
 * either way, so a wrong one does not change the key.
 */
export function privateKeyFromSeed(seed: Buffer, rawPublicKey?: Buffer): KeyObject {
  if (seed.length !== 32) throw new Error('an Ed25519 private key is 32 bytes');
  if (rawPublicKey?.length === 32) {
    return createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: rawPublicKey.toString('base64url') },
      format: 'jwk',
    });
  }
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/**
 * An Ed25519 public key from its raw 32 bytes (base64url, 43 characters on the wire). Imported as
 * a JWK, the same key as its SPKI DER form, at a ninth of the CPU (about 10 us against 90 us: the
 * DER goes through OpenSSL's decoder search); the API makes one per device credential it sees.
 */
export function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new Error('an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** The raw 32-byte public half of a key (private or public); read from its JWK, a fiftieth of the CPU of exporting its DER. */
export function rawPublicKeyOf(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

/** The 32-byte seed of a private key (its JWK's d). */
export function seedOf(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
}

export function signBytes(key: KeyObject, data: string | Buffer): string {
  return sign(null, Buffer.from(data), key).toString('base64url');
}

export function verifyBytes(key: KeyObject, data: string | Buffer, signature: string): boolean {
  const sig = Buffer.from(signature, 'base64url');
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(data), key, sig);
  } catch {
    return false;
  }
}

/** crypto.hash: a one-shot digest at about half createHash's cost (Node 20.12+); older Node 20 takes createHash. */
const oneShotHash = (crypto as { hash?: typeof crypto.hash }).hash;

export function sha256Hex(data: string | Buffer): string {
  return oneShotHash ? oneShotHash('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

/** The raw SHA-256 of `data`, as sha256Hex. */
export function sha256(data: string | Buffer): Buffer {
  return oneShotHash ? oneShotHash('sha256', data, 'buffer') : createHash('sha256').update(data).digest();
}

/** What a device signs for each request: method, path (with query), timestamp and the body's hash. */
export function requestSigningInput(method: string, path: string, timestamp: string, body: string): string {
  return `license-device-request-v1\n${method.toUpperCase()}\n${path}\n${timestamp}\n${sha256Hex(body)}`;
}

/**
 * Sessions (docs/DEVICES.md "Sessions"): the device proves its Ed25519 key once, agrees a key with
 * the server by X25519, then authenticates each request by an HMAC under it (`Authorization:
 * DeviceSession <ticket>`), a few microseconds where an Ed25519 signature and its check cost hundreds.
 */
export const SESSION_SCHEME = 'DeviceSession';

/** An X25519 public key from its raw 32 bytes (base64url on the wire). */
export function x25519PublicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new Error('an X25519 public key is 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** A fresh X25519 pair, with its public half raw and base64url (what the other side is sent). */
export function newSessionKeyPair(): { privateKey: KeyObject; publicKey: string } {
  const { privateKey, x } = newKeyPair('X25519');
  return { privateKey, publicKey: x };
}

/**
 * The session key both sides derive from their X25519 exchange: HKDF-SHA256 of the shared secret,
 * salted with the instance ID, bound to both public keys (base64url) so neither can be swapped unseen.
 */
export function deriveSessionKey(
  ownPrivateKey: KeyObject,
  otherPublicKey: string,
  instanceId: string,
  keys: { devicePublicKey: string; serverPublicKey: string },
): Buffer {
  const shared = diffieHellman({ privateKey: ownPrivateKey, publicKey: x25519PublicKeyFromRaw(Buffer.from(otherPublicKey, 'base64url')) });
  const info = `license-device-session-v1\n${keys.devicePublicKey}\n${keys.serverPublicKey}`;
  return Buffer.from(hkdfSync('sha256', shared, instanceId, info, 32));
}

/** A request's MAC on a session: base64url HMAC-SHA256 of `requestSigningInput(...)` under the session key. */
export function macRequest(sessionKey: Buffer, input: string): string {
  return createHmac('sha256', sessionKey).update(input).digest('base64url');
}

/** What the server states about an instance in its credential (valid 1 year, renewed after 6 months). */
export interface CredentialClaims {
  v: 1;
  /** The server key that signed it. */
  kid: string;
  instanceId: string;
  /** The device's Ed25519 public key, raw, base64url. */
  publicKey: string;
  accountId: string;
  virtualAccountId: string;
  /** Changes when the server revokes the instance's credentials. */
  serial: string;
  exportControlled: boolean;
  issuedAt: string;
  renewAfter: string;
  expiresAt: string;
}

const CREDENTIAL_PREFIX = 'lic1';

/** `lic1.<base64url claims>.<base64url signature>`: the signature covers `lic1.<claims>`. */
export function encodeCredential(claims: CredentialClaims, key: KeyObject): string {
  const head = `${CREDENTIAL_PREFIX}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${head}.${signBytes(key, head)}`;
}

/** The claims of a credential whose signature checks against one of `keys`; undefined otherwise. */
export function decodeCredential(credential: string, keys: ReadonlyMap<string, KeyObject>): CredentialClaims | undefined {
  const parts = credential.split('.');
  if (parts.length !== 3 || parts[0] !== CREDENTIAL_PREFIX || parts[1].length > 4096) return undefined;
  let claims: CredentialClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as CredentialClaims;
  } catch {
    return undefined;
  }
  const key = typeof claims?.kid === 'string' ? keys.get(claims.kid) : undefined;
  if (!key || claims.v !== 1 || !verifyBytes(key, `${parts[0]}.${parts[1]}`, parts[2])) return undefined;
  return claims;
}

/** The published signing keys: GET /v1/license-signing-keys. */
export interface PublishedSigningKeys {
  keys: Array<{ keyId: string; algorithm: 'Ed25519'; publicKey: string; current: boolean }>;
}

export function keysFromPublished(published: PublishedSigningKeys): Map<string, KeyObject> {
  return new Map(published.keys.map((k) => [k.keyId, publicKeyFromRaw(Buffer.from(k.publicKey, 'base64url'))]));
}
