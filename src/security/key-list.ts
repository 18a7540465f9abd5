/**
 * The one format of our key lists (PAYLOAD_ENCRYPTION_KEYS, LICENSE_SIGNING_KEYS):
 * `id:base64secret[,id:base64secret...]`, each secret 32 bytes. The FIRST key is current (it
 * encrypts, it signs); the others only decrypt or verify what they sealed or signed before, so a
 * key rotates without downtime: put the new key first, keep the old one after it until nothing
 * sealed or signed with it is still in use (docs/SECURITY.md, "Rotating keys").
 */

export interface KeyListEntry {
  id: string;
  secret: Buffer;
}

export interface KeyListFormat {
  /** How the secret is named in messages: `base64key`, `base64seed`. */
  secretName: string;
  /** The message for a secret that is not 32 bytes. */
  wrongLength: (id: string, bytes: number) => string;
  /** The error class of the caller (PayloadKeyError, SigningKeyError). */
  error: (message: string) => Error;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const SECRET_BYTES = 32;

/** Parses a key list; the messages never contain a secret. */
export function parseKeyList(text: string, format: KeyListFormat): KeyListEntry[] {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const colon = entry.indexOf(':');
      const id = colon > 0 ? entry.slice(0, colon) : '';
      if (!KEY_ID.test(id))
        throw format.error(`each key must be written id:${format.secretName}, the id 1-64 letters, digits, ".", "_" or "-"`);
      const secret = Buffer.from(entry.slice(colon + 1), 'base64');
      if (secret.length !== SECRET_BYTES) throw format.error(format.wrongLength(id, secret.length));
      return { id, secret };
    });
  if (entries.length === 0) throw format.error('at least one key is required');
  if (new Set(entries.map((k) => k.id)).size !== entries.length) throw format.error('key IDs must be unique');
  return entries;
}
