import type { KeyObject } from 'node:crypto';
import { rawPublicKeyOf, sha256, signBytes, verifyBytes } from './protocol';

/**
 * What the service tells a device about a usage report (R17), signed so the device can check it
 * offline against the published keys: alone, an Ed25519 signature over the answer's payload; in a
 * batch, one signature over the batch's Merkle root and the answer's audit path (RFC 6962 shape).
 */
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
