/** differingFields: the paths at which a re-sent booking differs from the booked one (a 409 names them). */
import { differingFields } from '../../src/orders/booking-conflict';

test('equal values, in any key order, differ nowhere', () => {
  expect(differingFields({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
});

test('each differing leaf is named by its path; a missing field counts as a difference', () => {
  const booked = { assignment: { kind: 'smart_account', accountId: 'sa-1' }, lines: [{ quantity: 1 }, { quantity: 2 }] };
  const sent = { assignment: { kind: 'holding_account', accountId: 'pha-1' }, lines: [{ quantity: 1 }, { quantity: 3 }], extra: true };
  expect(differingFields(booked, sent)).toEqual(['assignment.accountId', 'assignment.kind', 'extra', 'lines[1].quantity']);
});

test('arrays of another length differ as a whole; different types differ at their path', () => {
  expect(differingFields({ lines: [1, 2] }, { lines: [1] })).toEqual(['lines']);
  expect(differingFields({ contact: { email: 'a@b.test' } }, { contact: 'a@b.test' })).toEqual(['contact']);
  expect(differingFields(1, 2)).toEqual(['(body)']);
});
