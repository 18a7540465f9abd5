import { hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
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
  /**
   * AES-256 keys sealing device session tickets (src/licensing/device-sessions.ts), derived from each
   * signing key's seed: the current one seals, all open, so they rotate with the signing keys.
   */
  ticketKeys: { currentId: string; byId: Map<string, Buffer> };
}

/** The ticket-sealing key of a signing key's seed: a separate key (HKDF), never the seed itself. */
function ticketKeyOf(seed: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', seed, '', 'license-device-session-ticket-v1', 32));
}

export function parseSigningKeys(text: string): SigningKeys {
  const entries = parseKeyList(text, {
    secretName: 'base64seed',
    wrongLength: (id, bytes) => `key "${id}" must be a 32-byte Ed25519 seed in base64 (got ${bytes} bytes)`,
    error: (message) => new SigningKeyError(message),
  }).map(({ id, secret }) => ({ id, privateKey: privateKeyFromSeed(secret), ticketKey: ticketKeyOf(secret) }));
  const verifiers = new Map(entries.map((k) => [k.id, publicKeyFromRaw(rawPublicKeyOf(k.privateKey))] as const));
  return {
    current: { id: entries[0].id, privateKey: entries[0].privateKey },
    ticketKeys: { currentId: entries[0].id, byId: new Map(entries.map((k) => [k.id, k.ticketKey] as const)) },
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
