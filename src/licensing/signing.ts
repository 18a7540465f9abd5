import { randomBytes, type KeyObject } from 'node:crypto';
import { parseKeyList } from '../security/key-list';
import { privateKeyFromSeed, publicKeyFromRaw, rawPublicKeyOf, type PublishedSigningKeys } from '../device-client/protocol';

/**
 * The server's Ed25519 signing keys (LICENSE_SIGNING_KEYS): `id:base64seed[,id:base64seed...]`,
 * the first signs, all verify (the shared key list, src/security/key-list.ts), so a key can be
 * rotated without invalidating what it signed. The public halves are published for devices to
 * check answers offline.
 */

export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

export interface SigningKeys {
  current: { id: string; privateKey: KeyObject };
  /** Every key's public half, by ID (the current one included). */
  verifiers: Map<string, KeyObject>;
  published: PublishedSigningKeys;
}

export function parseSigningKeys(text: string): SigningKeys {
  const entries = parseKeyList(text, {
    secretName: 'base64seed',
    wrongLength: (id, bytes) => `key "${id}" must be a 32-byte Ed25519 seed in base64 (got ${bytes} bytes)`,
    error: (message) => new SigningKeyError(message),
  }).map(({ id, secret }) => ({ id, privateKey: privateKeyFromSeed(secret) }));
  const verifiers = new Map(entries.map((k) => [k.id, publicKeyFromRaw(rawPublicKeyOf(k.privateKey))] as const));
  return {
    current: entries[0],
    verifiers,
    published: {
      keys: entries.map((k, i) => ({
        keyId: k.id,
        algorithm: 'Ed25519' as const,
        publicKey: rawPublicKeyOf(k.privateKey).toString('base64url'),
        current: i === 0,
      })),
    },
  };
}

/** A fresh key in the LICENSE_SIGNING_KEYS format (for operators, the dev stack and the tests). */
export function generateSigningKey(id: string): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}
