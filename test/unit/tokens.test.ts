/**
 * Secure-link tokens (src/security/tokens.ts): 256 random bits as 43 base64url characters; only
 * their SHA-256 is stored (as bytes) or carried (as hex).
 */
import { createHash } from 'node:crypto';
import { generateToken, hashToken, isWellFormedToken, tokenHashHex } from '../../src/security/tokens';

describe('generateToken', () => {
  test('is 43 base64url characters, without padding', () => {
    const token = generateToken();
    expect(token).toHaveLength(43);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(token).not.toContain('=');
  });

  test('carries 256 bits: it decodes to 32 bytes and re-encodes to itself', () => {
    for (let i = 0; i < 50; i++) {
      const token = generateToken();
      const bytes = Buffer.from(token, 'base64url');
      expect(bytes).toHaveLength(32);
      expect(bytes.toString('base64url')).toBe(token);
    }
  });

  test('is different on each call', () => {
    const tokens = Array.from({ length: 1000 }, () => generateToken());
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  test('is not a predictable sequence: bytes spread over the whole range', () => {
    // 200 tokens = 6400 random bytes; every byte value should occur (probability of a miss ~ 256 * e^-25).
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) for (const b of Buffer.from(generateToken(), 'base64url')) seen.add(b);
    expect(seen.size).toBe(256);
  });

  test('every generated token is well formed', () => {
    for (let i = 0; i < 100; i++) expect(isWellFormedToken(generateToken())).toBe(true);
  });
});

describe('hashToken', () => {
  test('is the SHA-256 of the token, as 32 bytes', () => {
    const digest = hashToken('abc');
    expect(Buffer.isBuffer(digest)).toBe(true);
    expect(digest).toHaveLength(32);
    // FIPS 180-2 test vector.
    expect(digest.toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  test('of the empty string', () => {
    expect(hashToken('').toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  test('hashes the UTF-8 bytes of the token', () => {
    expect(
      hashToken('é').equals(
        createHash('sha256')
          .update(Buffer.from([0xc3, 0xa9]))
          .digest(),
      ),
    ).toBe(true);
  });

  test('agrees with node:crypto for generated tokens, and is deterministic', () => {
    const token = generateToken();
    expect(hashToken(token).equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(hashToken(token).equals(hashToken(token))).toBe(true);
  });

  test('different tokens give different hashes', () => {
    const a = generateToken();
    const b = generateToken();
    expect(hashToken(a).equals(hashToken(b))).toBe(false);
    // One character apart.
    const c = a.slice(0, -1) + (a.endsWith('A') ? 'B' : 'A');
    expect(hashToken(a).equals(hashToken(c))).toBe(false);
  });
});

describe('tokenHashHex', () => {
  test('is 64 lower-case hex characters', () => {
    for (let i = 0; i < 20; i++) expect(tokenHashHex(generateToken())).toMatch(/^[0-9a-f]{64}$/);
  });

  test('is the hex of hashToken', () => {
    const token = generateToken();
    expect(tokenHashHex(token)).toBe(hashToken(token).toString('hex'));
    expect(tokenHashHex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  test('does not contain the token', () => {
    const token = generateToken();
    expect(tokenHashHex(token)).not.toContain(token);
  });
});

describe('isWellFormedToken', () => {
  test.each([
    'A'.repeat(43),
    'z'.repeat(43),
    '0'.repeat(43),
    '-'.repeat(43),
    '_'.repeat(43),
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO-_',
  ])('accepts %p', (token) => {
    expect(isWellFormedToken(token)).toBe(true);
  });

  test.each([
    ['empty', ''],
    ['42 characters', 'A'.repeat(42)],
    ['44 characters', 'A'.repeat(44)],
    ['base64 padding', 'A'.repeat(43) + '='],
    ['a padded 44-character token', 'A'.repeat(42) + '='],
    ['base64 "+"', 'A'.repeat(42) + '+'],
    ['base64 "/"', 'A'.repeat(42) + '/'],
    ['a dot', 'A'.repeat(42) + '.'],
    ['a space', 'A'.repeat(42) + ' '],
    ['a trailing newline', 'A'.repeat(43) + '\n'],
    ['a leading newline', '\n' + 'A'.repeat(43)],
    ['a CRLF in the middle', 'A'.repeat(20) + '\r\n' + 'A'.repeat(21)],
    ['percent-encoding', '%41'.repeat(14) + 'A'],
    ['a non-ASCII letter', 'é' + 'A'.repeat(42)],
    ['a path', '../../../../etc/passwd' + 'A'.repeat(21)],
  ])('rejects %s', (_name, token) => {
    expect(isWellFormedToken(token)).toBe(false);
  });

  test.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a buffer', Buffer.alloc(32)],
    ['an array of one token', ['A'.repeat(43)]],
    ['an object', { token: 'A'.repeat(43) }],
  ])('rejects %s', (_name, value) => {
    expect(isWellFormedToken(value)).toBe(false);
  });
});
