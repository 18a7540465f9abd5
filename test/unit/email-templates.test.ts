/**
 * Email templates (src/orders/email-templates.ts): renderOrderEmail(template, facts) for every template
 * in EMAIL_TEMPLATES. Each email greets the reader, says what happened, what to do (with the
 * link when there is one) and summarises the order; term lines that ship before the licenses
 * can be used carry a "running for N days" warning (S3). Every interpolated value is escaped
 * in the HTML, and no line break a name carries can split the subject (a mail header).
 */
import { LINK_PLACEHOLDER } from '../../activities/shared/outbox';
import {
  EMAIL_TEMPLATES,
  escapeHtml,
  renderOrderEmail,
  type EmailTemplate,
  type OrderEmailFacts,
  type OrderSummaryLine,
} from '../../src/orders/email-templates';

const LINK = 'http://localhost:3000/delegations/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde';
const SIGNATURE = 'Smart Licensing order fulfillment';

const PERPETUAL: OrderSummaryLine = {
  lineNumber: 1,
  sku: 'L-PERP',
  quantity: 5,
  licenseType: 'smart',
  termMonths: null,
  state: 'held',
  shippedOn: null,
  subscription: null,
};
const TERM_SHIPPED: OrderSummaryLine = {
  lineNumber: 2,
  sku: 'C9300-DNA-E-24-3Y',
  quantity: 10,
  licenseType: 'smart',
  termMonths: 36,
  state: 'shipped',
  shippedOn: '2026-03-01',
  subscription: { startsOn: '2026-03-01', endsOn: '2029-03-01' },
};
const CLASSIC: OrderSummaryLine = {
  lineNumber: 3,
  sku: 'L-CLASSIC-1Y',
  quantity: 1,
  licenseType: 'classic',
  termMonths: 12,
  state: 'booked',
};

function facts(overrides: Partial<OrderEmailFacts> = {}): OrderEmailFacts {
  return {
    orderId: 'ord-0123',
    externalReference: 'PO-2026-0001',
    recipientName: 'Casey Customer',
    partnerName: 'Partner One',
    account: { name: 'Acme Corp', domain: 'acme.com', virtualAccountPath: 'Region-US/Finance' },
    holdingAccount: { name: 'Partner One Holding', virtualAccountPath: 'Default' },
    lines: [PERPETUAL, TERM_SHIPPED, CLASSIC],
    today: '2026-03-11',
    link: LINK,
    linkExpiresAt: '2026-03-25T14:05:00.000Z',
    heldSince: '2026-03-01',
    refusalReason: 'Smart Account "sa-x" is pending activation',
    requestedDomain: 'newco.com',
    ...overrides,
  };
}

/** The warning for TERM_SHIPPED on 2026-03-11. */
const TEN_DAYS =
  'Line 2 (C9300-DNA-E-24-3Y) shipped on 2026-03-01: its 36-month subscription has been running for 10 days and ends on 2029-03-01 ' +
  'whatever happens; the customer cannot use it until it is in their active Smart Account.';

interface Expected {
  subject: string;
  /** Paragraphs (or parts of them) saying what happened. */
  happened: string[];
  /** The "What to do:" sentence, or null when the email has none. */
  todo: string | null;
  /** Whether running term lines are warned about. */
  warns: boolean;
  overrides?: Partial<OrderEmailFacts>;
}

const EXPECTED: Record<EmailTemplate, Expected> = {
  'deposit-confirmation': {
    subject: 'Order PO-2026-0001: licenses deposited in Acme Corp',
    happened: [
      'The licenses of order PO-2026-0001 (order ID ord-0123) have been deposited in the Smart Account Acme Corp (acme.com), virtual account Region-US/Finance.',
      'Smart licenses are activated there when their lines ship; classic licenses then appear in the License Registration Portal.',
    ],
    todo: 'Nothing is needed from you.',
    warns: false,
  },
  'transfer-needed': {
    subject: "Action needed: order PO-2026-0001 is in your holding account and must be moved to the customer's Smart Account",
    happened: [
      'The licenses of order PO-2026-0001 (order ID ord-0123) have been deposited in Partner One Holding, virtual account Default. ' +
        'Licenses in a Partner Holding Account can be neither consumed nor activated.',
    ],
    todo: "This order contains Smart Account-mandatory lines: assign the customer's active Smart Account so that the licenses are transferred and activated.",
    warns: true,
  },
  'transfer-reminder': {
    subject: 'Reminder 2: order PO-2026-0001 is still in your holding account',
    happened: ['Order PO-2026-0001 (order ID ord-0123) has been waiting in Partner One Holding, virtual account Default since 2026-03-01.'],
    todo: "Assign the customer's active Smart Account to transfer and activate the licenses.",
    warns: true,
    overrides: { reminderNumber: 2 },
  },
  escalation: {
    subject: 'Escalation: order PO-2026-0001 of Partner One has waited in a holding account since 2026-03-01',
    happened: [
      "Order PO-2026-0001 (order ID ord-0123) of Partner One has sat in Partner One Holding, virtual account Default since 2026-03-01, and the customer's Smart Account has still not been assigned despite the reminders.",
    ],
    todo: "Please follow up with the partner so that the customer's Smart Account is assigned. The order is kept; it is never dropped.",
    warns: true,
  },
  'order-fulfilled': {
    subject: 'Order PO-2026-0001 is fulfilled',
    happened: [
      'Every line of order PO-2026-0001 (order ID ord-0123) is provisioned in the Smart Account Acme Corp (acme.com), virtual account Region-US/Finance.',
      'Smart licenses are active in the Smart Account; classic licenses are available in the License Registration Portal.',
    ],
    todo: 'Nothing is needed from you. Work with the customer to deploy the licenses.',
    warns: false,
  },
  'order-cancelled': {
    subject: 'Order PO-2026-0001 is cancelled',
    happened: ['Order PO-2026-0001 (order ID ord-0123) has been cancelled; licenses that were held or deposited have been withdrawn.'],
    todo: null,
    warns: false,
  },
  'delegation-request': {
    subject: 'Choose the Smart Account for your order PO-2026-0001',
    happened: [
      'Partner One has placed order PO-2026-0001 for you and asks you to choose the Smart Account that will receive its licenses.',
    ],
    todo: "Open the secure link below to pick one of your company's Smart Accounts, or to create one if you have none (the link can be used once, until 2026-03-25 14:05 UTC).",
    warns: true,
  },
  'delegation-unanswered': {
    subject: 'Action needed: the customer has not chosen a Smart Account for order PO-2026-0001',
    happened: [
      'The end customer was asked on 2026-03-01 to choose the Smart Account for order PO-2026-0001 (order ID ord-0123) and has not answered after 3 reminders.',
      'The customer keeps getting reminders with a fresh link; the order is kept and never dropped.',
    ],
    todo: "Contact the customer, send them a new link (API or CLI: orders resend-link; the old links stop working), or assign the customer's active Smart Account to the order yourself (orders assign).",
    warns: true,
    overrides: { reminderNumber: 3 },
  },
  'assignment-refused': {
    subject: 'Action needed: order PO-2026-0001 could not be assigned',
    happened: [
      'The account assignment of order PO-2026-0001 (order ID ord-0123) was refused: Smart Account "sa-x" is pending activation.',
      'The order is kept and waits for a valid assignment.',
    ],
    todo: "Assign the customer's active Smart Account (or your holding account) to the order.",
    warns: true,
  },
  'activation-request': {
    subject: 'Activate your new Smart Account newco.com',
    happened: ['A Smart Account for newco.com has been requested for you. Orders placed for you wait until it is active.'],
    todo: 'Open the secure link below to activate the Smart Account (the link can be used once, until 2026-03-25 14:05 UTC).',
    warns: false,
  },
};

const render = (template: EmailTemplate, overrides: Partial<OrderEmailFacts> = {}) =>
  renderOrderEmail(template, facts({ ...EXPECTED[template].overrides, ...overrides }));

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

/** Every tag the templates write themselves, exactly as written. */
const TEMPLATE_TAG =
  /<(?:!doctype html|html lang="en"|head|meta charset="utf-8"|title|body style="font-family: sans-serif"|p|strong|a href="[^"<>]*"|h2|table role="presentation" border="1" cellpadding="4" cellspacing="0"|thead|tbody|tr|th|td)>|<\/(?:html|head|title|body|p|strong|a|h2|table|thead|tbody|tr|th|td)>/g;

/** The HTML without the template's own tags: what remains must hold no markup character. */
const withoutTemplateTags = (html: string) => html.replace(TEMPLATE_TAG, '');

test('the expectations cover every template', () => {
  expect(Object.keys(EXPECTED).sort()).toEqual([...EMAIL_TEMPLATES].sort());
  expect(EMAIL_TEMPLATES).toHaveLength(10);
});

describe.each([...EMAIL_TEMPLATES])('renderOrderEmail(%s)', (template) => {
  const expected = EXPECTED[template];
  const email = render(template);
  const textLines = email.text.split('\n');

  test('subject: the expected sentence, on one line', () => {
    expect(email.subject).toBe(expected.subject);
    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.subject.trim()).toBe(email.subject);
    expect(email.html).toContain(`<title>${escapeHtml(expected.subject)}</title>`);
  });

  test('greets the recipient by name, then a blank line', () => {
    expect(textLines[0]).toBe('Hello Casey Customer,');
    expect(textLines[1]).toBe('');
    expect(email.html).toContain('<body style="font-family: sans-serif"><p>Hello Casey Customer,</p>');
  });

  test('without a recipient name: a plain greeting', () => {
    for (const recipientName of [undefined, '']) {
      const e = render(template, { recipientName });
      expect(e.text.split('\n')[0]).toBe('Hello,');
      expect(e.html).toContain('<p>Hello,</p>');
    }
  });

  test('says what happened, in text and HTML, right after the greeting', () => {
    expect(textLines[2]).toBe(expected.happened[0]);
    for (const paragraph of expected.happened) {
      expect(textLines).toContain(paragraph);
      expect(email.html).toContain(`<p>${escapeHtml(paragraph)}</p>`);
    }
  });

  if (expected.todo !== null) {
    test("says what to do under 'What to do:'", () => {
      expect(textLines).toContain(`What to do: ${expected.todo}`);
      expect(email.html).toContain(`<p><strong>What to do:</strong> ${escapeHtml(expected.todo!)}</p>`);
      expect(email.text.match(/What to do:/g)).toHaveLength(1);
    });
  } else {
    test("has no 'What to do:' (nothing to do)", () => {
      expect(email.text).not.toContain('What to do:');
      expect(email.html).not.toContain('What to do:');
    });
  }

  test('the link on its own text line and as an <a href> in HTML', () => {
    expect(textLines).toContain(LINK);
    expect(email.html).toContain(`<p><a href="${LINK}">${LINK}</a></p>`);
    expect(email.html.match(/<a /g)).toHaveLength(1);
  });

  test('no link given: none in text or HTML', () => {
    const e = render(template, { link: undefined });
    expect(e.text).not.toContain('http');
    expect(e.html).not.toContain('<a ');
    expect(e.html).not.toContain('href');
  });

  test('the secure-link placeholder survives rendering unchanged (the outbox fills it in)', () => {
    const e = render(template, { link: LINK_PLACEHOLDER });
    expect(e.text.split('\n')).toContain(LINK_PLACEHOLDER);
    expect(e.html).toContain(`<a href="${LINK_PLACEHOLDER}">${LINK_PLACEHOLDER}</a>`);
  });

  test('lists the order lines in text and as a table row each in HTML', () => {
    expect(textLines).toContain('Order PO-2026-0001:');
    expect(textLines).toContain('  1. L-PERP x 5 (smart, perpetual), held');
    expect(textLines).toContain('  2. C9300-DNA-E-24-3Y x 10 (smart, 36-month term), shipped, subscription 2026-03-01 to 2029-03-01');
    expect(textLines).toContain('  3. L-CLASSIC-1Y x 1 (classic, 12-month term), booked');
    expect(email.html).toContain('<h2>Order PO-2026-0001</h2><table role="presentation"');
    expect(email.html).toContain(
      '<th>Line</th><th>SKU</th><th>Quantity</th><th>License</th><th>Term</th><th>State</th><th>Shipped / subscription</th>',
    );
    expect(email.html).toContain('<tr><td>1</td><td>L-PERP</td><td>5</td><td>smart</td><td>perpetual</td><td>held</td><td></td></tr>');
    expect(email.html).toContain(
      '<tr><td>2</td><td>C9300-DNA-E-24-3Y</td><td>10</td><td>smart</td><td>36-month term</td><td>shipped</td><td>2026-03-01 to 2029-03-01</td></tr>',
    );
    expect(email.html).toContain(
      '<tr><td>3</td><td>L-CLASSIC-1Y</td><td>1</td><td>classic</td><td>12-month term</td><td>booked</td><td></td></tr>',
    );
    expect(email.html.match(/<tr><td>/g)).toHaveLength(3);
  });

  test('no lines: the order summary and its table are left out', () => {
    const e = render(template, { lines: [] });
    expect(e.text).not.toMatch(/^Order PO-2026-0001:$/m);
    expect(e.text).not.toMatch(/^ {2}\d+\. /m);
    expect(e.html).not.toContain('<table');
    expect(e.html).not.toContain('<h2>');
    expect(e.text).not.toContain('has been running for');
    expect(e.text.endsWith(SIGNATURE)).toBe(true);
  });

  if (expected.warns) {
    test('warns that the shipped term line is running (S3)', () => {
      expect(textLines).toContain(`Note: ${TEN_DAYS}`);
      expect(email.html).toContain(`<p><strong>Note:</strong> ${escapeHtml(TEN_DAYS)}</p>`);
      expect(email.text.match(/has been running for/g)).toHaveLength(1);
    });
  } else {
    test('carries no running-term warning', () => {
      expect(email.text).not.toContain('has been running for');
      expect(email.text).not.toContain('Note:');
    });
  }

  test('sections come in order: greeting, what happened, notes, what to do, link, lines, signature', () => {
    const at = (needle: string) => {
      const i = email.text.indexOf(needle);
      expect(i).toBeGreaterThanOrEqual(0);
      return i;
    };
    const order = [
      at('Hello Casey Customer,'),
      at(expected.happened[0]),
      ...(expected.warns ? [at('Note: ')] : []),
      ...(expected.todo ? [at('What to do: ')] : []),
      at(LINK),
      at('Order PO-2026-0001:\n'),
      at(SIGNATURE),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(email.text.endsWith(`\n${SIGNATURE}`)).toBe(true);
  });

  test("the HTML is one document with only the template's own tags", () => {
    expect(email.html.startsWith('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>')).toBe(true);
    expect(email.html.endsWith('</body></html>')).toBe(true);
    expect(withoutTemplateTags(email.html)).not.toMatch(/[<>"]/);
  });
});

describe('the running-term warning', () => {
  const warned: EmailTemplate[] = [
    'transfer-needed',
    'transfer-reminder',
    'escalation',
    'delegation-request',
    'assignment-refused',
    'delegation-unanswered',
  ];
  const daysIn = (text: string) => [...text.matchAll(/has been running for (\d+) days?\b/g)].map((m) => Number(m[1]));

  test('is carried by exactly the emails sent while the customer cannot use the licenses', () => {
    expect(EMAIL_TEMPLATES.filter((t) => EXPECTED[t].warns).sort()).toEqual([...warned].sort());
  });

  test.each(warned)('%s: the day count is computed from facts.today', (template) => {
    expect(daysIn(render(template, { today: '2026-03-11' }).text)).toEqual([10]);
    expect(daysIn(render(template, { today: '2027-03-01' }).text)).toEqual([365]);
    expect(daysIn(render(template, { today: '2029-03-01' }).text)).toEqual([1096]);
  });

  test('one day is singular, other counts plural', () => {
    expect(render('transfer-needed', { today: '2026-03-02' }).text).toContain('has been running for 1 day and ends on 2029-03-01');
    expect(render('transfer-needed', { today: '2026-03-03' }).text).toContain('has been running for 2 days and ends on 2029-03-01');
  });

  test('shipped today: 0 days; a ship date after today never gives a negative count', () => {
    expect(render('transfer-needed', { today: '2026-03-01' }).text).toContain('has been running for 0 days');
    expect(render('transfer-needed', { today: '2026-02-20' }).text).toContain('has been running for 0 days');
    expect(render('transfer-needed', { today: '2026-02-20' }).text).not.toMatch(/running for -/);
  });

  test('only for shipped term lines not yet provisioned (or cancelled)', () => {
    const shippedPerpetual: OrderSummaryLine = {
      ...PERPETUAL,
      lineNumber: 4,
      state: 'shipped',
      shippedOn: '2026-03-01',
      subscription: null,
    };
    const cases: Array<[OrderSummaryLine, number]> = [
      [TERM_SHIPPED, 1],
      [{ ...TERM_SHIPPED, state: 'held' }, 1],
      [{ ...TERM_SHIPPED, state: undefined }, 1],
      [{ ...TERM_SHIPPED, state: 'provisioned' }, 0],
      [{ ...TERM_SHIPPED, state: 'cancelled' }, 0],
      [{ ...TERM_SHIPPED, shippedOn: null, subscription: null, state: 'held' }, 0], // not shipped yet
      [shippedPerpetual, 0], // no term runs
      [CLASSIC, 0],
    ];
    for (const [line, warnings] of cases) {
      const e = render('transfer-needed', { lines: [line] });
      expect([line.state, e.text.match(/has been running for/g)?.length ?? 0]).toEqual([line.state, warnings]);
      expect([line.state, (e.html.match(/<strong>Note:<\/strong>/g) ?? []).length]).toEqual([line.state, warnings]);
    }
  });

  test('one note per running line, in line order, each with its own dates and term', () => {
    const other: OrderSummaryLine = {
      lineNumber: 7,
      sku: 'SUB-12',
      quantity: 2,
      licenseType: 'smart',
      termMonths: 12,
      state: 'held',
      shippedOn: '2026-01-31',
      subscription: { startsOn: '2026-01-31', endsOn: '2027-01-31' },
    };
    const e = render('escalation', { lines: [TERM_SHIPPED, other] });
    const notes = e.text.split('\n').filter((l) => l.startsWith('Note: '));
    expect(notes).toEqual([
      `Note: ${TEN_DAYS}`,
      'Note: Line 7 (SUB-12) shipped on 2026-01-31: its 12-month subscription has been running for 39 days and ends on 2027-01-31 ' +
        'whatever happens; the customer cannot use it until it is in their active Smart Account.',
    ]);
  });
});

describe('facts that vary the wording', () => {
  test('activation-request: first request and reminder', () => {
    expect(renderOrderEmail('activation-request', facts()).subject).toBe('Activate your new Smart Account newco.com');
    expect(renderOrderEmail('activation-request', facts({ reminderNumber: 3 })).subject).toBe(
      'Reminder 3: activate your new Smart Account newco.com',
    );
  });

  test('activation-request as the activity sends it: about the account only, no order, no lines', () => {
    const e = renderOrderEmail('activation-request', {
      orderId: '',
      externalReference: '',
      partnerName: '',
      lines: [],
      today: '2026-03-11',
      requestedDomain: 'newco.com',
      link: LINK,
      linkExpiresAt: '2026-03-25T14:05:00.000Z',
    });
    expect(e.subject).toBe('Activate your new Smart Account newco.com');
    expect(e.text.split('\n')[0]).toBe('Hello,');
    expect(e.text).not.toContain('Order :');
    expect(e.text).not.toContain('order ID');
    expect(e.html).not.toContain('<table');
    expect(e.text).toContain(LINK);
  });

  test('link emails without an expiry date say nothing about one', () => {
    for (const template of ['delegation-request', 'activation-request'] as const) {
      const e = render(template, { linkExpiresAt: undefined });
      expect(e.text).not.toContain('can be used once');
      expect(e.text).toMatch(/What to do: Open the secure link below to [^\n]*\.\n/);
    }
  });

  test('deposit-confirmation and order-fulfilled: no domain and no virtual account leave no empty parentheses or dangling comma', () => {
    for (const template of ['deposit-confirmation', 'order-fulfilled'] as const) {
      const e = render(template, { account: { name: 'Acme Corp', domain: null, virtualAccountPath: null } });
      expect(e.text).toContain('Smart Account Acme Corp.');
      expect(e.text).not.toContain('()');
      expect(e.text).not.toContain('virtual account');
    }
    expect(render('deposit-confirmation', { account: { name: 'Acme Corp', domain: 'acme.com', virtualAccountPath: null } }).text).toContain(
      'Smart Account Acme Corp (acme.com).',
    );
    expect(render('deposit-confirmation', { account: { name: 'Acme Corp', domain: null, virtualAccountPath: 'Finance' } }).text).toContain(
      'Smart Account Acme Corp, virtual account Finance.',
    );
  });

  test('holding-account emails: without a virtual account, or without a known holding account', () => {
    expect(render('transfer-needed', { holdingAccount: { name: 'PHA One', virtualAccountPath: null } }).text).toContain(
      'have been deposited in PHA One. Licenses in a Partner Holding Account',
    );
    expect(render('transfer-reminder', { holdingAccount: undefined }).text).toContain(
      'has been waiting in the Partner Holding Account since 2026-03-01.',
    );
    expect(render('escalation', { heldSince: undefined }).subject).toBe(
      'Escalation: order PO-2026-0001 of Partner One has waited in a holding account since booking',
    );
  });

  test('a shipped perpetual line shows its ship date', () => {
    const e = render('order-fulfilled', { lines: [{ ...PERPETUAL, state: 'provisioned', shippedOn: '2026-03-05' }] });
    expect(e.text).toContain('  1. L-PERP x 5 (smart, perpetual), provisioned, shipped 2026-03-05');
    expect(e.html).toContain('<td>provisioned</td><td>2026-03-05</td></tr>');
  });
});

describe('HTML escaping of every interpolated value', () => {
  /** A distinct hostile value per field, so each one can be found. */
  const hostile = (tag: string) => `${tag}<script>alert("${tag}")</script> x" onmouseover='${tag}' & <b>bold</b>`;
  const LINE_TAGS = ['SKU', 'STATE', 'SHIPPED', 'START', 'END'];
  const hostileFacts: OrderEmailFacts = {
    orderId: hostile('ORDERID'),
    externalReference: hostile('REF'),
    recipientName: hostile('RECIPIENT'),
    partnerName: hostile('PARTNER'),
    account: { name: hostile('ACCOUNT'), domain: hostile('DOMAIN'), virtualAccountPath: hostile('VA') },
    holdingAccount: { name: hostile('HOLDING'), virtualAccountPath: hostile('HOLDINGVA') },
    lines: [
      {
        lineNumber: 1,
        sku: hostile('SKU'),
        quantity: 1,
        licenseType: 'smart',
        termMonths: null,
        state: hostile('STATE'),
        shippedOn: hostile('SHIPPED'),
      },
      {
        lineNumber: 2,
        sku: 'TERM-1',
        quantity: 1,
        licenseType: 'smart',
        termMonths: 12,
        state: 'held',
        shippedOn: '2026-03-01',
        subscription: { startsOn: hostile('START'), endsOn: hostile('END') },
      },
    ],
    today: '2026-03-11',
    link: `https://licenses.example.com/delegations/x"><script>alert("LINK")</script>&a='b'`,
    linkExpiresAt: hostile('EXPIRES'),
    heldSince: hostile('HELDSINCE'),
    refusalReason: hostile('REASON'),
    requestedDomain: hostile('REQDOMAIN'),
    reminderNumber: 2,
  };

  /** Fields each template must show (beyond the greeting, the link and the lines, which all show). */
  const SHOWN: Record<EmailTemplate, string[]> = {
    'deposit-confirmation': ['REF', 'ORDERID', 'ACCOUNT', 'DOMAIN', 'VA'],
    'transfer-needed': ['REF', 'ORDERID', 'HOLDING', 'HOLDINGVA'],
    'transfer-reminder': ['REF', 'ORDERID', 'HOLDING', 'HOLDINGVA', 'HELDSINCE'],
    escalation: ['REF', 'ORDERID', 'PARTNER', 'HOLDING', 'HOLDINGVA', 'HELDSINCE'],
    'order-fulfilled': ['REF', 'ORDERID', 'ACCOUNT', 'DOMAIN', 'VA'],
    'order-cancelled': ['REF', 'ORDERID'],
    'delegation-request': ['REF', 'PARTNER', 'EXPIRES'],
    'assignment-refused': ['REF', 'ORDERID', 'REASON'],
    'activation-request': ['REQDOMAIN', 'EXPIRES'],
    'delegation-unanswered': ['REF', 'ORDERID', 'HELDSINCE'],
  };

  describe.each([...EMAIL_TEMPLATES])('%s', (template) => {
    const email = renderOrderEmail(template, hostileFacts);

    test('no interpolated markup survives', () => {
      expect(email.html).not.toMatch(/<script/i);
      expect(email.html).not.toContain('</script');
      expect(email.html).not.toContain('<b>');
      expect(email.html).not.toContain('" onmouseover=');
      expect(email.html).not.toContain("'RECIPIENT'");
      expect(withoutTemplateTags(email.html)).not.toMatch(/[<>"']/);
    });

    test('each shown value appears escaped in the HTML and raw in the text', () => {
      for (const tag of ['RECIPIENT', ...SHOWN[template], ...LINE_TAGS]) {
        const value = hostile(tag);
        expect([tag, email.text.includes(value)]).toEqual([tag, true]);
        expect([tag, email.html.includes(escapeHtml(value))]).toEqual([tag, true]);
        expect([tag, email.html.includes(value)]).toEqual([tag, false]);
      }
    });

    test('the link is escaped inside href and as the anchor text', () => {
      const escaped = escapeHtml(hostileFacts.link!);
      expect(escaped).toBe(
        'https://licenses.example.com/delegations/x&quot;&gt;&lt;script&gt;alert(&quot;LINK&quot;)&lt;/script&gt;&amp;a=&#39;b&#39;',
      );
      expect(email.html).toContain(`<p><a href="${escaped}">${escaped}</a></p>`);
      expect(email.text.split('\n')).toContain(hostileFacts.link);
    });

    test('the title is the escaped subject; the subject keeps the raw characters (a header, not HTML)', () => {
      expect(email.html).toContain(`<title>${escapeHtml(email.subject)}</title>`);
      // Every subject names a hostile value (the reference, or the requested domain).
      expect(email.subject).toContain('<script>');
      expect(email.html).not.toContain(`<title>${email.subject}</title>`);
    });

    test('what a reader sees is the original value', () => {
      const seen = visibleText(email.html);
      for (const tag of ['RECIPIENT', ...SHOWN[template], ...LINE_TAGS]) expect(seen).toContain(hostile(tag));
      expect(seen).toContain(hostileFacts.link);
    });
  });

  test('the subjects carry the raw reference, partner and domain', () => {
    expect(renderOrderEmail('order-cancelled', hostileFacts).subject).toBe(`Order ${hostile('REF')} is cancelled`);
    expect(renderOrderEmail('escalation', hostileFacts).subject).toBe(
      `Escalation: order ${hostile('REF')} of ${hostile('PARTNER')} has waited in a holding account since ${hostile('HELDSINCE')}`,
    );
    expect(renderOrderEmail('activation-request', hostileFacts).subject).toBe(
      `Reminder 2: activate your new Smart Account ${hostile('REQDOMAIN')}`,
    );
  });
});

describe('line breaks in names never split the subject or the greeting', () => {
  const breaks: Array<[string, string]> = [
    ['CRLF', '\r\n'],
    ['LF', '\n'],
    ['CR', '\r'],
    ['several', '\r\n\r\n\n'],
  ];

  describe.each(breaks)('%s', (_name, br) => {
    const broken = facts({
      recipientName: `Eve${br}Bcc: victim@evil.com${br}`,
      partnerName: `Partner One${br}Bcc: victim@evil.com`,
      externalReference: `PO-1${br}X-Injected: yes`,
      account: { name: `Acme${br}X-Injected: yes`, domain: 'acme.com', virtualAccountPath: null },
      requestedDomain: `newco.com${br}X-Injected: yes`,
      heldSince: `2026-03-01${br}X-Injected: yes`,
      reminderNumber: 2,
    });

    test.each([...EMAIL_TEMPLATES])('%s: one-line subject and greeting', (template) => {
      const e = renderOrderEmail(template, broken);
      expect(e.subject).not.toMatch(/[\r\n]/);
      expect(e.subject).toBe(e.subject.trim());
      expect(e.html).not.toMatch(/<title>[^<]*[\r\n]/);
      const [greeting, blank] = e.text.split('\n');
      expect(greeting).toBe('Hello Eve Bcc: victim@evil.com,');
      expect(blank).toBe('');
      expect(e.html).toContain('<p>Hello Eve Bcc: victim@evil.com,</p>');
    });
  });

  test('the names are joined with a space where the break was', () => {
    const broken = facts({ partnerName: 'Partner One\r\nBcc: victim@evil.com', externalReference: 'PO-1\nX' });
    expect(renderOrderEmail('escalation', broken).subject).toBe(
      'Escalation: order PO-1 X of Partner One Bcc: victim@evil.com has waited in a holding account since 2026-03-01',
    );
    expect(
      renderOrderEmail('deposit-confirmation', facts({ account: { name: 'Acme\r\nCorp', domain: null, virtualAccountPath: null } }))
        .subject,
    ).toBe('Order PO-2026-0001: licenses deposited in Acme Corp');
  });

  test('a name of only white space or line breaks gives the plain greeting', () => {
    for (const recipientName of ['   ', '\r\n', ' \n ']) {
      expect(renderOrderEmail('deposit-confirmation', facts({ recipientName })).text.split('\n')[0]).toBe('Hello,');
    }
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

describe('each recipient reads an email written for them', () => {
  test('"fulfilled": the customer is told its licenses are ready and whom to ask, never to "work with the customer"', () => {
    const toCustomer = render('order-fulfilled', { recipient: 'customer' });
    expect(toCustomer.text).not.toMatch(/work with the customer/i);
    expect(toCustomer.text).toContain('Every line of your order PO-2026-0001 from Partner One');
    expect(toCustomer.text).toContain(
      'What to do: Nothing is needed from you: the licenses are ready to use. For help deploying them, contact Partner One.',
    );
    const toMembers = render('order-fulfilled', { recipient: 'holding-members' });
    expect(toMembers.text).not.toMatch(/work with the customer/i);
    expect(toMembers.text).toContain("in the customer's Smart Account Acme Corp");
    expect(toMembers.text).toContain('Its licenses are no longer in Partner One Holding, virtual account Default.');
    expect(render('order-fulfilled', { recipient: 'partner' }).text).toContain('Work with the customer to deploy the licenses.');
  });

  test('"deposited": the customer reads about its own Smart Account', () => {
    expect(render('deposit-confirmation', { recipient: 'customer' }).text).toContain(
      'The licenses of your order PO-2026-0001 from Partner One (order ID ord-0123) have been deposited in your Smart Account Acme Corp',
    );
  });

  test('a link that lives minutes shows its expiry with date, time and zone', () => {
    for (const template of ['delegation-request', 'activation-request'] as const) {
      const e = render(template, { linkExpiresAt: '2026-03-11T10:45:00.000Z' });
      expect(e.text).toContain('(the link can be used once, until 2026-03-11 10:45 UTC).');
      expect(e.html).toContain('until 2026-03-11 10:45 UTC');
    }
  });
});
