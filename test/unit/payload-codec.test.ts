import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import {
  AesGcmPayloadCodec,
  COMPRESS_FROM_BYTES,
  COMPRESSED_ENCODING,
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

  describe('compression before sealing', () => {
    // An order's status document, as activity inputs carry it: repetitive JSON of about 1 kB.
    const status = {
      orderId: 'ord-1',
      phase: 'Provisioning',
      lines: Array.from({ length: 12 }, (_, i) => ({
        sku: `SKU-${i}`,
        quantity: i + 1,
        state: 'Placed',
        placedAt: '2026-12-07T06:00:00Z',
      })),
      contact,
    };
    const large: Payload = defaultPayloadConverter.toPayload(status);
    const sizeOf = (payload: Payload) => Buffer.from(payload.data!).length;
    const bytesOf = (payload: Payload) => ({ encoding: text(payload.metadata!.encoding), data: Buffer.from(payload.data!) });

    test('a large payload is deflated before sealing, under its own encoding, and opens to the original', async () => {
      const codec = new AesGcmPayloadCodec(k1);
      const [sealed] = await codec.encode([large]);
      expect(text(sealed.metadata!.encoding)).toBe(COMPRESSED_ENCODING);
      expect(text(sealed.metadata!['encryption-key-id'])).toBe('k1');
      expect(text(sealed.data)).not.toContain('acme.com');
      expect(sizeOf(sealed)).toBeLessThan(sizeOf(large) / 2);
      const [opened] = await codec.decode([sealed]);
      expect(bytesOf(opened)).toEqual(bytesOf(large));
      expect(defaultPayloadConverter.fromPayload(opened)).toEqual(status);
    });

    test('a small payload is sealed as before, not deflated', async () => {
      expect(sizeOf(plain)).toBeLessThan(COMPRESS_FROM_BYTES);
      const [sealed] = await new AesGcmPayloadCodec(k1).encode([plain]);
      expect(text(sealed.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    });

    test('PAYLOAD_COMPRESSION=off seals a large payload as before, and still opens deflated ones (a rolling upgrade)', async () => {
      const upgrading = new AesGcmPayloadCodec(k1, { compress: false });
      const [sealed] = await upgrading.encode([large]);
      expect(text(sealed.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
      const [deflated] = await new AesGcmPayloadCodec(k1).encode([large]);
      const opened = await upgrading.decode([sealed, deflated]);
      expect(opened.map(bytesOf)).toEqual([bytesOf(large), bytesOf(large)]);
    });

    test('a large payload deflate cannot shrink is sealed as before', async () => {
      const noise: Payload = { metadata: { encoding: Buffer.from('binary/plain') }, data: randomBytes(4 * COMPRESS_FROM_BYTES) };
      const codec = new AesGcmPayloadCodec(k1);
      const [sealed] = await codec.encode([noise]);
      expect(text(sealed.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
      expect(bytesOf((await codec.decode([sealed]))[0])).toEqual(bytesOf(noise));
    });

    test('a payload sealed before compression existed (a large one, uncompressed) still opens', async () => {
      // Sealed by the codec of main b889fb0 with this fixed test key.
      const oldKeys = parseEncryptionKeys(`old:${Buffer.alloc(32, 7).toString('base64')}`);
      const sealedBefore: Payload = {
        metadata: {
          encoding: Buffer.from(ENCRYPTED_ENCODING),
          'encryption-key-id': Buffer.from('old'),
          'encryption-cipher': Buffer.from('AES-256-GCM'),
        },
        data: Buffer.from(SEALED_BEFORE_COMPRESSION, 'base64'),
      };
      const [opened] = await new AesGcmPayloadCodec(oldKeys).decode([sealedBefore]);
      expect(defaultPayloadConverter.fromPayload<{ orderId: string; contact: unknown }>(opened)).toMatchObject({
        orderId: 'ord-1',
        contact,
      });
    });

    test('a tampered compressed payload is refused', async () => {
      const codec = new AesGcmPayloadCodec(k1);
      const [sealed] = await codec.encode([large]);
      const data = Buffer.from(sealed.data!);
      data[30] ^= 0x01;
      await expect(codec.decode([{ ...sealed, data }])).rejects.toThrow(/does not open with this process's key of that ID/);
    });

    test('a payload relabelled to the other encoding is refused, either way', async () => {
      const codec = new AesGcmPayloadCodec(k1);
      const [compressed] = await codec.encode([large]);
      const [uncompressed] = await codec.encode([plain]);
      const relabel = (payload: Payload, encoding: string) => ({
        ...payload,
        metadata: { ...payload.metadata, encoding: Buffer.from(encoding) },
      });
      await expect(codec.decode([relabel(compressed, ENCRYPTED_ENCODING)])).rejects.toThrow(PayloadKeyError);
      await expect(codec.decode([relabel(uncompressed, COMPRESSED_ENCODING)])).rejects.toThrow(PayloadKeyError);
    });
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

/** A large status-like payload sealed by the codec before compression (see its test). */
const SEALED_BEFORE_COMPRESSION =
  '0wZtLKiQSekUFrERtPX2h7q1ZOIlUS/b5bRLLZ7jx4cPD2AU8zC1c0BVhRoSB4LIL8fmRmQS/lpCtzEsdfUOEMLlEnmPErbwhpS/1ALQrQJULJK4WuG0yLsJGPEdzH+EUGdtz6u2Vw8JAsjISJ5EK+nD43gMC/3sELSAnLVt0mQTHF5SDf3UZnFXBjWOZobz/MxsVmBS5jlebpDOeb8Ld2ObJ14zYCWndvhXtAST2ntphC5iYIwA9WnxH6sH4kbBYa44Os0hE2CZ4S75qYok76Z7yXQWIRq/QFcWO9G4/jQB/EwTifIkH6ojpZS3X66aobwk2cAZkiEGHFlC9lfJK+Pv2y8fTVbKnGroVOiKr2JLZ+owPhvWvxg1Hml+H8SLZ7JHtzAoPjslo8o1pZv30HcppOiSspl9Fce3gIRkicgBGnI+mXmfQRQ0ILPp7NkscOJSelTmyXyWAEL+eds/e7tanXc2aZwlTcit+FE40w74Grf54RnAYpYdfxg0pab2n4TaXecpl6WazJlEfrWDj4OzHl5k5RvyFGVA+lvt9PwDAmrKr3ZjoxMTGGXfKP2j0plWfHMcrUkeRqXpgPcQ';
