/**
 * deriveOrderPhase (src/domain/order-status.ts): the order's phase is derived from its lines'
 * states; cancelled lines do not hold the rest of the order back.
 */
import type { LineState } from '../../src/domain/order';
import { deriveOrderPhase, type OrderPhase } from '../../src/domain/order-status';

const phaseOf = (...states: LineState[]): OrderPhase => deriveOrderPhase(states.map((state) => ({ state })));

describe('deriveOrderPhase', () => {
  test.each<[OrderPhase, LineState[]]>([
    // Booked: any live line not yet placed anywhere.
    ['Booked', ['booked']],
    ['Booked', ['booked', 'booked', 'booked']],
    ['Booked', ['booked', 'held']],
    ['Booked', ['deposited', 'booked']],
    ['Booked', ['provisioned', 'booked']],
    ['Booked', ['held', 'deposited', 'shipped', 'provisioned', 'booked']],
    ['Booked', ['cancelled', 'booked']],
    ['Booked', ['booked', 'cancelled', 'cancelled']],
    // AwaitingSmartAccount: nothing booked, something held in a holding account.
    ['AwaitingSmartAccount', ['held']],
    ['AwaitingSmartAccount', ['held', 'held']],
    ['AwaitingSmartAccount', ['held', 'deposited']],
    ['AwaitingSmartAccount', ['provisioned', 'held']],
    ['AwaitingSmartAccount', ['held', 'shipped', 'provisioned']],
    ['AwaitingSmartAccount', ['cancelled', 'held']],
    ['AwaitingSmartAccount', ['held', 'cancelled', 'deposited']],
    // AwaitingShipment: everything placed in a customer account, not all provisioned yet.
    ['AwaitingShipment', ['deposited']],
    ['AwaitingShipment', ['deposited', 'deposited']],
    ['AwaitingShipment', ['deposited', 'provisioned']],
    ['AwaitingShipment', ['provisioned', 'deposited', 'provisioned']],
    ['AwaitingShipment', ['cancelled', 'deposited']],
    ['AwaitingShipment', ['deposited', 'cancelled', 'provisioned']],
    // Fulfilled: every live line provisioned; cancelled lines do not count.
    ['Fulfilled', ['provisioned']],
    ['Fulfilled', ['provisioned', 'provisioned', 'provisioned']],
    ['Fulfilled', ['provisioned', 'cancelled']],
    ['Fulfilled', ['cancelled', 'provisioned', 'cancelled']],
    // Cancelled: every line cancelled.
    ['Cancelled', ['cancelled']],
    ['Cancelled', ['cancelled', 'cancelled', 'cancelled']],
  ])('%s <- %j', (phase, states) => {
    expect(phaseOf(...states)).toBe(phase);
  });

  test('line order does not matter', () => {
    const states: LineState[] = ['cancelled', 'deposited', 'held', 'provisioned', 'shipped'];
    const expected = phaseOf(...states);
    expect(expected).toBe('AwaitingSmartAccount');
    for (let i = 0; i < states.length; i++) {
      const rotated = [...states.slice(i), ...states.slice(0, i)];
      expect(phaseOf(...rotated)).toBe(expected);
      expect(phaseOf(...[...rotated].reverse())).toBe(expected);
    }
  });

  test('a shipped line that is not provisioned keeps the order open', () => {
    // Only what the phase is NOT is pinned here: see the report on whether a shipped-but-not-
    // provisioned line should read AwaitingShipment (today) or AwaitingActivation.
    for (const states of [['shipped'], ['shipped', 'provisioned'], ['cancelled', 'shipped'], ['deposited', 'shipped']] as LineState[][]) {
      expect(['Booked', 'AwaitingSmartAccount', 'Fulfilled', 'Cancelled']).not.toContain(phaseOf(...states));
    }
  });

  test('one cancelled line among live ones never makes the order Cancelled', () => {
    for (const live of ['booked', 'held', 'deposited', 'shipped', 'provisioned'] as LineState[]) {
      expect(phaseOf('cancelled', live)).not.toBe('Cancelled');
      expect(phaseOf(live, 'cancelled', 'cancelled')).not.toBe('Cancelled');
    }
  });

  test('only the state of each line is read', () => {
    const lines = [
      { state: 'deposited' as const, lineNumber: 1, sku: 'A', quantity: 1 },
      { state: 'provisioned' as const, lineNumber: 2, sku: 'B', quantity: 2 },
    ];
    expect(deriveOrderPhase(lines)).toBe('AwaitingShipment');
  });
});

test('an order without lines is not fulfilled', () => {
  expect(deriveOrderPhase([])).toBe('Booked');
});
