/**
 * Batch signing of usage answers (src/device-client/protocol.ts): a batch's answers share one
 * Ed25519 signature over the Merkle root of their payloads, each carrying its RFC 6962 audit path.
 * Every answer of a batch of any size verifies on its own; any change to what was signed, to its
 * place in the tree or to the signature is refused; one answer alone is the v1 answer, unchanged.
 */
import * as crypto from 'node:crypto';
import { keysFromPublished } from '../../src/device-client/protocol';
import { signAnswer, signAnswers, verifyAnswer, type SignedUsageAnswer, type UsageAnswerBody } from '../../src/device-client/answers';
import { generateSigningKey, parseSigningKeys } from '../../src/licensing/signing';

// Counted, to show a batch costs one Ed25519 verify (node:crypto's own exports cannot be spied on).
jest.mock('node:crypto', () => {
  const actual = jest.requireActual<typeof crypto>('node:crypto');
  return { ...actual, verify: jest.fn(actual.verify) };
});

const keys = parseSigningKeys(generateSigningKey('k1'));
const published = keysFromPublished(keys.published);

function bodies(n: number, tag = 'r'): UsageAnswerBody[] {
  return Array.from({ length: n }, (_, i) => ({
    v: 1,
    instanceId: `pi-${i}`,
    reportId: `${tag}-${i}`,
    instanceState: 'active',
    usage: [{ sku: 'SKU-1', count: i, state: i % 3 === 0 ? 'Authorized' : 'OutOfCompliance' }],
    compliant: i % 3 === 0,
    issuedAt: '2026-12-07T00:00:00.000Z',
  }));
}

const batchOf = (n: number, tag?: string) => signAnswers(bodies(n, tag), 'k1', keys.current.privateKey);
const refused = (answer: SignedUsageAnswer) => verifyAnswer(answer, published).ok === false;

/** Another valid-looking hash: the first byte flipped. */
function flipped(encoded: string): string {
  const bytes = Buffer.from(encoded, 'base64url');
  bytes[0] ^= 1;
  return bytes.toString('base64url');
}

test.each([2, 3, 4, 5, 6, 7, 8, 9, 33])(
  'every answer of a batch of %i verifies, under one signature, with the audit path its place calls for',
  (n) => {
    const answers = batchOf(n);
    expect(new Set(answers.map((a) => a.signature)).size).toBe(1);
    answers.forEach((answer, i) => {
      expect(answer.proof).toMatchObject({ index: i, size: n });
      expect(verifyAnswer(answer, published)).toEqual({ ok: true, body: bodies(n)[i] });
    });
    // Read back from Postgres jsonb (keys reordered): still verifies.
    const { proof, ...rest } = answers[n - 1];
    expect(
      verifyAnswer(JSON.parse(JSON.stringify({ proof: { path: proof!.path, size: proof!.size, index: proof!.index }, ...rest })), published)
        .ok,
    ).toBe(true);
  },
);

test('one answer alone is the v1 answer byte for byte: no proof', () => {
  const [one] = bodies(1);
  const [alone] = signAnswers([one], 'k1', keys.current.privateKey);
  expect(alone.proof).toBeUndefined();
  expect(JSON.stringify(alone)).toBe(JSON.stringify(signAnswer(one, 'k1', keys.current.privateKey)));
  expect(verifyAnswer(alone, published)).toEqual({ ok: true, body: one });
  expect(signAnswers([], 'k1', keys.current.privateKey)).toEqual([]);
});

test('tampering with the payload, a path element, the index, the size or the signature is refused', () => {
  for (const n of [2, 5, 9, 33]) {
    const answers = batchOf(n);
    for (const answer of answers) {
      const proof = answer.proof!;
      const otherBody = { ...bodies(n)[proof.index], compliant: !answer.compliant };
      const otherPayload = Buffer.from(JSON.stringify(otherBody)).toString('base64url');
      expect(refused({ ...answer, ...otherBody, payload: otherPayload })).toBe(true);
      expect(refused({ ...answer, compliant: !answer.compliant })).toBe(true);
      proof.path.forEach((_, k) => {
        expect(refused({ ...answer, proof: { ...proof, path: proof.path.map((h, j) => (j === k ? flipped(h) : h)) } })).toBe(true);
      });
      for (const index of [proof.index - 1, proof.index + 1, proof.index + n, -1])
        expect(refused({ ...answer, proof: { ...proof, index } })).toBe(true);
      for (const size of [n - 1, n + 1, 2 * n, 1, 0]) expect(refused({ ...answer, proof: { ...proof, size } })).toBe(true);
      expect(refused({ ...answer, proof: { ...proof, path: [...proof.path, proof.path[0]] } })).toBe(true);
      expect(refused({ ...answer, proof: { ...proof, path: proof.path.slice(1) } })).toBe(true);
      expect(refused({ ...answer, signature: flipped(answer.signature) })).toBe(true);
    }
  }
});

test('a proof moved to another answer of the batch, or dropped, is refused', () => {
  const answers = batchOf(6);
  for (const a of answers) {
    for (const b of answers) if (a !== b) expect(refused({ ...a, proof: b.proof })).toBe(true);
    const { proof: _dropped, ...v1 } = a;
    expect(verifyAnswer(v1, published)).toEqual({ ok: false, reason: 'the signature does not match' });
  }
});

test('a malformed proof is refused with its reason', () => {
  const [answer] = batchOf(4);
  const proof = answer.proof!;
  for (const bad of [
    { ...proof, index: 0.5 },
    { ...proof, size: Number.MAX_SAFE_INTEGER + 2 },
    { ...proof, path: [...proof.path.slice(1), 'not-a-hash'] },
    { ...proof, path: [...proof.path.slice(1), `${proof.path[0]}=`] },
    { ...proof, path: 'x' },
    null,
  ]) {
    expect(verifyAnswer({ ...answer, proof: bad as never }, published)).toEqual({ ok: false, reason: 'the batch proof is malformed' });
  }
});

test('the memo of verified roots: one Ed25519 verify for a whole batch, and nothing else is taken from it', () => {
  const verify = crypto.verify as unknown as jest.Mock;
  verify.mockClear();
  const answers = batchOf(16, 'memo');
  for (const answer of answers) expect(verifyAnswer(answer, published).ok).toBe(true);
  expect(verify).toHaveBeenCalledTimes(1);
  // A different root under the remembered signature, or the remembered root under another signature: verified, and refused.
  const other = batchOf(16, 'memo-other');
  expect(refused({ ...other[0], signature: answers[0].signature })).toBe(true);
  expect(refused({ ...answers[0], signature: flipped(answers[0].signature) })).toBe(true);
  // The same key ID naming another public key: its own verify, refused.
  const impostor = keysFromPublished(parseSigningKeys(generateSigningKey('k1')).published);
  expect(verifyAnswer(answers[1], impostor).ok).toBe(false);
  // A failed verify is never remembered: refused again, with a verify each time.
  verify.mockClear();
  const forged = { ...answers[2], signature: flipped(answers[2].signature) };
  expect(refused(forged)).toBe(true);
  expect(refused(forged)).toBe(true);
  expect(verify).toHaveBeenCalledTimes(2);
});
