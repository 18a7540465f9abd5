import { parseKeyList } from '../../src/security/key-list';
import { parseSigningKeys, SigningKeyError } from '../../src/licensing/signing';
import { parseEncryptionKeys, PayloadKeyError } from '../../src/temporal/payload-codec';

/** One parser serves both key lists (issue 18 item 6): same format, same refusals, first key current. */
const secret = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const format = {
  secretName: 'base64x',
  wrongLength: (id: string, n: number) => `${id}: ${n} bytes`,
  error: (m: string) => new RangeError(m),
};

test('the first key is current; order and IDs are kept; whitespace and empty entries are ignored', () => {
  expect(parseKeyList(` new:${secret(2)}, ,old:${secret(1)} `, format)).toEqual([
    { id: 'new', secret: Buffer.alloc(32, 2) },
    { id: 'old', secret: Buffer.alloc(32, 1) },
  ]);
  expect(parseEncryptionKeys(`new:${secret(2)},old:${secret(1)}`).map((k) => k.id)).toEqual(['new', 'old']);
  expect(parseSigningKeys(`new:${secret(2)},old:${secret(1)}`).current.id).toBe('new');
});

test.each([
  ['empty', '', /at least one key/],
  ['no id', secret(1), /id:base64x/],
  ['a bad id', `a b:${secret(1)}`, /id:base64x/],
  ['a short secret', `k:${Buffer.alloc(16).toString('base64')}`, /k: 16 bytes/],
  ['a repeated id', `k:${secret(1)},k:${secret(2)}`, /unique/],
])("%s is refused with the caller's error, both lists alike, never echoing the secret", (_name, text, message) => {
  expect(() => parseKeyList(text, format)).toThrow(RangeError);
  expect(() => parseKeyList(text, format)).toThrow(message);
  expect(() => parseEncryptionKeys(text)).toThrow(PayloadKeyError);
  expect(() => parseSigningKeys(text)).toThrow(SigningKeyError);
  try {
    parseSigningKeys(text);
  } catch (err) {
    expect((err as Error).message).not.toContain(secret(1));
  }
});
