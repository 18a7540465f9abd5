import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { boundedMapsPer } from '../common/bounded-map';
import type { CredentialClaims } from '../device-client/protocol';
import { deriveSessionKey, newSessionKeyPair } from '../device-client/protocol';
import type { SigningKeys } from './signing';

/**
 * Device sessions (docs/DEVICES.md "Sessions"): a device that proved its Ed25519 key once agrees a
 * session key with the server by X25519 and then MACs its requests with it. The server keeps
 * nothing: the session (the credential's claims, the key, its expiry) travels in a ticket sealed
 * with AES-256-GCM under a key of the server's own, which only this service can open.
 *
 * The answer that opens a session is not signed: whoever swaps its serverPublicKey cannot compute
 * the session key sealed in the ticket (that needs the device's X25519 private key), so the device's
 * MACs fail and it only loses service, as it would to dropped packets.
 */

const TICKET_PREFIX = 'ses1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a ticket holds. */
export interface DeviceSession {
  claims: CredentialClaims;
  key: Buffer;
  expiresAt: number;
  /** The rate-limit name of the credential the session was opened with: the session shares its counter. */
  limitKey: string;
}

interface SealedSession {
  claims: CredentialClaims;
  key: string;
  expiresAt: number;
  limitKey: string;
}

export function sealTicket(keys: SigningKeys, session: DeviceSession): string {
  const { currentId } = keys.ticketKeys;
  const head = `${TICKET_PREFIX}.${currentId}`;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.ticketKeys.byId.get(currentId)!, iv);
  cipher.setAAD(Buffer.from(head));
  const sealed: SealedSession = { ...session, key: session.key.toString('base64url') };
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(sealed), 'utf8'), cipher.final()]);
  return `${head}.${Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
}

/** The session in a ticket this service sealed (with any configured key); undefined for anything else. */
export function unsealTicket(keys: SigningKeys, ticket: string): DeviceSession | undefined {
  const lastDot = ticket.lastIndexOf('.');
  const head = ticket.slice(0, lastDot);
  if (lastDot < 0 || !head.startsWith(`${TICKET_PREFIX}.`) || ticket.length > 8192) return undefined;
  const key = keys.ticketKeys.byId.get(head.slice(TICKET_PREFIX.length + 1));
  const blob = Buffer.from(ticket.slice(lastDot + 1), 'base64url');
  if (!key || blob.length < IV_BYTES + TAG_BYTES + 2) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(head));
    decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
    const sealed = JSON.parse(plain.toString('utf8')) as SealedSession;
    return { ...sealed, key: Buffer.from(sealed.key, 'base64url') };
  } catch {
    return undefined;
  }
}

/** Tickets opened, per key set, by the whole ticket text: a session's next request skips the AES. */
const openedTickets = boundedMapsPer<SigningKeys, string, DeviceSession>(50_000);

/** `unsealTicket`, remembered (bounded, oldest forgotten first); expiry is still checked by the caller each time. */
export function sessionOfTicket(keys: SigningKeys, ticket: string): DeviceSession | undefined {
  const remembered = openedTickets(keys);
  const known = remembered.get(ticket);
  if (known) return known;
  const session = unsealTicket(keys, ticket);
  if (!session) return undefined;
  remembered.set(ticket, session);
  return session;
}

export interface OpenedSession {
  ticket: string;
  serverPublicKey: string;
  expiresAt: string;
}

/**
 * A new session for an authenticated (Ed25519) caller and the X25519 public key its device sent:
 * the server's ephemeral half, the agreed key, sealed in a ticket valid `ttlMs` but never past the
 * credential. Throws when `devicePublicKey` is not a usable X25519 key.
 */
export function openSession(
  keys: SigningKeys,
  caller: { claims: CredentialClaims; limitKey: string },
  devicePublicKey: string,
  ttlMs: number,
  now = Date.now(),
): OpenedSession {
  const server = newSessionKeyPair();
  const key = deriveSessionKey(server.privateKey, devicePublicKey, caller.claims.instanceId, {
    devicePublicKey,
    serverPublicKey: server.publicKey,
  });
  const expiresAt = Math.min(now + ttlMs, Date.parse(caller.claims.expiresAt));
  const ticket = sealTicket(keys, { claims: caller.claims, key, expiresAt, limitKey: caller.limitKey });
  return { ticket, serverPublicKey: server.publicKey, expiresAt: new Date(expiresAt).toISOString() };
}
