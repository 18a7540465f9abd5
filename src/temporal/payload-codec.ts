import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
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
 * Payloads without our encoding (histories recorded before encryption, or by a process without
 * keys) pass through decode unchanged, so replay of old histories keeps working.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const CIPHER = 'AES-256-GCM';
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

  constructor(keys: EncryptionKey[]) {
    if (keys.length === 0) throw new PayloadKeyError('at least one key is required');
    this.current = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: encoder.encode(ENCRYPTED_ENCODING),
          'encryption-key-id': encoder.encode(this.current.id),
          'encryption-cipher': encoder.encode(CIPHER),
        },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.encoding;
      if (!encoding || decoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const keyIdBytes = payload.metadata?.['encryption-key-id'];
      const keyId = keyIdBytes ? decoder.decode(keyIdBytes) : '';
      const key = this.byId.get(keyId);
      if (!key) throw new PayloadKeyError(`payload sealed with key "${keyId}", which this process does not hold`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadKeyError('encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}
