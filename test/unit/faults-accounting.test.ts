/**
 * The fault runner's arithmetic (scripts/faults/accounting.ts): emails received against the
 * outbox, and the recovery time. A real run produces re-deliveries, lost and stray messages
 * only by chance, so each case is fed here on purpose.
 */
import {
  accountMail,
  extraCopies,
  normalizeMessageId,
  paceRecoveryOf,
  recoveryOf,
  type OutboxEntry,
  type StepRecord,
} from '../../scripts/faults/accounting';

const row = (key: string, status = 'sent'): OutboxEntry => ({ idempotencyKey: key, messageId: `<${key}@orders.test>`, status });
const got = (key: string | undefined, messageId = `<${key}@orders.test>`) => ({ idempotencyKey: key, messageId });

describe('accountMail', () => {
  test('one message per sent row: delivered, nothing lost, duplicated or stray', () => {
    const account = accountMail([row('a'), row('b')], [got('a'), got('b')]);
    expect(account).toEqual({
      outboxRows: 2,
      receivedMessages: 2,
      delivered: 2,
      lost: [],
      redeliveries: [],
      duplicates: [],
      unexpected: [],
      pending: [],
      pendingButReceived: [],
    });
  });

  test('a sent row never received is lost', () => {
    expect(accountMail([row('a'), row('b')], [got('a')]).lost).toEqual(['b']);
  });

  test('two copies with the row’s Message-ID are a re-delivery (the SMTP window), not a duplicate', () => {
    const account = accountMail([row('a')], [got('a'), got('a', '<A@ORDERS.TEST>')]);
    expect(account.redeliveries).toEqual([{ idempotencyKey: 'a', copies: 2 }]);
    expect(account.duplicates).toEqual([]);
    expect(account.delivered).toBe(1);
  });

  test('a copy with another Message-ID is a duplicate a mail client cannot drop', () => {
    const account = accountMail([row('a')], [got('a'), got('a', '<other@orders.test>')]);
    expect(account.redeliveries).toEqual([]);
    expect(account.duplicates).toEqual([{ idempotencyKey: 'a', copies: 2, messageIds: ['a@orders.test', 'other@orders.test'] }]);
  });

  test('messages without a key, or with a key the outbox does not know, are unexpected', () => {
    const account = accountMail([row('a')], [got('a'), got(undefined, '<x@y>'), got('zzz')]);
    expect(account.unexpected).toEqual([got(undefined, '<x@y>'), got('zzz')]);
  });

  test('pending rows are listed, and told apart when their message arrived anyway', () => {
    const account = accountMail([row('a', 'pending'), row('b', 'pending')], [got('a')]);
    expect(account.pending).toEqual(['a', 'b']);
    expect(account.pendingButReceived).toEqual(['a']);
    // A pending row not received is not "lost": nothing claimed it was sent.
    expect(account.lost).toEqual([]);
  });

  test('a row settled without sending (any other status) is neither lost nor pending', () => {
    const account = accountMail([row('a', 'withdrawn')], []);
    expect(account).toMatchObject({ lost: [], pending: [], delivered: 0 });
  });

  test('extraCopies counts copies beyond the first', () => {
    expect(extraCopies([{ copies: 2 }, { copies: 3 }])).toBe(3);
    expect(extraCopies([])).toBe(0);
  });

  test('normalizeMessageId ignores angle brackets, case and spaces', () => {
    expect(normalizeMessageId(' <AbC@Example.COM> ')).toBe('abc@example.com');
  });
});

describe('recoveryOf', () => {
  const window = { injectedAt: 10_000, clearedAt: 30_000 };
  const step = (startedAt: number, endedAt?: number): StepRecord => ({
    order: 0,
    label: 'x',
    kind: 'outcome',
    startedAt,
    ...(endedAt !== undefined ? { endedAt } : {}),
  });

  test('the last step caught by the fault decides: seconds after the fault was cleared', () => {
    const recovery = recoveryOf([step(5_000, 31_000), step(20_000, 42_500), step(29_000, 33_000)], window);
    expect(recovery).toEqual({ seconds: 12.5, caught: 3, unfinished: 0 });
  });

  test('steps wholly before or after the fault are not caught', () => {
    expect(recoveryOf([step(1_000, 9_000), step(31_000, 60_000)], window)).toEqual({ seconds: null, caught: 0, unfinished: 0 });
  });

  test('a fault nobody noticed (steps done during it) recovers in 0 s', () => {
    expect(recoveryOf([step(11_000, 12_000)], window)).toEqual({ seconds: 0, caught: 1, unfinished: 0 });
  });

  test('steps that never finished are counted apart', () => {
    expect(recoveryOf([step(12_000), step(12_000, 35_000)], window)).toEqual({ seconds: 5, caught: 2, unfinished: 1 });
  });
});

describe('paceRecoveryOf', () => {
  const window = { runStartedAt: 0, injectedAt: 20_000, clearedAt: 40_000 };
  // One step a second before the fault: the pre-fault pace is 5 per 5 s, half of it 3 (rounded up).
  const steady = Array.from({ length: 20 }, (_, i) => i * 1_000 + 500);

  test('at pace again when a 5 s window after the clear holds half the pre-fault pace: the time of its last needed step', () => {
    const after = [41_000, 52_000, 52_500, 53_000, 54_000];
    expect(paceRecoveryOf([...steady, ...after], window)).toBe(13);
  });

  test('a single straggler right after the clear is not "at pace"', () => {
    expect(paceRecoveryOf([...steady, 40_100, 70_000, 70_100, 70_200], window)).toBe(30.2);
  });

  test('nothing done before the fault: the first step after the clear', () => {
    expect(paceRecoveryOf([47_000, 90_000], window)).toBe(7);
  });

  test('steps done during the fault do not count as recovery; none after it gives null', () => {
    expect(paceRecoveryOf([...steady, 25_000, 30_000], window)).toBeNull();
  });

  test('a run shorter than the baseline before the fault is measured since its start', () => {
    // 3 steps in the 6 s before the fault: pace 2.5 per 5 s, half of it 2 (rounded up).
    expect(paceRecoveryOf([1_000, 3_000, 5_000, 8_000, 8_100], { runStartedAt: 0, injectedAt: 6_000, clearedAt: 7_000 })).toBeCloseTo(1.1);
  });
});
