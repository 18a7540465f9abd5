import { lastEndedPeriod, periodOf } from '../../src/licensing/periods';

test('a quarterly period holds its days and ends where the next begins', () => {
  expect(periodOf('2026-01-01', 'quarterly', '2026-01-01')).toEqual({ startsOn: '2026-01-01', endsOn: '2026-04-01' });
  expect(periodOf('2026-01-01', 'quarterly', '2026-03-31')).toEqual({ startsOn: '2026-01-01', endsOn: '2026-04-01' });
  expect(periodOf('2026-01-01', 'quarterly', '2026-04-01')).toEqual({ startsOn: '2026-04-01', endsOn: '2026-07-01' });
  expect(periodOf('2026-01-01', 'yearly', '2029-12-31')).toEqual({ startsOn: '2029-01-01', endsOn: '2030-01-01' });
  expect(periodOf('2026-01-01', 'monthly', '2025-12-31')).toBeUndefined();
});

test('month ends follow the subscription rule (31 Jan + 1 month = 28 Feb)', () => {
  expect(periodOf('2026-01-31', 'monthly', '2026-02-27')).toEqual({ startsOn: '2026-01-31', endsOn: '2026-02-28' });
  expect(periodOf('2026-01-31', 'monthly', '2026-02-28')).toEqual({ startsOn: '2026-02-28', endsOn: '2026-03-31' });
});

test('the last ended period is the one whose reconciliation date has come', () => {
  expect(lastEndedPeriod('2026-01-01', 'quarterly', '2026-03-31')).toBeUndefined();
  expect(lastEndedPeriod('2026-01-01', 'quarterly', '2026-04-01')).toEqual({ startsOn: '2026-01-01', endsOn: '2026-04-01' });
  expect(lastEndedPeriod('2026-01-01', 'quarterly', '2026-12-06')).toEqual({ startsOn: '2026-07-01', endsOn: '2026-10-01' });
});
