/**
 * Booking validation (src/orders/order.ts): every problem is reported against the exact path of
 * the offending field, with a reason, and all problems of one booking are reported together.
 */
import {
  emailDomain,
  isValidDomain,
  isValidEmail,
  validateAssignmentRequest,
  validateBookOrderInput,
  ValidationError,
  type Assignment,
  type BookOrderInput,
  type FieldError,
  type OrderLineInput,
} from '../../src/orders/order';
import type { AssignSmartAccountRequest } from '../../src/orders/workflow-api';

function line(overrides: Partial<Record<keyof OrderLineInput, unknown>> = {}, lineNumber = 1): Record<string, unknown> {
  return {
    lineNumber,
    sku: 'C9300-DNA-E-24-3Y',
    quantity: 10,
    licenseType: 'smart',
    termMonths: 36,
    smartAccountMandatory: true,
    ...overrides,
  };
}

function booking(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    externalReference: 'PO-2026-0001',
    bookedByPartnerId: 'partner-1',
    assignment: { kind: 'smart_account', accountId: 'sa-acme' },
    endCustomerContact: { email: 'admin@acme.com', fullName: 'Casey Customer', registeredId: 'casey.customer' },
    lines: [line({}, 1), line({ sku: 'L-LIC-PERP', licenseType: 'classic', termMonths: undefined, smartAccountMandatory: false }, 2)],
    ...overrides,
  };
}

/** Validates and expects exactly one error, on `field`, with a non-empty reason. */
function expectOnlyError(input: unknown, field: string): FieldError {
  const errors = validateBookOrderInput(input);
  expect(errors.map((e) => e.field)).toEqual([field]);
  expect(typeof errors[0].reason).toBe('string');
  expect(errors[0].reason.trim()).not.toBe('');
  return errors[0];
}

function withLines(...lines: unknown[]): Record<string, unknown> {
  return booking({ lines });
}

describe('validateBookOrderInput: valid bookings', () => {
  const assignments: Array<[string, Assignment]> = [
    ['smart_account', { kind: 'smart_account', accountId: 'sa-acme' }],
    [
      'smart_account with virtual account',
      { kind: 'smart_account', accountId: 'sa-acme', virtualAccountPath: 'Region-US/Finance/Sacramento' },
    ],
    ['holding_account', { kind: 'holding_account', accountId: 'pha-partner-1' }],
    ['holding_account with virtual account', { kind: 'holding_account', accountId: 'pha-partner-1', virtualAccountPath: 'Default' }],
    ['request_smart_account', { kind: 'request_smart_account', domain: 'acme.com' }],
    ['delegate', { kind: 'delegate' }],
  ];

  test.each(assignments)('%s gives no errors', (_name, assignment) => {
    expect(validateBookOrderInput(booking({ assignment }))).toEqual([]);
  });

  test('a fully typed BookOrderInput passes', () => {
    const input: BookOrderInput = {
      externalReference: 'ERP:2026-0001',
      bookedByPartnerId: 'dist-1',
      partnerId: 'reseller-7',
      assignment: { kind: 'holding_account', accountId: 'pha-reseller-7' },
      lines: [
        { lineNumber: 1, sku: 'A/B+C_D.E-F', quantity: 1_000_000, licenseType: 'smart', termMonths: 120, smartAccountMandatory: false },
      ],
    };
    expect(validateBookOrderInput(input)).toEqual([]);
  });

  test('smart and holding account bookings need no end-customer contact', () => {
    expect(validateBookOrderInput(booking({ endCustomerContact: undefined }))).toEqual([]);
    expect(
      validateBookOrderInput(booking({ endCustomerContact: undefined, assignment: { kind: 'holding_account', accountId: 'pha-1' } })),
    ).toEqual([]);
  });

  test('boundaries that are still valid', () => {
    const lines = Array.from({ length: 500 }, (_, i) => line({}, i + 1));
    expect(validateBookOrderInput(withLines(...lines))).toEqual([]);
    expect(validateBookOrderInput(withLines(line({ quantity: 1, termMonths: 1 })))).toEqual([]);
    expect(validateBookOrderInput(withLines(line({ termMonths: 120 })))).toEqual([]);
    expect(validateBookOrderInput(withLines(line({ termMonths: undefined })))).toEqual([]);
    const sixteenDeep = Array.from({ length: 16 }, (_, i) => `va${i}`).join('/');
    expect(
      validateBookOrderInput(booking({ assignment: { kind: 'smart_account', accountId: 'sa-1', virtualAccountPath: sixteenDeep } })),
    ).toEqual([]);
    expect(validateBookOrderInput(booking({ externalReference: 'x'.repeat(128) }))).toEqual([]);
    expect(validateBookOrderInput(booking({ endCustomerContact: { email: 'a@b.co', fullName: 'n'.repeat(200) } }))).toEqual([]);
  });
});

describe('validateBookOrderInput: identifiers', () => {
  test.each([
    ['missing', undefined],
    ['empty', ''],
    ['not a string', 42],
    ['null', null],
    ['starting with a dash', '-PO1'],
    ['containing a space', 'PO 1'],
    ['containing a slash', 'PO/1'],
    ['containing a newline', 'PO1\nPO2'],
    ['with a trailing newline', 'PO1\n'],
    ['129 characters', 'x'.repeat(129)],
  ])('externalReference %s', (_name, value) => {
    expectOnlyError(booking({ externalReference: value }), 'externalReference');
  });

  test.each([
    ['missing', undefined],
    ['empty', ''],
    ['ill-formed', 'partner one'],
    ['with CR/LF', 'p1\r\nX-Injected: yes'],
  ])('bookedByPartnerId %s', (_name, value) => {
    expectOnlyError(booking({ bookedByPartnerId: value }), 'bookedByPartnerId');
  });

  test('partnerId is optional, but when present must be well-formed', () => {
    expect(validateBookOrderInput(booking({ partnerId: undefined }))).toEqual([]);
    expect(validateBookOrderInput(booking({ partnerId: 'reseller-7' }))).toEqual([]);
    expectOnlyError(booking({ partnerId: '' }), 'partnerId');
    expectOnlyError(booking({ partnerId: null }), 'partnerId');
    expectOnlyError(booking({ partnerId: '_reseller' }), 'partnerId');
    expectOnlyError(booking({ partnerId: 7 }), 'partnerId');
  });
});

describe('validateBookOrderInput: assignment', () => {
  test('missing or non-object assignment', () => {
    expectOnlyError(booking({ assignment: undefined }), 'assignment');
    expectOnlyError(booking({ assignment: null }), 'assignment');
    expectOnlyError(booking({ assignment: 'smart_account' }), 'assignment');
  });

  test.each([['unknown'], ['SMART_ACCOUNT'], [undefined], [null], [1]])('unknown assignment.kind %p', (kind) => {
    expectOnlyError(booking({ assignment: { kind, accountId: 'sa-1' } }), 'assignment.kind');
  });

  test.each(['smart_account', 'holding_account'])('%s: bad accountId', (kind) => {
    expectOnlyError(booking({ assignment: { kind } }), 'assignment.accountId');
    expectOnlyError(booking({ assignment: { kind, accountId: '' } }), 'assignment.accountId');
    expectOnlyError(booking({ assignment: { kind, accountId: 'sa 1' } }), 'assignment.accountId');
    expectOnlyError(booking({ assignment: { kind, accountId: 12 } }), 'assignment.accountId');
  });

  test.each([
    ['empty path', ''],
    ['empty middle segment', 'Region-US//Finance'],
    ['leading slash', '/Finance'],
    ['trailing slash', 'Finance/'],
    ['segment longer than 80', 'y'.repeat(81)],
    ['17 deep', Array.from({ length: 17 }, (_, i) => `va${i}`).join('/')],
    ['containing a newline', 'Finance\nSales'],
    ['a segment of spaces only', ' / '],
    ['a segment with a leading space', 'Region-US/ Finance'],
    ['not a string', 3],
  ])('virtualAccountPath: %s', (_name, virtualAccountPath) => {
    for (const kind of ['smart_account', 'holding_account']) {
      expectOnlyError(booking({ assignment: { kind, accountId: 'acct-1', virtualAccountPath } }), 'assignment.virtualAccountPath');
    }
  });

  test.each([
    ['upper case', 'Acme.com'],
    ['no TLD', 'acme'],
    ['empty', ''],
    ['trailing dot', 'acme.com.'],
    ['leading hyphen label', '-acme.com'],
    ['numeric TLD', 'acme.123'],
    ['with a path', 'acme.com/x'],
    ['not a string', undefined],
  ])('request_smart_account: bad domain (%s)', (_name, domain) => {
    expectOnlyError(booking({ assignment: { kind: 'request_smart_account', domain } }), 'assignment.domain');
  });

  test.each([
    ['request_smart_account', { kind: 'request_smart_account', domain: 'acme.com' }],
    ['delegate', { kind: 'delegate' }],
  ])('%s without endCustomerContact', (_name, assignment) => {
    expectOnlyError(booking({ assignment, endCustomerContact: undefined }), 'endCustomerContact');
  });
});

describe('validateBookOrderInput: endCustomerContact', () => {
  const contact = (c: unknown) => booking({ assignment: { kind: 'delegate' }, endCustomerContact: c });

  test('must be an object', () => {
    expectOnlyError(contact(null), 'endCustomerContact');
    expectOnlyError(contact('admin@acme.com'), 'endCustomerContact');
  });

  test.each([
    ['missing', undefined],
    ['empty', ''],
    ['no @', 'admin.acme.com'],
    ['no domain', 'admin@'],
    ['no TLD', 'admin@acme'],
    ['two @', 'a@b@acme.com'],
    ['a space', 'ad min@acme.com'],
    ['a display name', 'Admin <admin@acme.com>'],
    ['CRLF header injection', 'admin@acme.com\r\nBcc: victim@evil.com'],
    ['LF header injection', 'admin@acme.com\nBcc: victim@evil.com'],
    ['bare CR', 'admin@acme.com\rBcc: victim@evil.com'],
    ['trailing newline', 'admin@acme.com\n'],
    ['CRLF in the local part', 'admin\r\n@acme.com'],
    ['not a string', 12],
  ])('bad email (%s)', (_name, email) => {
    expectOnlyError(contact({ email }), 'endCustomerContact.email');
  });

  test.each([
    ['LF', 'Casey\nCustomer'],
    ['CRLF', 'Casey\r\nBcc: victim@evil.com'],
    ['CR', 'Casey\rCustomer'],
    ['too long', 'n'.repeat(201)],
    ['not a string', 5],
  ])('bad fullName (%s)', (_name, fullName) => {
    expectOnlyError(contact({ email: 'admin@acme.com', fullName }), 'endCustomerContact.fullName');
  });

  test('bad registeredId', () => {
    expectOnlyError(contact({ email: 'admin@acme.com', registeredId: 'casey customer' }), 'endCustomerContact.registeredId');
    expectOnlyError(contact({ email: 'admin@acme.com', registeredId: '' }), 'endCustomerContact.registeredId');
  });
});

describe('validateBookOrderInput: lines', () => {
  test.each([
    ['missing', undefined],
    ['empty', []],
    ['not a list', { 0: line() }],
    ['a string', 'lines'],
  ])('lines %s', (_name, lines) => {
    expectOnlyError(booking({ lines }), 'lines');
  });

  test('more than 500 lines', () => {
    const lines = Array.from({ length: 501 }, (_, i) => line({}, i + 1));
    expectOnlyError(withLines(...lines), 'lines');
  });

  test('a line that is not an object', () => {
    expectOnlyError(withLines(line({}, 1), null), 'lines[1]');
    expectOnlyError(withLines('line'), 'lines[0]');
  });

  test('duplicate lineNumber is reported on the second occurrence', () => {
    const error = expectOnlyError(withLines(line({}, 1), line({}, 2), line({}, 1)), 'lines[2].lineNumber');
    expect(error.reason).toMatch(/1/);
  });

  test.each([
    ['0', 0],
    ['negative', -1],
    ['fractional', 1.5],
    ['a string', '1'],
    ['missing', undefined],
    ['NaN', NaN],
    ['beyond the database integer range', 2_147_483_648],
    ['above 999999', 1_000_000],
  ])('lineNumber %s', (_name, lineNumber) => {
    expectOnlyError(withLines(line({ lineNumber })), 'lines[0].lineNumber');
    expectOnlyError(withLines(line({}, 1), line({ lineNumber })), 'lines[1].lineNumber');
  });

  test.each([
    ['missing', undefined],
    ['empty', ''],
    ['with a space', 'C9300 DNA'],
    ['starting with a dash', '-C9300'],
    ['with markup', '<b>C9300</b>'],
    ['65 characters', 'S'.repeat(65)],
    ['not a string', 9300],
  ])('sku %s', (_name, sku) => {
    expectOnlyError(withLines(line({}, 1), line({ sku }, 2)), 'lines[1].sku');
  });

  test.each([
    ['0', 0],
    ['1.5', 1.5],
    ['1000001', 1_000_001],
    ['negative', -3],
    ['a string', '10'],
    ['missing', undefined],
    ['Infinity', Infinity],
  ])('quantity %s', (_name, quantity) => {
    expectOnlyError(withLines(line({}, 1), line({ quantity }, 2)), 'lines[1].quantity');
  });

  test.each([['perpetual'], ['SMART'], [''], [undefined], [null]])('licenseType %p', (licenseType) => {
    // smartAccountMandatory false so only licenseType is wrong.
    expectOnlyError(withLines(line({ licenseType, smartAccountMandatory: false })), 'lines[0].licenseType');
  });

  test.each([
    ['0', 0],
    ['121', 121],
    ['1.5', 1.5],
    ['negative', -12],
    ['a string', '36'],
    ['null', null],
  ])('termMonths %s', (_name, termMonths) => {
    expectOnlyError(withLines(line({ termMonths })), 'lines[0].termMonths');
  });

  test.each([['true'], [1], [null], [undefined]])('smartAccountMandatory %p is not a boolean', (smartAccountMandatory) => {
    expectOnlyError(withLines(line({ smartAccountMandatory })), 'lines[0].smartAccountMandatory');
  });

  test('a classic license cannot be Smart Account mandatory', () => {
    const error = expectOnlyError(
      withLines(line({}, 1), line({ licenseType: 'classic', smartAccountMandatory: true }, 2)),
      'lines[1].smartAccountMandatory',
    );
    expect(error.reason).toMatch(/classic/);
    expect(validateBookOrderInput(withLines(line({ licenseType: 'classic', smartAccountMandatory: false })))).toEqual([]);
  });
});

describe('validateBookOrderInput: several problems and non-objects', () => {
  test('every problem is reported, each on its own field', () => {
    const errors = validateBookOrderInput({
      externalReference: '',
      bookedByPartnerId: 'partner one',
      partnerId: '-x',
      assignment: { kind: 'request_smart_account', domain: 'ACME' },
      endCustomerContact: { email: 'admin@acme.com\r\nBcc: x@evil.com', fullName: 'a\nb' },
      lines: [
        line({ quantity: 0 }, 1),
        line({ lineNumber: 1, sku: '', licenseType: 'classic', termMonths: 121, smartAccountMandatory: true }),
      ],
    });
    expect(errors.map((e) => e.field).sort()).toEqual(
      [
        'externalReference',
        'bookedByPartnerId',
        'partnerId',
        'assignment.domain',
        'endCustomerContact.email',
        'endCustomerContact.fullName',
        'lines[0].quantity',
        'lines[1].lineNumber',
        'lines[1].sku',
        'lines[1].termMonths',
        'lines[1].smartAccountMandatory',
      ].sort(),
    );
    for (const e of errors) expect(e.reason.trim()).not.toBe('');
  });

  test('missing everything reports every required field', () => {
    const fields = validateBookOrderInput({}).map((e) => e.field);
    expect(fields.sort()).toEqual(['assignment', 'bookedByPartnerId', 'externalReference', 'lines']);
  });

  test.each([[null], [undefined], ['a booking'], [42], [true]])('non-object input %p', (input) => {
    const errors = validateBookOrderInput(input);
    expect(errors).toHaveLength(1);
    expect(errors[0].field).toBe('(body)');
    expect(errors[0].reason.trim()).not.toBe('');
  });

  test('ValidationError carries the errors and names them in its message', () => {
    const errors = validateBookOrderInput(withLines(line({ quantity: 0 })));
    const err = new ValidationError(errors);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ValidationError');
    expect(err.errors).toBe(errors);
    expect(err.message).toContain('lines[0].quantity');
  });
});

describe('isValidDomain', () => {
  test.each(['acme.com', 'a.co', 'sub.acme.co.uk', 'xn--bcher-kva.example', 'acme-corp.io', '123.example.org'])('accepts %s', (d) => {
    expect(isValidDomain(d)).toBe(true);
  });

  test.each([
    'Acme.com',
    'ACME.COM',
    'acme',
    '',
    'acme.',
    '.acme.com',
    'acme..com',
    '-acme.com',
    'acme-.com',
    'acme.c',
    'acme.123',
    'acme com.org',
    'acme.com\n',
    `${'a'.repeat(64)}.com`,
    `${Array.from({ length: 60 }, () => 'abcd').join('.')}.com`, // 303 characters
  ])('rejects %p', (d) => {
    expect(isValidDomain(d)).toBe(false);
  });

  test('a 63-character label is fine', () => {
    expect(isValidDomain(`${'a'.repeat(63)}.com`)).toBe(true);
  });
});

describe('isValidEmail', () => {
  test.each(['admin@acme.com', 'first.last+tag@sub.acme.co.uk', 'Admin@ACME.com', "o'brien@acme.ie"])('accepts %s', (e) => {
    expect(isValidEmail(e)).toBe(true);
  });

  test.each([
    '',
    'admin',
    'admin@',
    '@acme.com',
    'admin@acme',
    'a@b@acme.com',
    'ad min@acme.com',
    '<admin@acme.com>',
    'Admin <admin@acme.com>',
    '"admin"@acme.com',
    'admin,other@acme.com',
    'admin;other@acme.com',
    'admin@acme.com\r\nBcc: x@evil.com',
    'admin@acme.com\nBcc: x@evil.com',
    'admin@acme.com\rBcc: x@evil.com',
    'admin@acme.com\n',
    '\nadmin@acme.com',
    'admin\t@acme.com',
    `${'l'.repeat(65)}@acme.com`,
  ])('rejects %p', (e) => {
    expect(isValidEmail(e)).toBe(false);
  });

  test('a 64-character local part is fine', () => {
    expect(isValidEmail(`${'l'.repeat(64)}@acme.com`)).toBe(true);
  });
});

describe('emailDomain', () => {
  test.each([
    ['admin@acme.com', 'acme.com'],
    ['Admin@ACME.Com', 'acme.com'],
    ['x@sub.Acme.co.uk', 'sub.acme.co.uk'],
  ])('%s -> %s', (email, domain) => {
    expect(emailDomain(email)).toBe(domain);
  });

  test('an address without @ has no domain', () => {
    expect(emailDomain('acme.com')).toBe('');
  });

  test('the domain is what follows the last @', () => {
    expect(emailDomain('a@b@evil.com')).toBe('evil.com');
  });
});

describe('validateAssignmentRequest', () => {
  const ID_REASON = 'must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
  const VA_REASON = 'must be names of 1-80 characters, not starting or ending with a space, joined by "/", at most 16 deep';

  function request(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { accountId: 'sa-acme', actingPartnerId: 'partner-1', ...overrides };
  }

  const fieldsOf = (input: unknown) => validateAssignmentRequest(input).map((e) => e.field);

  test.each([
    ['account and partner', request()],
    ['with a virtual account', request({ virtualAccountPath: 'Finance' })],
    ['with a nested virtual account', request({ virtualAccountPath: 'Region-US/Finance/Sacramento' })],
    ['with a 16-deep virtual account', request({ virtualAccountPath: Array.from({ length: 16 }, (_, i) => `va${i}`).join('/') })],
    ['with names containing spaces', request({ virtualAccountPath: 'Region US/Finance Dept' })],
    ['with an 80-character name', request({ virtualAccountPath: 'v'.repeat(80) })],
    ['with ids of 128 characters', request({ accountId: 'a'.repeat(128), actingPartnerId: 'p'.repeat(128) })],
    ['with ids using . _ : -', request({ accountId: 'sa.acme_1:x-y', actingPartnerId: '7reseller' })],
    ['with an explicitly undefined virtual account', request({ virtualAccountPath: undefined })],
  ])('valid: %s', (_name, input) => {
    expect(validateAssignmentRequest(input)).toEqual([]);
  });

  test('a typed AssignSmartAccountRequest passes', () => {
    const typed: AssignSmartAccountRequest = { accountId: 'sa-acme', actingPartnerId: 'partner-1', virtualAccountPath: 'Finance' };
    expect(validateAssignmentRequest(typed)).toEqual([]);
  });

  test.each([
    ['missing', undefined],
    ['empty', ''],
    ['not a string', 42],
    ['null', null],
    ['starting with a dash', '-sa'],
    ['starting with a dot', '.sa'],
    ['containing a space', 'sa acme'],
    ['containing a slash', 'sa/acme'],
    ['containing a quote', 'sa"acme'],
    ['with CR/LF', 'sa-acme\r\nX-Injected: yes'],
    ['with a trailing newline', 'sa-acme\n'],
    ['129 characters', 'a'.repeat(129)],
  ])('accountId %s', (_name, accountId) => {
    expect(validateAssignmentRequest(request({ accountId }))).toEqual([{ field: 'accountId', reason: ID_REASON }]);
  });

  test.each([
    ['missing', undefined],
    ['empty', ''],
    ['not a string', 7],
    ['null', null],
    ['ill-formed', 'partner one'],
    ['starting with an underscore', '_partner'],
    ['with CR/LF', 'p1\r\nX-Injected: yes'],
    ['129 characters', 'p'.repeat(129)],
  ])('actingPartnerId %s', (_name, actingPartnerId) => {
    expect(validateAssignmentRequest(request({ actingPartnerId }))).toEqual([{ field: 'actingPartnerId', reason: ID_REASON }]);
  });

  test.each([
    ['empty', ''],
    ['not a string', 42],
    ['null', null],
    ['an array of names', ['Finance']],
    ['a leading slash', '/Finance'],
    ['a trailing slash', 'Finance/'],
    ['an empty name', 'Region-US//Finance'],
    ['a name starting with a space', ' Finance'],
    ['a name ending with a space', 'Region-US/Finance '],
    ['a space before a slash', 'Region-US /Finance'],
    ['an 81-character name', 'v'.repeat(81)],
    ['17 deep', Array.from({ length: 17 }, (_, i) => `va${i}`).join('/')],
    ['a line break', 'Finance\nX'],
    ['a CR', 'Finance\rX'],
    ['a tab at the start', '\tFinance'],
  ])('virtualAccountPath %s', (_name, virtualAccountPath) => {
    expect(validateAssignmentRequest(request({ virtualAccountPath }))).toEqual([{ field: 'virtualAccountPath', reason: VA_REASON }]);
  });

  test('all problems are reported together, in field order', () => {
    expect(fieldsOf({ accountId: '', actingPartnerId: 'bad id', virtualAccountPath: '/x' })).toEqual([
      'accountId',
      'actingPartnerId',
      'virtualAccountPath',
    ]);
    expect(fieldsOf({})).toEqual(['accountId', 'actingPartnerId']);
    expect(fieldsOf({ virtualAccountPath: 'Finance' })).toEqual(['accountId', 'actingPartnerId']);
  });

  test.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'sa-acme'],
    ['a number', 1],
  ])('a body that is not an object: %s', (_name, input) => {
    expect(validateAssignmentRequest(input)).toEqual([{ field: '(body)', reason: 'must be an object' }]);
  });

  test('unknown fields are ignored; the booking-style "assignment." prefix is not used', () => {
    expect(validateAssignmentRequest(request({ kind: 'smart_account', extra: true }))).toEqual([]);
    for (const e of validateAssignmentRequest({ accountId: 1, actingPartnerId: 2, virtualAccountPath: 3 })) {
      expect(e.field).not.toMatch(/^assignment\./);
      expect(e.reason.trim()).not.toBe('');
    }
  });
});
