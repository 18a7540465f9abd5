/**
 * Derived identities: the order ID (src/orders/book-order.ts) that makes a re-sent booking map
 * to the same workflow, and the Message-ID (src/email/mailer.ts) that makes a re-sent email
 * recognisable as the same message.
 */
import { deriveOrderId } from '../../src/orders/book-order';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config';
import { messageIdFor } from '../../src/email/mailer';

describe('deriveOrderId', () => {
  test('is deterministic', () => {
    expect(deriveOrderId('partner-1', 'PO-2026-0001')).toBe(deriveOrderId('partner-1', 'PO-2026-0001'));
  });

  test('is 20 lowercase hex characters', () => {
    for (const [partner, reference] of [
      ['partner-1', 'PO-2026-0001'],
      ['P', 'R'],
      ['x'.repeat(128), 'y'.repeat(128)],
      ['', ''],
    ]) {
      expect(deriveOrderId(partner, reference)).toMatch(/^[0-9a-f]{20}$/);
    }
  });

  test('differs by partner', () => {
    expect(deriveOrderId('partner-1', 'PO-1')).not.toBe(deriveOrderId('partner-2', 'PO-1'));
  });

  test('differs by reference', () => {
    expect(deriveOrderId('partner-1', 'PO-1')).not.toBe(deriveOrderId('partner-1', 'PO-2'));
  });

  test('is case-sensitive in both parts', () => {
    expect(deriveOrderId('partner-1', 'po-1')).not.toBe(deriveOrderId('partner-1', 'PO-1'));
    expect(deriveOrderId('Partner-1', 'PO-1')).not.toBe(deriveOrderId('partner-1', 'PO-1'));
  });

  test('does not depend on which part a character is in when there is no separator in the values', () => {
    // Plain concatenation would collide here; the separator keeps them apart.
    expect(deriveOrderId('ab', 'c')).not.toBe(deriveOrderId('a', 'bc'));
    expect(deriveOrderId('a', '')).not.toBe(deriveOrderId('', 'a'));
  });

  test('many distinct (partner, reference) pairs give distinct IDs', () => {
    const ids = new Set<string>();
    for (let p = 0; p < 30; p++) for (let r = 0; r < 30; r++) ids.add(deriveOrderId(`partner-${p}`, `PO-${r}`));
    expect(ids.size).toBe(900);
  });

  test('is not fooled by separator tricks', () => {
    expect(deriveOrderId('a', 'b\nc')).not.toBe(deriveOrderId('a\nb', 'c'));
  });
});

describe('messageIdFor', () => {
  const MAIL_FROM = CONFIG_VARIABLES.MAIL_FROM.default;

  test('is deterministic', () => {
    expect(messageIdFor('order-abc:deposit-confirmation:customer', MAIL_FROM)).toBe(
      messageIdFor('order-abc:deposit-confirmation:customer', MAIL_FROM),
    );
  });

  test('is <hex@domain> shaped, with the MAIL_FROM domain', () => {
    const id = messageIdFor('order-abc:deposit-confirmation:customer', MAIL_FROM);
    expect(id).toMatch(/^<[0-9a-f]+@[^<>@\s]+>$/);
    expect(id).toMatch(/^<[0-9a-f]{40}@license-fulfillment\.localhost>$/);
    expect(MAIL_FROM).toContain('@license-fulfillment.localhost>');
  });

  test('uses the domain of the configured MAIL_FROM', () => {
    const config = loadConfig({ MAIL_FROM: 'Orders <orders@example.com>' });
    expect(messageIdFor('k', config.mailFrom)).toMatch(/^<[0-9a-f]{40}@example\.com>$/);
    expect(messageIdFor('k', 'Smart Licensing <noreply@mail.acme.co.uk>')).toMatch(/@mail\.acme\.co\.uk>$/);
  });

  test('accepts a bare address as MAIL_FROM', () => {
    expect(messageIdFor('k', 'orders@example.org')).toMatch(/^<[0-9a-f]{40}@example\.org>$/);
  });

  test('takes the domain of the address, not of an "@" in the display name', () => {
    expect(messageIdFor('k', '"a@b.test" <orders@example.net>')).toMatch(/@example\.net>$/);
  });

  test('differs per key', () => {
    const keys = [
      'order-1:deposit-confirmation:customer',
      'order-1:deposit-confirmation:partner',
      'order-2:deposit-confirmation:customer',
      '',
    ];
    const ids = keys.map((k) => messageIdFor(k, MAIL_FROM));
    expect(new Set(ids).size).toBe(keys.length);
  });

  test('depends only on the key for its local part', () => {
    const local = (id: string) => id.slice(1, id.indexOf('@'));
    expect(local(messageIdFor('same-key', 'A <a@one.test>'))).toBe(local(messageIdFor('same-key', 'B <b@two.test>')));
  });
});
