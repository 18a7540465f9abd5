/**
 * Header injection, as properties over the real mail path: renderOrderEmail (src/orders/email-templates.ts)
 * → createSmtpMailer (src/email/mailer.ts, nodemailer) → a real SMTP conversation with an
 * in-process smtp-server (strict RFC 5321 address checks). Whatever the text in the facts (names, account names, references,
 * domains: any unicode, line breaks, "Bcc:" lines, encoded words), the message that arrives has
 * our headers only, one of each, one recipient in the envelope, and the subject on one line.
 * One gap is open: text shaped like a MIME encoded word in an all-ASCII subject (see below).
 * The integration test (test/integration/security.test.ts) does the same through the API.
 */
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createSmtpMailer, messageIdFor, type Mailer } from '../../src/email/mailer';
import { EMAIL_TEMPLATES, renderOrderEmail, type OrderEmailFacts } from '../../src/orders/email-templates';

const FROM = 'Smart Licensing Orders <orders@license-fulfillment.localhost>';
const OUR_HEADERS = [
  'from',
  'to',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'x-order-id',
  'x-email-template',
  'x-idempotency-key',
];

const HEADER_TRICKS = [
  '\r\nBcc: evil@evil.test',
  '\nBcc: evil@evil.test',
  '\rCc: evil@evil.test',
  '\r\n\r\n<h1>injected body</h1>',
  '\u2028Bcc: evil@evil.test',
  '\u0085To: evil@evil.test',
  '=?UTF-8?Q?=0D=0ABcc:evil@evil.test?=',
  ' Bcc: evil@evil.test',
  ', evil@evil.test',
];
/** Text a hostile name could hold: any code point, and the header tricks anywhere in it. */
const hostile = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom(...HEADER_TRICKS), fc.string({ unit: 'grapheme', maxLength: 10 }))
  .map(([a, trick, b]) => `${a}${trick}${b}`);
/** Addresses an RFC 5321 server takes: dots only between atoms (the address rule refuses the rest, see properties-validators). */
const address = fc
  .tuple(fc.stringMatching(/^[a-z0-9+'-]{1,12}(\.[a-z0-9+'-]{1,6}){0,2}$/), fc.stringMatching(/^[a-z0-9]{1,10}\.(test|example)$/))
  .map(([l, d]) => `${l}@${d}`);

const facts = (strings: {
  name: string;
  partner: string;
  account: string;
  reference: string;
  domain: string;
  reason: string;
}): OrderEmailFacts => ({
  orderId: '0123456789abcdef0123',
  externalReference: strings.reference,
  recipientName: strings.name,
  partnerName: strings.partner,
  account: { name: strings.account, domain: strings.domain, virtualAccountPath: strings.account },
  holdingAccount: { name: strings.account, virtualAccountPath: strings.account },
  lines: [
    {
      lineNumber: 1,
      sku: 'X',
      quantity: 1,
      licenseType: 'smart',
      termMonths: 12,
      state: 'shipped',
      shippedOn: '2026-01-01',
      subscription: { startsOn: '2026-01-01', endsOn: '2027-01-01' },
    },
  ],
  today: '2026-02-01',
  link: 'http://localhost:3000/delegations/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  linkExpiresAt: '2026-02-14T09:30:00.000Z',
  reminderNumber: 2,
  heldSince: '2026-01-01',
  refusalReason: strings.reason,
  requestedDomain: strings.domain,
});
const hostileFacts = fc
  .record({ name: hostile, partner: hostile, account: hostile, reference: hostile, domain: hostile, reason: hostile })
  .map(facts);

describe('renderOrderEmail', () => {
  test('every subject is one line, whatever the facts hold', () => {
    fc.assert(
      fc.property(fc.constantFrom(...EMAIL_TEMPLATES), hostileFacts, (template, f) => {
        expect(renderOrderEmail(template, f).subject).not.toMatch(/[\r\n]/);
      }),
      { numRuns: 2_000 },
    );
  });

  test('no text from the facts becomes markup in the HTML', () => {
    const marked = hostile.map((s) => `${s}<x-injected a="1">'&`);
    fc.assert(
      fc.property(
        fc.constantFrom(...EMAIL_TEMPLATES),
        fc.record({ name: marked, partner: marked, account: marked, reference: marked, domain: marked, reason: marked }),
        (template, strings) => {
          const { html } = renderOrderEmail(template, facts(strings));
          expect(html).not.toContain('<x-injected');
        },
      ),
      { numRuns: 1_000 },
    );
  });
});

describe('messageIdFor', () => {
  test('is one header-safe token per idempotency key, whatever the key holds', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (key) => {
        const id = messageIdFor(key, FROM);
        expect(id).toMatch(/^<[0-9a-f]{40}@license-fulfillment\.localhost>$/);
        expect(messageIdFor(key, FROM)).toBe(id);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('a message sent through the mailer', () => {
  interface Received {
    recipients: string[];
    raw: string;
  }
  const received: Received[] = [];
  let server: SMTPServer;
  let mailer: Mailer;

  beforeAll(async () => {
    // No reverse DNS lookup of the client: it would cost a lookup timeout per message here.
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      disableReverseLookup: true,
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          received.push({ recipients: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    mailer = createSmtpMailer(`smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    mailer.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** The header block as received, unfolded: [lower-case name, value] pairs. */
  function headersOf(raw: string): Array<[string, string]> {
    return raw
      .slice(0, raw.indexOf('\r\n\r\n'))
      .replace(/\r\n[ \t]+/g, ' ')
      .split('\r\n')
      .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]);
  }

  test('arrives with our headers only, one of each, and one recipient: nothing injected on the wire', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...EMAIL_TEMPLATES),
        hostileFacts,
        address,
        // Header values the outbox sets from its row; none of them can carry a line break today, but the mailer must not depend on it.
        fc.string({ unit: 'binary', maxLength: 60 }),
        hostile,
        async (template, f, to, orderId, idempotencyKey) => {
          const rendered = renderOrderEmail(template, f);
          const before = received.length;
          await mailer.send({
            from: FROM,
            to,
            ...rendered,
            messageId: messageIdFor(idempotencyKey, FROM),
            headers: { 'X-Order-Id': orderId, 'X-Email-Template': template, 'X-Idempotency-Key': idempotencyKey },
          });
          expect(received).toHaveLength(before + 1);
          const message = received[before];
          expect(message.recipients).toEqual([to]);
          const headers = headersOf(message.raw);
          for (const [name] of headers) expect({ name, ours: OUR_HEADERS.includes(name) }).toEqual({ name, ours: true });
          for (const name of ['from', 'to', 'subject', 'message-id', 'x-idempotency-key']) {
            expect({ name, count: headers.filter(([n]) => n === name).length }).toEqual({ name, count: 1 });
          }
          expect(headers.find(([n]) => n === 'to')![1]).toBe(to);
          const parsed = await simpleParser(message.raw);
          expect(parsed.messageId).toBe(messageIdFor(idempotencyKey, FROM));
          expect(parsed.bcc).toBeUndefined();
          expect(parsed.cc).toBeUndefined();
        },
      ),
      // One SMTP conversation each (about 150 ms): fewer runs than the pure properties above.
      { numRuns: 50 },
    );
  });

  /**
   * Still open (docs/SECURITY.md, known gaps): an all-ASCII subject goes out as it is, so text
   * shaped like a MIME encoded word ("=?UTF-8?Q?=0D=0ABcc:...?=", RFC 2047) in a value that reaches
   * a subject (an account name typed on the delegation page) is decoded by the reader's mail
   * client: the subject it shows is not the one we wrote, and may hold a line break. No header and
   * no recipient is added on the wire (the property above); the fix is to break "=?" in subjects.
   */
  test('the subject a mail client shows is the subject we wrote (open)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...EMAIL_TEMPLATES), hostileFacts, async (template, f) => {
        const rendered = renderOrderEmail(template, f);
        const before = received.length;
        await mailer.send({ from: FROM, to: 'a@a.test', ...rendered, messageId: messageIdFor('k', FROM), headers: {} });
        expect((await simpleParser(received[before].raw)).subject).toBe(rendered.subject);
      }),
      {
        numRuns: 20,
        examples: [
          [
            'deposit-confirmation',
            facts({
              name: 'x',
              partner: 'x',
              account: '=?UTF-8?Q?=0D=0ABcc:evil@evil.test?=',
              reference: 'PO-1',
              domain: 'acme.test',
              reason: 'x',
            }),
          ],
        ],
      },
    );
  });
});
