import * as crypto from 'node:crypto';
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
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
  const { privateKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: privateKey.export({ format: 'jwk' }).x! };
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

export const USE_STATE_NAMES = ['Authorized', 'Overage', 'OutOfCompliance'] as const;
export type AnswerUseState = (typeof USE_STATE_NAMES)[number];

/** What the server tells an instance about one report (R17): per SKU its state, and the instance's state. */
export interface UsageAnswerBody {
  v: 1;
  instanceId: string;
  reportId: string;
  instanceState: 'active';
  usage: Array<{ sku: string; count: number; state: AnswerUseState }>;
  /** Does the account's use stay within what it bought (every SKU Authorized)? */
  compliant: boolean;
  issuedAt: string;
}

/**
 * Where an answer sits in the batch it was signed with: its leaf's index, the batch's size and the
 * RFC 6962 audit path (base64url SHA-256 hashes, leaf to root) to the root the signature covers.
 */
export interface AnswerProof {
  index: number;
  size: number;
  path: string[];
}

/** The answer on the wire: the body, and its signature over the exact bytes of `payload` (alone) or over its batch's root (`proof`). */
export interface SignedUsageAnswer extends UsageAnswerBody {
  keyId: string;
  /** base64url of the JSON the signature covers; its content equals the fields above. */
  payload: string;
  signature: string;
  /** Present when the answer was signed with others: `signature` is over their Merkle root. */
  proof?: AnswerProof;
}

const ANSWER_PREFIX = 'license-usage-answer-v1';
const BATCH_PREFIX = 'license-usage-answer-batch-v1';
/** RFC 6962's domain separation: a leaf can never pass for an interior node, nor the other way round. */
const LEAF_TAG = Buffer.from([0]);
const NODE_TAG = Buffer.from([1]);

function answerSigningInput(keyId: string, payload: string): string {
  return `${ANSWER_PREFIX}.${keyId}.${payload}`;
}

/** The batch's size is signed with its root: an audit path alone fits several sizes (leaf 0's of 5 leaves is leaf 0's of 6). */
function batchSigningInput(keyId: string, size: number, root: Buffer): string {
  return `${BATCH_PREFIX}.${keyId}.${size}.${root.toString('base64url')}`;
}

function payloadOf(body: UsageAnswerBody): string {
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function signAnswer(body: UsageAnswerBody, keyId: string, key: KeyObject): SignedUsageAnswer {
  const payload = payloadOf(body);
  return { ...body, keyId, payload, signature: signBytes(key, answerSigningInput(keyId, payload)) };
}

/**
 * The answers of a batch under ONE Ed25519 signature over the root of a Merkle tree of their
 * payloads (RFC 6962's shape), each with its audit path: signing once a batch instead of once an
 * answer. One body gets exactly `signAnswer`'s answer, no proof.
 */
export function signAnswers(bodies: UsageAnswerBody[], keyId: string, key: KeyObject): SignedUsageAnswer[] {
  if (bodies.length < 2) return bodies.map((body) => signAnswer(body, keyId, key));
  const payloads = bodies.map(payloadOf);
  const paths = bodies.map((): Buffer[] => []);
  const root = treeHash(
    payloads.map((payload) => leafHash(keyId, payload)),
    0,
    bodies.length,
    paths,
  );
  const signature = signBytes(key, batchSigningInput(keyId, bodies.length, root));
  return bodies.map((body, index) => ({
    ...body,
    keyId,
    payload: payloads[index],
    signature,
    proof: { index, size: bodies.length, path: paths[index].map((hash) => hash.toString('base64url')) },
  }));
}

function leafHash(keyId: string, payload: string): Buffer {
  return sha256(Buffer.concat([LEAF_TAG, Buffer.from(answerSigningInput(keyId, payload))]));
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return sha256(Buffer.concat([NODE_TAG, left, right]));
}

/** The largest power of two below n (n >= 2): where RFC 6962 splits a tree of n leaves. */
function splitOf(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962's Merkle Tree Hash of leaves [lo, hi); each leaf's audit path gets its sibling subtrees' hashes, leaf to root. */
function treeHash(leaves: Buffer[], lo: number, hi: number, paths: Buffer[][]): Buffer {
  if (hi - lo === 1) return leaves[lo];
  const mid = lo + splitOf(hi - lo);
  const left = treeHash(leaves, lo, mid, paths);
  const right = treeHash(leaves, mid, hi, paths);
  for (let i = lo; i < mid; i++) paths[i].push(right);
  for (let i = mid; i < hi; i++) paths[i].push(left);
  return nodeHash(left, right);
}

/** A SHA-256 hash in canonical base64url; undefined for anything else. */
function hashOf(encoded: unknown): Buffer | undefined {
  if (typeof encoded !== 'string' || encoded.length !== 43) return undefined;
  const hash = Buffer.from(encoded, 'base64url');
  return hash.length === 32 && hash.toString('base64url') === encoded ? hash : undefined;
}

/**
 * The root an audit path leads to from `leaf` (RFC 9162 2.1.3.2): undefined unless 0 <= index <
 * size, size >= 2 (signAnswers makes no batch of one) and the path has exactly the hashes the
 * position of `index` in a tree of `size` leaves calls for.
 */
function rootOf(leaf: Buffer, proof: AnswerProof): Buffer | undefined {
  if (typeof proof !== 'object' || proof === null || !Array.isArray(proof.path)) return undefined;
  const { index, size, path } = proof;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size || size < 2) return undefined;
  let fn = index;
  let sn = size - 1;
  let root = leaf;
  for (const encoded of path) {
    const sibling = hashOf(encoded);
    if (!sibling || sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      root = nodeHash(sibling, root);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      root = nodeHash(root, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? root : undefined;
}

/**
 * Batch roots whose signature verified, by public key, key ID, root and signature: a process that
 * checks many answers of one batch (the bench's fleet of devices in one process) pays one Ed25519
 * verify. Only a verify that succeeded on exactly these bytes is kept, so a hit proves what a verify would.
 */
const verifiedRoots = new Set<string>();
const VERIFIED_ROOTS_KEPT = 4096;
const publicKeyIds = new WeakMap<KeyObject, string>();

function verifyRoot(key: KeyObject, keyId: string, size: number, root: Buffer, signature: string): boolean {
  let publicKeyId = publicKeyIds.get(key);
  if (publicKeyId === undefined) publicKeyIds.set(key, (publicKeyId = rawPublicKeyOf(key).toString('base64url')));
  const input = batchSigningInput(keyId, size, root);
  const memo = JSON.stringify([publicKeyId, input, signature]);
  if (verifiedRoots.has(memo)) return true;
  if (!verifyBytes(key, input, signature)) return false;
  if (verifiedRoots.size >= VERIFIED_ROOTS_KEPT) verifiedRoots.delete(verifiedRoots.values().next().value!);
  verifiedRoots.add(memo);
  return true;
}

/** Is the answer signed by `key`: its payload alone (v1), or its batch's root that its proof leads to? */
function signatureReason(answer: SignedUsageAnswer, key: KeyObject): string | undefined {
  if (answer.proof === undefined) {
    return verifyBytes(key, answerSigningInput(answer.keyId, answer.payload), answer.signature)
      ? undefined
      : 'the signature does not match';
  }
  const root = rootOf(leafHash(answer.keyId, answer.payload), answer.proof);
  if (!root) return 'the batch proof is malformed';
  return verifyRoot(key, answer.keyId, answer.proof.size, root, answer.signature) ? undefined : 'the signature does not match';
}

/**
 * Checks an answer offline: the signature against the published key it names (over the payload,
 * or over its batch's root through the proof), and that the fields shown are the fields signed.
 * Returns the signed body, or a reason it cannot be trusted.
 */
export function verifyAnswer(
  answer: SignedUsageAnswer,
  keys: ReadonlyMap<string, KeyObject>,
): { ok: true; body: UsageAnswerBody } | { ok: false; reason: string } {
  const key = keys.get(answer.keyId);
  if (!key) return { ok: false, reason: `unknown signing key "${answer.keyId}"` };
  const unsigned = signatureReason(answer, key);
  if (unsigned) return { ok: false, reason: unsigned };
  const signed = Buffer.from(answer.payload, 'base64url').toString('utf8');
  const shown: UsageAnswerBody = {
    v: answer.v,
    instanceId: answer.instanceId,
    reportId: answer.reportId,
    instanceState: answer.instanceState,
    usage: answer.usage,
    compliant: answer.compliant,
    issuedAt: answer.issuedAt,
  };
  // The same text is the same JSON: the usual case (the service writes the fields in this order) needs no parse.
  if (JSON.stringify(shown) === signed) return { ok: true, body: shown };
  const body = JSON.parse(signed) as UsageAnswerBody;
  if (!sameJson(shown, body)) return { ok: false, reason: 'the fields shown differ from the fields signed' };
  return { ok: true, body };
}

/** JSON with every object's keys sorted: equal values, equal text (Postgres jsonb reorders keys). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Would `canonicalJson` give both the same text? Compared in place, without writing either out (the
 * device checks every answer this way): keys in any order, a property set to undefined as absent.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return typeof a === 'object' || typeof b === 'object' ? false : JSON.stringify(a) === JSON.stringify(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => sameJson(item ?? null, b[i] ?? null));
  }
  const left = definedKeys(a);
  const right = b as Record<string, unknown>;
  return (
    left.length === definedKeys(b).length && left.every((k) => isDefined(right, k) && sameJson((a as Record<string, unknown>)[k], right[k]))
  );
}

/** A key JSON.stringify writes out: own, enumerable, neither undefined nor a function. */
function isDefined(o: Record<string, unknown>, key: string): boolean {
  return Object.prototype.propertyIsEnumerable.call(o, key) && o[key] !== undefined && typeof o[key] !== 'function';
}

function definedKeys(o: object): string[] {
  return Object.keys(o).filter((k) => isDefined(o as Record<string, unknown>, k));
}

/** The published signing keys: GET /v1/license-signing-keys. */
export interface PublishedSigningKeys {
  keys: Array<{ keyId: string; algorithm: 'Ed25519'; publicKey: string; current: boolean }>;
}

export function keysFromPublished(published: PublishedSigningKeys): Map<string, KeyObject> {
  return new Map(published.keys.map((k) => [k.keyId, publicKeyFromRaw(Buffer.from(k.publicKey, 'base64url'))]));
}
