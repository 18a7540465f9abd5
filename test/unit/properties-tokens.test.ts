/**
 * The customer links' credentials as properties: the link tokens (src/security/tokens.ts) and the
 * double-submit CSRF values of the customer forms (src/web/csrf.ts). Examples live in
 * tokens.test.ts; these hold for every input fast-check can think of.
 */
import fc from 'fast-check';
import { generateToken, hashToken, isWellFormedToken, tokenHashHex } from '../../src/security/tokens';
import { CSRF_COOKIE, csrfCookieOf, csrfMatches, newCsrfValue } from '../../src/web/csrf';

const WELL_FORMED = /^[A-Za-z0-9_-]{43}$/;
const wellFormed = fc.stringMatching(WELL_FORMED);
/** Anything a request could carry instead: other lengths, alphabets, padding, whitespace, unicode, non-strings. */
const anyValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.stringMatching(/^[A-Za-z0-9_+/=-]{40,46}$/),
  wellFormed.map((v) => ` ${v}`),
  wellFormed.map((v) => `${v}\n`),
  fc.constantFrom(undefined, null, 42, ['x'], {}),
);

describe('link tokens', () => {
  test('isWellFormedToken is exactly 43 base64url characters, for any value', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        expect(isWellFormedToken(value)).toBe(typeof value === 'string' && WELL_FORMED.test(value));
      }),
      { numRuns: 2_000 },
    );
  });

  test('the stored hash is a function of the token alone, and tells different tokens apart', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, (a, b) => {
        expect(tokenHashHex(a)).toBe(tokenHashHex(a));
        expect(hashToken(a).equals(hashToken(b))).toBe(a === b);
        expect(tokenHashHex(a)).toMatch(/^[0-9a-f]{64}$/);
      }),
      { numRuns: 2_000 },
    );
  });

  test('generated tokens never repeat and always carry 32 random bytes', () => {
    const tokens = Array.from({ length: 10_000 }, generateToken);
    expect(new Set(tokens).size).toBe(tokens.length);
    for (const token of tokens.slice(0, 100)) expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  });
});

describe('CSRF double submit', () => {
  test('a form is accepted exactly when the field equals the cookie and both are well formed', () => {
    fc.assert(
      fc.property(fc.oneof(wellFormed, anyValue), fc.oneof(wellFormed, anyValue), fc.boolean(), (cookie, field, same) => {
        const sent = same ? cookie : field;
        const cookieValue = typeof cookie === 'string' ? cookie : undefined;
        const expected = typeof cookieValue === 'string' && WELL_FORMED.test(cookieValue) && sent === cookieValue;
        expect(csrfMatches(cookieValue, sent)).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  test('the cookie is read only when exactly one well-formed lf_csrf is sent, whatever else the header holds', () => {
    const otherCookie = fc
      .tuple(
        fc.stringMatching(/^[a-z_]{1,8}$/).filter((n) => n !== CSRF_COOKIE),
        fc.stringMatching(/^[A-Za-z0-9_=-]{0,20}$/),
      )
      .map(([n, v]) => `${n}=${v}`);
    fc.assert(
      fc.property(
        fc.array(otherCookie, { maxLength: 3 }),
        fc.array(
          fc.oneof(
            wellFormed,
            fc.string({ maxLength: 50 }).filter((v) => !/[;\s]/.test(v)),
          ),
          { maxLength: 2 },
        ),
        (others, ours) => {
          const header = [...others, ...ours.map((v) => `${CSRF_COOKIE}=${v}`)].join('; ');
          const expected = ours.length === 1 && WELL_FORMED.test(ours[0]) ? ours[0] : undefined;
          expect(csrfCookieOf(header)).toBe(expected);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  test('new CSRF values are well formed and never repeat', () => {
    const values = Array.from({ length: 5_000 }, newCsrfValue);
    expect(values.every((v) => WELL_FORMED.test(v))).toBe(true);
    expect(new Set(values).size).toBe(values.length);
  });
});
