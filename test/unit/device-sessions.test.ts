/**
 * Device sessions (src/licensing/device-sessions.ts, docs/DEVICES.md "Sessions"): the device and the
 * server agree the same key; a ticket opens only unchanged and under a configured key; a session
 * request is admitted by its HMAC alone, until the session ends.
 */
import {
  deriveSessionKey,
  macRequest,
  newSessionKeyPair,
  requestSigningInput,
  sha256,
  type CredentialClaims,
} from '../../src/device-client/protocol';
import { authenticateDevice } from '../../src/licensing/device-auth';
import { openSession, sealTicket, unsealTicket } from '../../src/licensing/device-sessions';
import { LicenseRefusal } from '../../src/licensing/refusals';
import { generateSigningKey, parseSigningKeys } from '../../src/licensing/signing';

const NOW = Date.parse('2026-12-07T12:00:00.000Z');
const claims: CredentialClaims = {
  v: 1,
  kid: 'k1',
  instanceId: 'pi-abc',
  publicKey: 'A'.repeat(43),
  accountId: 'sa-1',
  virtualAccountId: '7',
  serial: 'ser',
  exportControlled: false,
  issuedAt: '2026-12-06T00:00:00.000Z',
  renewAfter: '2027-06-06T00:00:00.000Z',
  expiresAt: '2027-12-06T00:00:00.000Z',
};
const oldKey = generateSigningKey('old');
const newKey = generateSigningKey('new');
const keys = parseSigningKeys(oldKey);

/** A session opened as the route does, and the key the device derives from the answer. */
function openedSession(ttlMs = 3_600_000, by = keys, caller = claims) {
  const device = newSessionKeyPair();
  const opened = openSession(by, { claims: caller, limitKey: 'device:abc' }, device.publicKey, ttlMs, NOW);
  const key = deriveSessionKey(device.privateKey, opened.serverPublicKey, caller.instanceId, {
    devicePublicKey: device.publicKey,
    serverPublicKey: opened.serverPublicKey,
  });
  return { opened, key };
}

function sessionRequest(ticket: string, key: Buffer, body = '{"reportId":"r-1","usage":{}}', timestamp = String(NOW)) {
  const path = `/v1/devices/${claims.instanceId}/usage-reports`;
  const signature = macRequest(key, requestSigningInput('POST', path, timestamp, body));
  return {
    method: 'POST',
    path,
    body,
    headers: { authorization: `DeviceSession ${ticket}`, 'x-device-timestamp': timestamp, 'x-device-signature': signature },
  };
}

function refusalOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (err) {
    if (err instanceof LicenseRefusal) return err.refusal;
    throw err;
  }
  return undefined;
}

/** The ticket with one byte of its sealed part (iv, ciphertext or tag) changed. */
function tampered(ticket: string, at: 'iv' | 'ciphertext' | 'tag'): string {
  const dot = ticket.lastIndexOf('.');
  const blob = Buffer.from(ticket.slice(dot + 1), 'base64url');
  const i = at === 'iv' ? 0 : at === 'tag' ? blob.length - 1 : 20;
  blob[i] ^= 1;
  return `${ticket.slice(0, dot)}.${blob.toString('base64url')}`;
}

test('the device and the server derive the same session key; another device key gives another', () => {
  const { opened, key } = openedSession();
  expect(key).toHaveLength(32);
  expect(unsealTicket(keys, opened.ticket)!.key.equals(key)).toBe(true);
  const stranger = newSessionKeyPair();
  const theirs = deriveSessionKey(stranger.privateKey, opened.serverPublicKey, claims.instanceId, {
    devicePublicKey: stranger.publicKey,
    serverPublicKey: opened.serverPublicKey,
  });
  expect(theirs.equals(key)).toBe(false);
});

test('a ticket seals the claims, key and end, under the current key, and opens under any configured one', () => {
  const { opened, key } = openedSession();
  expect(opened.ticket.startsWith('ses1.old.')).toBe(true);
  expect(opened.expiresAt).toBe(new Date(NOW + 3_600_000).toISOString());
  expect(unsealTicket(keys, opened.ticket)).toEqual({ claims, key, expiresAt: NOW + 3_600_000, limitKey: 'device:abc' });
  // Rotated: the new key seals, the old still opens; with the old key gone its tickets open no more.
  const rotated = parseSigningKeys(`${newKey},${oldKey}`);
  expect(unsealTicket(rotated, opened.ticket)?.key.equals(key)).toBe(true);
  expect(sealTicket(rotated, { claims, key, expiresAt: NOW, limitKey: 'x' }).startsWith('ses1.new.')).toBe(true);
  expect(unsealTicket(parseSigningKeys(newKey), opened.ticket)).toBeUndefined();
  // Another service's key of the same ID opens nothing.
  expect(unsealTicket(parseSigningKeys(generateSigningKey('old')), opened.ticket)).toBeUndefined();
});

test('a ticket changed anywhere does not open: iv, ciphertext, tag, key ID, truncated', () => {
  const { opened } = openedSession();
  for (const at of ['iv', 'ciphertext', 'tag'] as const) expect(unsealTicket(keys, tampered(opened.ticket, at))).toBeUndefined();
  expect(unsealTicket(keys, opened.ticket.replace('ses1.old.', 'ses1.other.'))).toBeUndefined();
  expect(unsealTicket(keys, opened.ticket.slice(0, 40))).toBeUndefined();
  expect(unsealTicket(keys, 'ses1.old')).toBeUndefined();
  expect(unsealTicket(keys, 'lic1.a.b')).toBeUndefined();
});

test('a session ends with its TTL, never after the credential', () => {
  expect(openedSession(60_000).opened.expiresAt).toBe(new Date(NOW + 60_000).toISOString());
  const soon = { ...claims, expiresAt: new Date(NOW + 5_000).toISOString() };
  expect(openedSession(3_600_000, keys, soon).opened.expiresAt).toBe(soon.expiresAt);
});

test('a session request is admitted by its HMAC, with the ticket claims and the hash of the MAC as its signature', () => {
  const { opened, key } = openedSession();
  const request = sessionRequest(opened.ticket, key);
  const caller = authenticateDevice(keys, request, NOW);
  expect(caller.claims).toEqual(claims);
  expect(caller.viaSession).toBe(true);
  expect(caller.signatureHash.equals(sha256(request.headers['x-device-signature']))).toBe(true);
});

test('session refusals: tampered ticket InvalidSession, unknown key InvalidSession, expired SessionExpired, wrong MAC InvalidSignature, stale StaleRequest', () => {
  const { opened, key } = openedSession(60_000);
  const request = sessionRequest(opened.ticket, key);
  expect(refusalOf(() => authenticateDevice(keys, sessionRequest(tampered(opened.ticket, 'tag'), key), NOW))).toBe('InvalidSession');
  expect(refusalOf(() => authenticateDevice(parseSigningKeys(newKey), request, NOW))).toBe('InvalidSession');
  expect(refusalOf(() => authenticateDevice(keys, sessionRequest(opened.ticket, key, '{}', String(NOW + 60_000)), NOW + 60_000))).toBe(
    'SessionExpired',
  );
  expect(refusalOf(() => authenticateDevice(keys, sessionRequest(opened.ticket, Buffer.alloc(32)), NOW))).toBe('InvalidSignature');
  // The MAC covers the body: the same headers over another body are refused.
  expect(refusalOf(() => authenticateDevice(keys, { ...request, body: '{"reportId":"r-2","usage":{}}' }, NOW))).toBe('InvalidSignature');
  expect(refusalOf(() => authenticateDevice(keys, { ...request, headers: { ...request.headers, 'x-device-signature': '' } }, NOW))).toBe(
    'InvalidSignature',
  );
  expect(refusalOf(() => authenticateDevice(keys, request, NOW + 6 * 60_000))).toBe('SessionExpired');
  expect(refusalOf(() => authenticateDevice(keys, request, NOW - 6 * 60_000))).toBe('StaleRequest');
});
