import { randomBytes } from 'node:crypto';
import { encodeCredential, type CredentialClaims } from '../device-client/protocol';
import { rememberIssuedCredential } from './device-auth';
import type { SigningKeys } from './signing';

/**
 * The credential a product instance alone can use (R16): the server's signed statement that this
 * instance, in this account and VA, holds this public key. Valid a year, renewed after six months;
 * a request counts only with a fresh signature by the matching private key, so a copied credential
 * is useless without the device's key.
 */

export const CREDENTIAL_VALIDITY_MS = 365 * 86_400_000;
export const CREDENTIAL_RENEW_AFTER_MS = 182 * 86_400_000;

export interface InstanceIdentity {
  instanceId: string;
  publicKey: string;
  accountId: string;
  virtualAccountId: string;
  serial: string;
  exportControlled: boolean;
}

export interface IssuedCredential {
  credential: string;
  expiresAt: Date;
  renewAfter: Date;
}

/**
 * Random bytes for IDs and serials, drawn from the CSPRNG 4 KB at a time: each registration takes
 * 24 bytes, and a call into OpenSSL for every 12 of them cost more than the bytes. Each byte is
 * handed out once.
 */
const RANDOM_POOL_BYTES = 4096;
let randomPool = Buffer.alloc(0);
let randomOffset = 0;

function random12(): string {
  if (randomOffset + 12 > randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomOffset = 0;
  }
  const text = randomPool.toString('base64url', randomOffset, randomOffset + 12);
  randomOffset += 12;
  return text;
}

export function newCredentialSerial(): string {
  return random12();
}

export function newInstanceId(): string {
  return `pi-${random12()}`;
}

export function issueCredential(keys: SigningKeys, identity: InstanceIdentity, now = new Date()): IssuedCredential {
  const expiresAt = new Date(now.getTime() + CREDENTIAL_VALIDITY_MS);
  const renewAfter = new Date(now.getTime() + CREDENTIAL_RENEW_AFTER_MS);
  const claims: CredentialClaims = {
    v: 1,
    kid: keys.current.id,
    ...identity,
    issuedAt: now.toISOString(),
    renewAfter: renewAfter.toISOString(),
    expiresAt: expiresAt.toISOString(),
  };
  const credential = encodeCredential(claims, keys.current.privateKey);
  rememberIssuedCredential(keys, credential, claims);
  return { credential, expiresAt, renewAfter };
}
