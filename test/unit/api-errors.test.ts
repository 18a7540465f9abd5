import Ajv from 'ajv';
import { Type } from '@sinclair/typebox';
import { fieldErrorsOf } from '../../src/api/errors';
import { BookOrderBody, OrderLineSchema } from '../../src/api/schemas';
import { redactUrl } from '../../src/logging';
import { AUTHORIZATION_MATRIX } from '../../src/security/authorization-matrix';

const ajv = new Ajv({ allErrors: true, verbose: true, discriminator: true, strict: false });
ajv.addSchema(OrderLineSchema, 'line');
const validateBooking = ajv.compile(BookOrderBody);

function errorsFor(value: unknown) {
  expect(validateBooking(value)).toBe(false);
  return fieldErrorsOf(validateBooking.errors!, 'body');
}

const line = { lineNumber: 1, sku: 'SKU-1', quantity: 1, licenseType: 'smart', smartAccountMandatory: true };
const valid = { externalReference: 'PO-1', assignment: { kind: 'delegate' }, endCustomerContact: { email: 'a@b.com' }, lines: [line] };

describe("API field errors: each names the field the way the domain validators do, with the schema's reason", () => {
  test('a valid booking passes', () => {
    expect(validateBooking(valid)).toBe(true);
  });

  test('nested array fields read lines[0].quantity; the reason is the field\'s "must" description', () => {
    expect(errorsFor({ ...valid, lines: [{ ...line, quantity: 0 }] })).toEqual([
      { field: 'lines[0].quantity', reason: 'must be a whole number from 1 to 1000000' },
    ]);
  });

  test('missing and unknown fields name the property itself', () => {
    const { lines: _l, ...noLines } = valid;
    expect(errorsFor({ ...noLines, colour: 'red' })).toEqual([
      { field: 'lines', reason: 'is required' },
      { field: 'colour', reason: 'is not a known field' },
    ]);
  });

  test('an unknown assignment kind names assignment.kind once, not every branch', () => {
    const errors = errorsFor({ ...valid, assignment: { kind: 'teleport' } });
    expect(errors).toEqual([{ field: 'assignment.kind', reason: 'must be one of the documented kinds' }]);
  });

  test('a known kind with a bad field names that field', () => {
    expect(errorsFor({ ...valid, assignment: { kind: 'request_smart_account', domain: 'Not A Domain' } })).toEqual([
      { field: 'assignment.domain', reason: 'must be a lower-case domain name such as acme.com' },
    ]);
  });

  test('headers are named as headers', () => {
    const validate = ajv.compile(Type.Object({ 'idempotency-key': Type.String({ pattern: '^a$', description: 'must be a' }) }));
    validate({ 'idempotency-key': 'b' });
    expect(fieldErrorsOf(validate.errors!, 'headers')).toEqual([{ field: 'header idempotency-key', reason: 'must be a' }]);
  });
});

describe('redactUrl: link tokens never reach a log line', () => {
  test.each([
    ['/delegations/abcDEF123_-', '/delegations/[token]'],
    ['/activations/abc?x=1', '/activations/[token]?x=1'],
    ['/sign-in/abcDEF123_-', '/sign-in/[token]'],
    ['/people/verify/abc?x=1', '/people/verify/[token]?x=1'],
    ['/sign-in', '/sign-in'],
    ['/v1/orders/0123456789abcdef0123', '/v1/orders/0123456789abcdef0123'],
  ])('%s', (url, expected) => expect(redactUrl(url)).toBe(expected));

  // The matrix lists every route the app registers (authorization-matrix.test.ts checks it does).
  const secretRoutes = AUTHORIZATION_MATRIX.map((r) => r.route.split(' ')[1]).filter((path) => /:(token|key)(\/|$)/.test(path));
  test.each([...new Set(secretRoutes)])('a route with a secret in its path (%s) is logged without it', (path) => {
    const url = path.replace(/:(token|key)(?=\/|$)/g, 'SeCrEt-0123456789').replace(/:[A-Za-z]+/g, 'x');
    expect(redactUrl(url)).not.toContain('SeCrEt');
  });

  test('every kind of emailed link is among those routes', () => {
    expect(secretRoutes).toEqual(
      expect.arrayContaining([
        '/delegations/:token',
        '/activations/:token',
        '/sign-in/:token',
        '/people/verify/:token',
        '/codec/ui/:key/:operation',
      ]),
    );
  });
});
