/**
 * Reconciliation periods of an overage agreement (R20): pure date arithmetic, safe in workflow
 * code. Period k starts `first + k × cadence` (month-end rules of addMonths) and ends where
 * period k+1 starts; a period is named by its first day ("2026-01-01").
 */
import { addMonths } from '../common/dates';

export const CADENCES = ['monthly', 'quarterly', 'yearly'] as const;
export type Cadence = (typeof CADENCES)[number];

const MONTHS: Record<Cadence, number> = { monthly: 1, quarterly: 3, yearly: 12 };

export interface Period {
  /** First day of the period, YYYY-MM-DD; also its name. */
  startsOn: string;
  /** First day after the period: the agreed reconciliation date. */
  endsOn: string;
}

function periodNumber(first: string, cadence: Cadence, k: number): Period {
  return { startsOn: addMonths(first, k * MONTHS[cadence]), endsOn: addMonths(first, (k + 1) * MONTHS[cadence]) };
}

/** The period `day` falls in; undefined before the first period starts. */
export function periodOf(first: string, cadence: Cadence, day: string): Period | undefined {
  if (day < first) return undefined;
  // Start from an estimate and step: addMonths clamps month ends, so count rather than divide.
  const [fy, fm] = first.split('-').map(Number);
  const [dy, dm] = day.split('-').map(Number);
  let k = Math.max(0, Math.floor(((dy - fy) * 12 + (dm - fm)) / MONTHS[cadence]) - 1);
  for (;;) {
    const period = periodNumber(first, cadence, k);
    if (day < period.endsOn) return period;
    k++;
  }
}

/** The last period that ended on or before `day` (its reconciliation date has come); undefined if none has. */
export function lastEndedPeriod(first: string, cadence: Cadence, day: string): Period | undefined {
  const current = periodOf(first, cadence, day);
  if (!current || current.startsOn === first) return undefined;
  const [before] = [periodOf(first, cadence, addDays(current.startsOn, -1))];
  return before;
}

function addDays(isoDate: string, days: number): string {
  return new Date(Date.parse(`${isoDate}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}
