/**
 * Email templates (src/email/templates.ts): the facts appear in subject, text and HTML; every
 * interpolated value is HTML-escaped; nothing a customer typed can break a header line.
 */
import { escapeHtml, renderDepositConfirmation, type DepositConfirmationFacts } from '../../src/email/templates';

function facts(overrides: Partial<DepositConfirmationFacts> = {}): DepositConfirmationFacts {
  return {
    orderId: '0123456789abcdef0123',
    externalReference: 'PO-2026-0001',
    recipientName: 'Casey Customer',
    accountName: 'Acme Corp',
    accountDomain: 'acme.com',
    virtualAccountPath: 'Region-US/Finance',
    lines: [
      { lineNumber: 1, sku: 'C9300-DNA-E-24-3Y', quantity: 10, licenseType: 'smart', termMonths: 36 },
      { lineNumber: 2, sku: 'L-LIC-PERP', quantity: 1, licenseType: 'classic', termMonths: null },
    ],
    ...overrides,
  };
}

/** The HTML with its markup removed and the five escapes undone: roughly what a reader sees. */
function visibleText(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

describe('renderDepositConfirmation: content', () => {
  const email = renderDepositConfirmation(facts());

  test('subject names the reference and the account, on one line', () => {
    expect(email.subject).toBe('Order PO-2026-0001: licenses deposited in Acme Corp');
    expect(email.subject).not.toMatch(/[\r\n]/);
  });

  test('text greets the recipient and names order, account, domain and virtual account', () => {
    const lines = email.text.split('\n');
    expect(lines[0]).toBe('Hello Casey Customer,');
    expect(lines[1]).toBe('');
    expect(email.text).toContain('PO-2026-0001');
    expect(email.text).toContain('order ID 0123456789abcdef0123');
    expect(email.text).toContain('Acme Corp (acme.com), virtual account Region-US/Finance');
  });

  test('text lists every line with its term', () => {
    expect(email.text).toContain('  1. C9300-DNA-E-24-3Y x 10 (smart, 36-month term)');
    expect(email.text).toContain('  2. L-LIC-PERP x 1 (classic, perpetual)');
    expect(email.text.indexOf('1. C9300')).toBeLessThan(email.text.indexOf('2. L-LIC-PERP'));
  });

  test('html carries the same facts, with a table row per line', () => {
    expect(email.html).toMatch(/^<!doctype html>/);
    expect(email.html).toContain(`<title>${email.subject}</title>`);
    expect(email.html).toContain('<p>Hello Casey Customer,</p>');
    expect(email.html).toContain('<strong>PO-2026-0001</strong>');
    expect(email.html).toContain('order ID 0123456789abcdef0123');
    expect(email.html).toContain('<strong>Acme Corp (acme.com), virtual account Region-US/Finance</strong>');
    expect(email.html).toContain('<tr><td>1</td><td>C9300-DNA-E-24-3Y</td><td>10</td><td>smart</td><td>36-month term</td></tr>');
    expect(email.html).toContain('<tr><td>2</td><td>L-LIC-PERP</td><td>1</td><td>classic</td><td>perpetual</td></tr>');
    expect(email.html.match(/<tr><td>/g)).toHaveLength(2);
  });

  test('no domain and no virtual account leave no empty parentheses or dangling comma', () => {
    const e = renderDepositConfirmation(facts({ accountDomain: null, virtualAccountPath: null }));
    expect(e.text).toContain('deposited in the Smart Account Acme Corp.');
    expect(e.text).not.toContain('()');
    expect(e.text).not.toContain('virtual account');
    expect(e.html).toContain('<strong>Acme Corp</strong>');
  });

  test('domain without virtual account, and virtual account without domain', () => {
    expect(renderDepositConfirmation(facts({ virtualAccountPath: null })).text).toContain('Smart Account Acme Corp (acme.com).');
    expect(renderDepositConfirmation(facts({ accountDomain: null })).text).toContain(
      'Smart Account Acme Corp, virtual account Region-US/Finance.',
    );
  });

  test('no recipient name: a plain greeting', () => {
    for (const recipientName of [undefined, '']) {
      const e = renderDepositConfirmation(facts({ recipientName }));
      expect(e.text.split('\n')[0]).toBe('Hello,');
      expect(e.html).toContain('<p>Hello,</p>');
    }
  });

  test('other terms are described in months', () => {
    const e = renderDepositConfirmation(
      facts({ lines: [{ lineNumber: 7, sku: 'SUB-1', quantity: 3, licenseType: 'smart', termMonths: 12 }] }),
    );
    expect(e.text).toContain('  7. SUB-1 x 3 (smart, 12-month term)');
    expect(e.html).toContain('<td>12-month term</td>');
  });
});

describe('renderDepositConfirmation: escaping', () => {
  const SCRIPT = '<script>alert("x")</script>';
  const ATTR = `x" onmouseover='alert(1)'`;

  const hostile = facts({
    orderId: `order-${SCRIPT}`,
    externalReference: `PO-${SCRIPT}-${ATTR}`,
    recipientName: `Eve ${SCRIPT} ${ATTR} & Co`,
    accountName: `Acme ${SCRIPT} ${ATTR} & Sons`,
    accountDomain: `acme.com${SCRIPT}`,
    virtualAccountPath: `Finance/${SCRIPT}/${ATTR}`,
    lines: [
      { lineNumber: 1, sku: `SKU-${SCRIPT}-${ATTR}`, quantity: 1, licenseType: 'smart', termMonths: 36 },
      { lineNumber: 2, sku: 'AT&T<b>"q"</b>', quantity: 2, licenseType: 'classic', termMonths: null },
    ],
  });
  const email = renderDepositConfirmation(hostile);

  test('no interpolated markup survives in the HTML', () => {
    expect(email.html).not.toContain('<script');
    expect(email.html).not.toContain('</script');
    expect(email.html).not.toContain('<b>');
    expect(email.html).not.toContain('" onmouseover=');
    expect(email.html).not.toContain("'alert(1)'");
    expect(email.html).not.toContain('"x"');
    expect(email.html).not.toContain('"q"');
  });

  test('each hostile value appears in escaped form', () => {
    const escapedScript = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;';
    const escapedAttr = 'x&quot; onmouseover=&#39;alert(1)&#39;';
    expect(escapeHtml(SCRIPT)).toBe(escapedScript);
    expect(escapeHtml(ATTR)).toBe(escapedAttr);
    // order ID, reference, recipient, account, domain, virtual account, both SKUs.
    expect(email.html).toContain(`order ID order-${escapedScript}`);
    expect(email.html).toContain(`<strong>PO-${escapedScript}-${escapedAttr}</strong>`);
    expect(email.html).toContain(`<p>Hello Eve ${escapedScript} ${escapedAttr} &amp; Co,</p>`);
    expect(email.html).toContain(
      `<strong>Acme ${escapedScript} ${escapedAttr} &amp; Sons (acme.com${escapedScript}), virtual account Finance/${escapedScript}/${escapedAttr}</strong>`,
    );
    expect(email.html).toContain(`<td>SKU-${escapedScript}-${escapedAttr}</td>`);
    expect(email.html).toContain('<td>AT&amp;T&lt;b&gt;&quot;q&quot;&lt;/b&gt;</td>');
    // The title (the subject) is escaped too.
    expect(email.html).toContain(`<title>${escapeHtml(email.subject)}</title>`);
    expect(email.html).not.toContain(`<title>${email.subject}</title>`);
  });

  test('the only tags in the HTML are the template\'s own', () => {
    const tags = new Set([...email.html.matchAll(/<\/?([a-zA-Z!][a-zA-Z0-9]*)/g)].map((m) => m[1].toLowerCase()));
    expect([...tags].sort()).toEqual(
      ['!doctype', 'body', 'head', 'html', 'meta', 'p', 'strong', 'table', 'tbody', 'td', 'th', 'thead', 'title', 'tr'].sort(),
    );
  });

  test('what a reader sees is the original value', () => {
    const seen = visibleText(email.html);
    expect(seen).toContain(hostile.externalReference);
    expect(seen).toContain(hostile.accountName);
    expect(seen).toContain(hostile.virtualAccountPath!);
    expect(seen).toContain(hostile.lines[0].sku);
    expect(seen).toContain(hostile.lines[1].sku);
  });

  test('the text body is plain text: values are not escaped there', () => {
    expect(email.text).toContain(hostile.accountName);
    expect(email.text).toContain(`  2. AT&T<b>"q"</b> x 2 (classic, perpetual)`);
  });

  test('the subject keeps the raw characters (it is a header, not HTML)', () => {
    expect(email.subject).toBe(`Order ${hostile.externalReference}: licenses deposited in ${hostile.accountName}`);
  });
});

describe('renderDepositConfirmation: line breaks in names', () => {
  test.each([
    ['CRLF', 'Eve\r\nBcc: victim@evil.com'],
    ['LF', 'Eve\nBcc: victim@evil.com'],
    ['CR', 'Eve\rBcc: victim@evil.com'],
    ['several', 'Eve\r\n\r\n\nBcc: victim@evil.com\n'],
  ])('a recipientName with %s gives a one-line greeting', (_name, recipientName) => {
    const e = renderDepositConfirmation(facts({ recipientName }));
    const [greeting, blank, body] = e.text.split('\n');
    expect(greeting).toMatch(/^Hello Eve +Bcc: victim@evil\.com,$/);
    expect(greeting).not.toMatch(/\r/);
    expect(blank).toBe('');
    expect(body).toMatch(/^The licenses of order /);
    expect(e.html).toMatch(/<p>Hello Eve +Bcc: victim@evil\.com,<\/p>/);
    expect(e.subject).not.toMatch(/[\r\n]/);
  });

  test('CR/LF in the reference or account name never reach the subject', () => {
    const e = renderDepositConfirmation(
      facts({ externalReference: 'PO-1\r\nBcc: victim@evil.com', accountName: 'Acme\nX-Injected: yes\r\n' }),
    );
    expect(e.subject).not.toMatch(/[\r\n]/);
    expect(e.subject).toMatch(/^Order PO-1 +Bcc: victim@evil\.com: licenses deposited in Acme +X-Injected: yes$/);
    expect(e.html).not.toMatch(/<title>[^<]*[\r\n]/);
  });
});

describe('escapeHtml', () => {
  test.each([
    ['&', '&amp;'],
    ['<', '&lt;'],
    ['>', '&gt;'],
    ['"', '&quot;'],
    ["'", '&#39;'],
    ['<a href="x">O\'Neil & Co</a>', '&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; Co&lt;/a&gt;'],
    ['&lt;', '&amp;lt;'],
    ['plain text / 123', 'plain text / 123'],
    ['', ''],
  ])('%p -> %p', (input, expected) => {
    expect(escapeHtml(input)).toBe(expected);
  });

  test('escaping twice escapes the ampersands again (callers escape exactly once)', () => {
    expect(escapeHtml(escapeHtml('<'))).toBe('&amp;lt;');
  });
});
