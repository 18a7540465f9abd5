/**
 * Business dates (src/common/dates.ts): calendar dates written YYYY-MM-DD, whole-month
 * arithmetic for subscription terms (a missing day becomes the month's last day), day counts
 * and the calendar date of an instant.
 */
import { addMonths, daysBetween, daysInMonth, isIsoDate, isoDateOf } from '../../src/common/dates';

describe('isIsoDate', () => {
  test.each([
    '2026-01-01',
    '2026-01-31',
    '2026-02-28',
    '2026-04-30',
    '2026-12-31',
    '2028-02-29', // 2028 is a leap year
    '2000-02-29', // divisible by 400: leap
    '1970-01-01', // lower bound
    '9999-12-31', // upper bound
  ])('accepts %s', (value) => {
    expect(isIsoDate(value)).toBe(true);
  });

  test.each([
    ['29 Feb of a common year', '2026-02-29'],
    ['29 Feb of a century year not divisible by 400', '2100-02-29'],
    ['30 Feb', '2028-02-30'],
    ['31 Apr', '2026-04-31'],
    ['31 Jun', '2026-06-31'],
    ['31 Sep', '2026-09-31'],
    ['31 Nov', '2026-11-31'],
    ['day 0', '2026-01-00'],
    ['day 32', '2026-01-32'],
    ['month 0', '2026-00-10'],
    ['month 13', '2026-13-01'],
    ['a year before 1970', '1969-12-31'],
    ['year 0000', '0000-01-01'],
    ['a five-digit year', '10000-01-01'],
    ['one-digit month', '2026-1-05'],
    ['one-digit day', '2026-01-5'],
    ['slashes', '2026/01/05'],
    ['day-month-year', '05-01-2026'],
    ['no separators', '20260105'],
    ['a time part', '2026-01-05T00:00:00Z'],
    ['a leading space', ' 2026-01-05'],
    ['a trailing space', '2026-01-05 '],
    ['a trailing newline', '2026-01-05\n'],
    ['a leading newline', '\n2026-01-05'],
    ['full-width digits', '２０２６-01-05'],
    ['empty', ''],
    ['words', 'yesterday'],
  ])('rejects %s (%p)', (_name, value) => {
    expect(isIsoDate(value)).toBe(false);
  });

  test.each([
    ['a number', 20260105],
    ['null', null],
    ['undefined', undefined],
    ['a Date', new Date('2026-01-05T00:00:00Z')],
    ['an object', { year: 2026, month: 1, day: 5 }],
    ['an array', ['2026-01-05']],
  ])('rejects %s', (_name, value) => {
    expect(isIsoDate(value)).toBe(false);
  });
});

describe('daysInMonth', () => {
  test.each([
    [2026, 1, 31],
    [2026, 2, 28],
    [2028, 2, 29],
    [2100, 2, 28],
    [2000, 2, 29],
    [2026, 4, 30],
    [2026, 12, 31],
  ])('%i-%i has %i days', (year, month, days) => {
    expect(daysInMonth(year, month)).toBe(days);
  });
});

describe('addMonths', () => {
  describe('the day is kept when the target month has it', () => {
    test.each([
      ['2026-01-15', 1, '2026-02-15'],
      ['2026-01-28', 1, '2026-02-28'],
      ['2026-03-15', 36, '2029-03-15'],
      ['2026-03-01', 12, '2027-03-01'],
      ['2028-02-29', 12, '2029-02-28'], // except 29 Feb into a common year: last day
      ['2028-02-29', 48, '2032-02-29'],
      ['2026-01-31', 2, '2026-03-31'],
    ])('%s + %i months = %s', (from, months, expected) => {
      expect(addMonths(from, months)).toBe(expected);
    });
  });

  describe('a day the target month lacks becomes its last day', () => {
    test.each([
      ['31 Jan + 1 in a common year', '2026-01-31', 1, '2026-02-28'],
      ['31 Jan + 1 in a leap year', '2028-01-31', 1, '2028-02-29'],
      ['30 Jan + 1 in a common year', '2026-01-30', 1, '2026-02-28'],
      ['29 Jan + 1 in a common year', '2026-01-29', 1, '2026-02-28'],
      ['29 Jan + 1 in a leap year', '2028-01-29', 1, '2028-02-29'],
      ['31 Mar + 1', '2026-03-31', 1, '2026-04-30'],
      ['31 May + 1', '2026-05-31', 1, '2026-06-30'],
      ['31 Aug + 1', '2026-08-31', 1, '2026-09-30'],
      ['31 Oct + 1', '2026-10-31', 1, '2026-11-30'],
      ['30 Nov + 3 into a common year', '2026-11-30', 3, '2027-02-28'],
      ['30 Nov + 3 into a leap year', '2027-11-30', 3, '2028-02-29'],
      ['31 Dec + 2 into a common year', '2026-12-31', 2, '2027-02-28'],
      ['31 Dec + 2 into a leap year', '2027-12-31', 2, '2028-02-29'],
      ['31 Jan + 13 in a leap year', '2027-01-31', 13, '2028-02-29'],
    ])('%s: %s + %i = %s', (_name, from, months, expected) => {
      expect(addMonths(from, months)).toBe(expected);
    });
  });

  describe('terms of a year and more', () => {
    test.each([
      ['2026-01-31', 12, '2027-01-31'],
      ['2026-02-28', 12, '2027-02-28'],
      ['2026-06-30', 12, '2027-06-30'],
      ['2026-01-31', 36, '2029-01-31'],
      ['2026-02-28', 36, '2029-02-28'],
      ['2027-02-28', 12, '2028-02-28'], // not moved to 29 Feb: the day exists
      ['2026-12-15', 36, '2029-12-15'],
      ['2026-07-01', 120, '2036-07-01'],
    ])('%s + %i = %s', (from, months, expected) => {
      expect(addMonths(from, months)).toBe(expected);
    });
  });

  describe('year rollover', () => {
    test.each([
      ['2026-12-31', 1, '2027-01-31'],
      ['2026-12-01', 1, '2027-01-01'],
      ['2026-11-15', 2, '2027-01-15'],
      ['2026-10-31', 3, '2027-01-31'],
      ['2026-12-15', 13, '2028-01-15'],
      ['2026-12-15', 25, '2029-01-15'],
    ])('%s + %i = %s', (from, months, expected) => {
      expect(addMonths(from, months)).toBe(expected);
    });
  });

  test('zero months is the same date', () => {
    for (const date of ['2026-01-31', '2028-02-29', '2026-12-31', '1970-01-01']) expect(addMonths(date, 0)).toBe(date);
  });

  describe('negative months', () => {
    test.each([
      ['2026-03-15', -1, '2026-02-15'],
      ['2026-03-31', -1, '2026-02-28'],
      ['2028-03-31', -1, '2028-02-29'],
      ['2026-05-31', -1, '2026-04-30'],
      ['2026-01-15', -1, '2025-12-15'],
      ['2026-01-31', -2, '2025-11-30'],
      ['2026-03-15', -12, '2025-03-15'],
      ['2029-03-15', -36, '2026-03-15'],
      ['2027-02-28', -12, '2026-02-28'],
      ['2026-06-30', -6, '2025-12-30'],
    ])('%s %i = %s', (from, months, expected) => {
      expect(addMonths(from, months)).toBe(expected);
    });
  });

  test('the result is always a valid calendar date', () => {
    for (const from of ['2026-01-28', '2026-01-29', '2026-01-30', '2026-01-31', '2028-02-29', '2026-12-31']) {
      for (let months = -30; months <= 130; months++) {
        const result = addMonths(from, months);
        expect(isIsoDate(result)).toBe(true);
        // Never beyond the start's day of month, and only shorter when the month is shorter.
        const day = Number(result.slice(8));
        const [y, m] = result.split('-').map(Number);
        expect(day).toBe(Math.min(Number(from.slice(8)), daysInMonth(y, m)));
      }
    }
  });

  describe('throws on bad input', () => {
    test.each(['2026-02-29', '2026-02-30', '2026-13-01', '2026-1-5', '2026/01/05', '', 'not a date', '2026-01-05T00:00:00Z'])(
      'a date that is not a calendar date: %p',
      (from) => {
        expect(() => addMonths(from, 1)).toThrow(RangeError);
        expect(() => addMonths(from, 1)).toThrow(/not a calendar date/);
      },
    );

    test.each([1.5, -0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
      'a month count that is not whole: %p',
      (months) => {
        expect(() => addMonths('2026-01-31', months)).toThrow(RangeError);
        expect(() => addMonths('2026-01-31', months)).toThrow(/months must be a whole number/);
      },
    );

    test('a value that is not a string', () => {
      expect(() => addMonths(20260131 as unknown as string, 1)).toThrow(RangeError);
      expect(() => addMonths(undefined as unknown as string, 1)).toThrow(RangeError);
    });
  });
});

describe('daysBetween', () => {
  test.each([
    ['2026-01-01', '2026-01-01', 0],
    ['2026-01-01', '2026-01-02', 1],
    ['2026-01-02', '2026-01-01', -1],
    ['2026-01-31', '2026-02-01', 1],
    ['2026-02-28', '2026-03-01', 1], // common year
    ['2028-02-28', '2028-03-01', 2], // leap year
    ['2026-01-01', '2026-12-31', 364],
    ['2026-01-01', '2027-01-01', 365],
    ['2028-01-01', '2029-01-01', 366],
    ['2026-03-01', '2026-03-11', 10],
    ['2026-03-11', '2026-03-01', -10],
    ['2026-03-07', '2026-03-09', 2], // across a daylight-saving change in many zones: still whole days
    ['2026-10-24', '2026-10-26', 2],
    ['2026-03-15', '2029-03-15', 1096],
  ])('%s -> %s = %i', (from, to, days) => {
    expect(daysBetween(from, to)).toBe(days);
  });

  test('is antisymmetric', () => {
    expect(daysBetween('2026-05-17', '2031-11-02')).toBe(-daysBetween('2031-11-02', '2026-05-17'));
  });

  test('agrees with addMonths for a 36-month term', () => {
    const start = '2026-03-15';
    expect(daysBetween(start, addMonths(start, 36))).toBe(365 + 366 + 365); // 2026-27, 2027-28 (holds 2028-02-29), 2028-29
  });
});

describe('isoDateOf', () => {
  test.each([
    [0, '1970-01-01'],
    [Date.UTC(2026, 0, 31), '2026-01-31'],
    [Date.UTC(2026, 1, 28, 23, 59, 59, 999), '2026-02-28'],
    [Date.UTC(2026, 1, 28, 23, 59, 59, 999) + 1, '2026-03-01'],
    [Date.UTC(2028, 1, 29, 12), '2028-02-29'],
    [Date.UTC(2026, 11, 31, 23, 59, 59, 999), '2026-12-31'],
    [Date.UTC(2027, 0, 1), '2027-01-01'],
  ])('%i -> %s (the UTC calendar date)', (ms, expected) => {
    expect(isoDateOf(ms)).toBe(expected);
  });

  test('is a calendar date isIsoDate accepts, and round-trips through daysBetween', () => {
    const ms = Date.UTC(2026, 4, 17, 8, 30);
    expect(isIsoDate(isoDateOf(ms))).toBe(true);
    expect(daysBetween(isoDateOf(ms), isoDateOf(ms + 10 * 86_400_000))).toBe(10);
  });
});
