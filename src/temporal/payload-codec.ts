import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { parseKeyList } from '../security/key-list';

/**
 * R14: personal data (contact names and email addresses) must not sit in Temporal in clear.
 * Every payload the SDK sends (workflow inputs and results, activity inputs and results,
 * signals, updates, queries, memos) passes through this codec: the whole payload, metadata
 * included, is serialised and sealed with AES-256-GCM under the current key; the key's ID rides
 * in the clear metadata so older payloads still open after a rotation.
 *
 * A payload of COMPRESS_FROM_BYTES or more is compressed (raw deflate) before it is sealed, under
 * its own encoding, COMPRESSED_ENCODING, whose name and key ID the cipher also authenticates: an
 * order's activity inputs carry its status document, which deflate halves (bench/findings.md,
 * 2026-12-07). A payload that would not shrink is sealed as before, under ENCRYPTED_ENCODING.
 * Compressing before sealing lets the sealed length depend on the content; the lengths were
 * already visible, and nobody outside holds a key to mix chosen text with a secret and watch them.
 *
 * Payloads without our encodings (histories recorded before encryption, or by a process without
 * keys) pass through decode unchanged, so replay of old histories keeps working; payloads sealed
 * before compression (ENCRYPTED_ENCODING) open as they always did.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Deflated, then sealed; a process from before it sees an unknown encoding, never wrong data. */
export const COMPRESSED_ENCODING = 'binary/encrypted-deflate';
/** Both encodings this codec seals with (what a sealed payload in a history shows). */
export const SEALED_ENCODINGS: readonly string[] = [ENCRYPTED_ENCODING, COMPRESSED_ENCODING];
export const CIPHER = 'AES-256-GCM';
/**
 * Below this, deflate saves about 15 % of a signal's or a result's few bytes of JSON, less than
 * what it costs in time; from 256 bytes about 35 %, from 512 half and more (the payloads of the
 * recorded histories in test/histories/, serialised, deflate level 1; level 6 and brotli at
 * quality 4 gained 1-2 % more and took longer).
 */
export const COMPRESS_FROM_BYTES = 256;
/** The most a compressed payload may open to (a bound on a corrupt one; Temporal's own limit is 2 MB). */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class PayloadKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadKeyError';
  }
}

/**
 * Parses PAYLOAD_ENCRYPTION_KEYS: `id:base64key[,id:base64key...]`, the first one current, the
 * others kept to decrypt what they sealed. Each key must be 32 bytes (AES-256). The format is
 * the shared key list (src/security/key-list.ts).
 */
export function parseEncryptionKeys(text: string): EncryptionKey[] {
  return parseKeyList(text, {
    secretName: 'base64key',
    wrongLength: (id, bytes) => `key "${id}" must be 32 bytes of base64 (got ${bytes})`,
    error: (message) => new PayloadKeyError(message),
  }).map(({ id, secret }) => ({ id, key: secret }));
}

/** A fresh key in the PAYLOAD_ENCRYPTION_KEYS format (for operators and the dev stack). */
export function generateEncryptionKey(id: string): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: EncryptionKey;

  /** `compress: false` seals as releases before compression did (PAYLOAD_COMPRESSION=off); both encodings still open. */
  constructor(
    keys: EncryptionKey[],
    private readonly options: { compress: boolean } = { compress: true },
  ) {
    if (keys.length === 0) throw new PayloadKeyError('at least one key is required');
    this.current = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const deflated = this.options.compress && plain.length >= COMPRESS_FROM_BYTES ? deflateRawSync(plain, { level: 1 }) : undefined;
      const [encoding, body] = deflated && deflated.length < plain.length ? [COMPRESSED_ENCODING, deflated] : [ENCRYPTED_ENCODING, plain];
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      if (encoding === COMPRESSED_ENCODING) cipher.setAAD(associatedData(encoding, this.current.id));
      const sealed = Buffer.concat([iv, cipher.update(body), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: encoder.encode(encoding),
          'encryption-key-id': encoder.encode(this.current.id),
          'encryption-cipher': encoder.encode(CIPHER),
        },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encodingBytes = payload.metadata?.encoding;
      const encoding = encodingBytes ? decoder.decode(encodingBytes) : '';
      if (!SEALED_ENCODINGS.includes(encoding)) return payload;
      const keyIdBytes = payload.metadata?.['encryption-key-id'];
      const keyId = keyIdBytes ? decoder.decode(keyIdBytes) : '';
      const key = this.byId.get(keyId);
      if (!key) throw new PayloadKeyError(`payload sealed with key "${keyId}", which this process does not hold`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadKeyError('encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      if (encoding === COMPRESSED_ENCODING) decipher.setAAD(associatedData(encoding, keyId));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const body = openSealed(decipher, data, keyId);
      const plain = encoding === COMPRESSED_ENCODING ? inflate(body) : body;
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** The sealed bytes opened; a tag that does not verify is the same key ID with other key material (or tampering). */
function openSealed(decipher: ReturnType<typeof createDecipheriv>, data: Buffer, keyId: string): Buffer {
  try {
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new PayloadKeyError(
      `payload sealed with key "${keyId}" does not open with this process's key of that ID (another deployment's key, or altered)`,
    );
  }
}

/**
 * What the cipher authenticates besides the data, for COMPRESSED_ENCODING: its encoding and key
 * ID, so a payload relabelled to the other encoding fails to open rather than being misread.
 * (ENCRYPTED_ENCODING payloads were sealed without, and still are, so they open as before.)
 */
function associatedData(encoding: string, keyId: string): Buffer {
  return Buffer.from(`${encoding}\n${keyId}`, 'utf8');
}

function inflate(body: Buffer): Buffer {
  try {
    return inflateRawSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (err) {
    const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new PayloadKeyError(tooLarge ? 'compressed payload opens to more than 64 MiB' : `compressed payload is corrupt: ${String(err)}`);
  }
}
