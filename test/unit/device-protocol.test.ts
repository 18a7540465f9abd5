/**
 * The device wire protocol (src/device-client/protocol.ts) and the server's keys
 * (src/licensing/signing.ts): credentials and answers verify under the key that signed them, also
 * after a rotation, and any change to what was signed is caught.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import {
  decodeCredential,
  encodeCredential,
  keysFromPublished,
  newKeyPair,
  privateKeyFromSeed,
  publicKeyFromRaw,
  rawPublicKeyOf,
  requestSigningInput,
  seedOf,
  signBytes,
  verifyBytes,
  x25519PublicKeyFromRaw,
  type CredentialClaims,
} from '../../src/device-client/protocol';
import { canonicalJson, sameJson, signAnswer, verifyAnswer, type UsageAnswerBody } from '../../src/device-client/answers';
import { generateSigningKey, parseSigningKeys } from '../../src/licensing/signing';

const claims: CredentialClaims = {
  v: 1,
  kid: 'old',
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

const body: UsageAnswerBody = {
  v: 1,
  instanceId: 'pi-abc',
  reportId: 'r-1',
  instanceState: 'active',
  usage: [{ sku: 'SKU-1', count: 3, state: 'Authorized' }],
  compliant: true,
  issuedAt: '2026-12-06T00:00:00.000Z',
};

test('a key survives its seed: the same public key, the same signatures verify', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const again = privateKeyFromSeed(seedOf(privateKey));
  expect(rawPublicKeyOf(again).equals(rawPublicKeyOf(privateKey))).toBe(true);
  const input = requestSigningInput('post', '/v1/devices/pi-1/usage-reports', '1765000000000', '{}');
  expect(input.split('\n').slice(0, 4)).toEqual(['license-device-request-v1', 'POST', '/v1/devices/pi-1/usage-reports', '1765000000000']);
  expect(verifyBytes(again, input, signBytes(privateKey, input))).toBe(true);
  expect(verifyBytes(again, input + ' ', signBytes(privateKey, input))).toBe(false);
  // With its public half (as a device keeps it), imported as a JWK: the same key.
  const fromJwk = privateKeyFromSeed(seedOf(privateKey), rawPublicKeyOf(privateKey));
  expect(fromJwk.export({ format: 'der', type: 'pkcs8' }).equals(privateKey.export({ format: 'der', type: 'pkcs8' }))).toBe(true);
  expect(verifyBytes(again, input, signBytes(fromJwk, input))).toBe(true);
  expect(seedOf(privateKey).equals(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16))).toBe(true);
  expect(() => privateKeyFromSeed(seedOf(privateKey).subarray(1), rawPublicKeyOf(privateKey))).toThrow('32 bytes');
});

test('a new key pair (from random bytes, not generateKeyPairSync): x is the public half node derives, its signatures verify, X25519 pairs agree', () => {
  const made = newKeyPair('Ed25519');
  const spki = createPublicKey(made.privateKey).export({ format: 'der', type: 'spki' });
  expect(Buffer.from(made.x, 'base64url').equals(spki.subarray(spki.length - 32))).toBe(true);
  expect(seedOf(made.privateKey).toString('base64url')).toBe(made.d);
  const input = requestSigningInput('POST', '/v1/devices/pi-1/usage-reports', '1765000000000', '{}');
  expect(verifyBytes(publicKeyFromRaw(Buffer.from(made.x, 'base64url')), input, signBytes(made.privateKey, input))).toBe(true);
  expect(newKeyPair('Ed25519').d).not.toBe(made.d);
  const [a, b] = [newKeyPair('X25519'), newKeyPair('X25519')];
  const publicOf = (x: string) => x25519PublicKeyFromRaw(Buffer.from(x, 'base64url'));
  expect(diffieHellman({ privateKey: a.privateKey, publicKey: publicOf(b.x) })).toEqual(
    diffieHellman({ privateKey: b.privateKey, publicKey: publicOf(a.x) }),
  );
});

test('a public key from its raw bytes (imported as a JWK) is the key itself: same SPKI, verifies its signatures, refuses a wrong length', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKeyOf(privateKey);
  const fromRaw = publicKeyFromRaw(raw);
  expect(fromRaw.export({ format: 'der', type: 'spki' }).equals(publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
  expect(rawPublicKeyOf(fromRaw).equals(raw)).toBe(true);
  const input = requestSigningInput('POST', '/v1/devices/pi-1/usage-reports', '1765000000000', '{"reportId":"r-1"}');
  expect(verifyBytes(fromRaw, input, signBytes(privateKey, input))).toBe(true);
  expect(
    verifyBytes(publicKeyFromRaw(rawPublicKeyOf(generateKeyPairSync('ed25519').privateKey)), input, signBytes(privateKey, input)),
  ).toBe(false);
  expect(() => publicKeyFromRaw(raw.subarray(0, 31))).toThrow('32 bytes');
  expect(() => publicKeyFromRaw(Buffer.concat([raw, Buffer.alloc(1)]))).toThrow('32 bytes');
});

test('after a rotation the old key still verifies what it signed; a forged or unknown-key credential does not', () => {
  const oldText = generateSigningKey('old');
  const old = parseSigningKeys(oldText);
  // Rotated: a new key signs, the old one is kept to verify; a service without the old key refuses.
  const rotated = parseSigningKeys(`${generateSigningKey('new')},${oldText}`);
  const newOnly = parseSigningKeys(generateSigningKey('new'));
  expect(rotated.current.id).toBe('new');
  const both = rotated.verifiers;
  const credential = encodeCredential(claims, old.current.privateKey);
  expect(decodeCredential(credential, both)).toEqual(claims);
  expect(decodeCredential(credential, newOnly.verifiers)).toBeUndefined();
  const [prefix, payload, signature] = credential.split('.');
  const edited = Buffer.from(JSON.stringify({ ...claims, instanceId: 'pi-other' })).toString('base64url');
  expect(decodeCredential(`${prefix}.${edited}.${signature}`, both)).toBeUndefined();
  expect(decodeCredential(`${prefix}.${payload}`, both)).toBeUndefined();
  expect(decodeCredential('garbage', both)).toBeUndefined();
});

test('an answer verifies against the published keys; any change to a field shown or signed is caught', () => {
  const keys = parseSigningKeys(generateSigningKey('k1'));
  const answer = signAnswer(body, 'k1', keys.current.privateKey);
  const published = keysFromPublished(keys.published);
  expect(verifyAnswer(answer, published)).toEqual({ ok: true, body });
  // Read back from Postgres jsonb, keys come in another order: still the same answer.
  const { signature, ...rest } = answer;
  const reordered = JSON.parse(
    JSON.stringify({ signature, ...rest, usage: [{ state: 'Authorized', count: 3, sku: 'SKU-1' }] }),
  ) as typeof answer;
  expect(verifyAnswer(reordered, published).ok).toBe(true);
  expect(verifyAnswer({ ...answer, compliant: false }, published)).toEqual({
    ok: false,
    reason: 'the fields shown differ from the fields signed',
  });
  expect(verifyAnswer({ ...answer, keyId: 'k2' }, published)).toEqual({ ok: false, reason: 'unknown signing key "k2"' });
  const otherPayload = Buffer.from(JSON.stringify({ ...body, compliant: false })).toString('base64url');
  expect(verifyAnswer({ ...answer, payload: otherPayload, compliant: false }, published)).toEqual({
    ok: false,
    reason: 'the signature does not match',
  });
});

test('canonicalJson: equal values give equal text whatever the key order', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
      const reversed = Object.fromEntries(Object.entries(value).reverse());
      expect(canonicalJson(reversed)).toBe(canonicalJson(value));
    }),
  );
});

test('sameJson: equal exactly when canonicalJson gives equal text', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
      expect(sameJson(a, b)).toBe(canonicalJson(a) === canonicalJson(b));
      const reordered = JSON.parse(canonicalJson(a)) as unknown;
      expect(sameJson(a, reordered)).toBe(true);
    }),
  );
  expect(sameJson({ a: 1, b: undefined }, { a: 1 })).toBe(true);
  expect(sameJson({ a: [1, { x: 2, y: 3 }] }, { a: [1, { y: 3, x: 2 }] })).toBe(true);
  expect(sameJson({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
});
