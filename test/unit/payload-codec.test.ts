import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  generateEncryptionKey,
  parseEncryptionKeys,
  PayloadKeyError,
} from '../../src/temporal/payload-codec';

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const contact = { email: 'ada.admin@acme.com', fullName: 'Ada Admin' };

describe('AES-GCM payload codec (R14)', () => {
  const k1 = parseEncryptionKeys(generateEncryptionKey('k1'));
  const plain: Payload = defaultPayloadConverter.toPayload(contact);

  test('sealed payloads carry no plain text, only the key ID and cipher; they open to the original', async () => {
    const codec = new AesGcmPayloadCodec(k1);
    const [sealed] = await codec.encode([plain]);
    expect(text(sealed.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed.metadata!['encryption-key-id'])).toBe('k1');
    expect(text(sealed.data)).not.toContain('acme.com');
    expect(text(sealed.data)).not.toContain('Ada');
    const [opened] = await codec.decode([sealed]);
    expect(defaultPayloadConverter.fromPayload(opened)).toEqual(contact);
    expect(text(opened.metadata!.encoding)).toBe('json/plain');
  });

  test('the same value seals differently every time (random IV)', async () => {
    const codec = new AesGcmPayloadCodec(k1);
    const [a] = await codec.encode([plain]);
    const [b] = await codec.encode([plain]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  test('rotation: a new current key seals, the old key still opens what it sealed', async () => {
    const old = new AesGcmPayloadCodec(k1);
    const [sealedBefore] = await old.encode([plain]);
    const k2 = parseEncryptionKeys(generateEncryptionKey('k2'));
    const rotated = new AesGcmPayloadCodec([...k2, ...k1]);
    const [sealedAfter] = await rotated.encode([plain]);
    expect(text(sealedAfter.metadata!['encryption-key-id'])).toBe('k2');
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([sealedBefore]))[0])).toEqual(contact);
    // A process that dropped k1 cannot open it, and says which key is missing.
    await expect(new AesGcmPayloadCodec(k2).decode([sealedBefore])).rejects.toThrow(/"k1"/);
  });

  test('tampering is detected', async () => {
    const codec = new AesGcmPayloadCodec(k1);
    const [sealed] = await codec.encode([plain]);
    const data = Buffer.from(sealed.data!);
    data[20] ^= 0xff;
    await expect(codec.decode([{ ...sealed, data }])).rejects.toThrow();
  });

  test('payloads that were never sealed pass through (old histories still replay)', async () => {
    const codec = new AesGcmPayloadCodec(k1);
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  test.each([
    ['empty', '', /at least one key/],
    ['without an ID', 'nokey', /id:base64key/],
    ['a short key', 'k1:c2hvcnQ=', /32 bytes/],
    ['two keys with one ID', `${generateEncryptionKey('a')},${generateEncryptionKey('a')}`, /unique/],
  ])('PAYLOAD_ENCRYPTION_KEYS %s is refused', (_name, value, message) => {
    expect(() => parseEncryptionKeys(value)).toThrow(PayloadKeyError);
    expect(() => parseEncryptionKeys(value)).toThrow(message);
  });
});
