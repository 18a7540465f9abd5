/**
 * The table a fault run prints and keeps: pure formatting, and the replacement of the results
 * section in docs/RELIABILITY.md (between two marker comments, so the prose around it stays).
 */
import type { FaultKind } from './options';

export interface FaultResult {
  fault: FaultKind;
  orders: number;
  /** Orders whose workflow completed in the expected phase (Fulfilled, or Cancelled for the cancelled kind). */
  completed: number;
  duplicates: {
    /** Licenses deposited, transferred or provisioned more than once; order events repeated per key. */
    deposits: number;
    /** Extra copies of one email that a mail client could not drop (another Message-ID, or no outbox row). */
    emails: number;
  };
  lost: {
    /** Orders that did not reach their expected state. */
    orders: number;
    /** Lines without their entitlement, LRP record or subscription, or in the wrong account or status. */
    licenses: number;
    /** Emails the outbox marked sent (or the workflow recorded) that never arrived. */
    emails: number;
  };
  /** Extra copies with the same Message-ID: the documented SMTP window, counted, not hidden. */
  smtpRedeliveries: number;
  /** Orders without lines, lines without entitlements, outbox rows left pending. */
  halfWritten: number;
  /** Seconds from the fault being cleared until the stack works at (half) its pre-fault pace again. */
  recoverySeconds: number | null;
  /** Seconds from the fault being cleared until the last step it held up finished (includes queueing on a loaded machine). */
  backlogSeconds: number | null;
  /** How long the fault itself lasted (outage, or the restart). */
  faultSeconds: number;
  emailsReceived: number;
  /** The license-use path of the run (true-ups, device reports, alert emails): what was checked, and how many losses or duplicates. */
  licenseUse?: { checked: string; problems: number };
  /** one-worker-kill: order steps and emails the surviving worker completed while the other was dead (0 fails the run). */
  survivorOutcomes?: number;
  /** What else happened that a reader should know (a worker that exited by itself, an order's reason). */
  notes: string[];
}

export function passed(result: FaultResult): boolean {
  return (
    result.completed === result.orders &&
    result.duplicates.deposits === 0 &&
    result.duplicates.emails === 0 &&
    result.lost.orders === 0 &&
    result.lost.licenses === 0 &&
    result.lost.emails === 0 &&
    result.halfWritten === 0 &&
    (result.licenseUse?.problems ?? 0) === 0 &&
    result.survivorOutcomes !== 0
  );
}

const seconds = (value: number | null): string => (value === null ? 'n/a' : `${value.toFixed(1)} s`);

/** A Markdown table: readable in a terminal and in docs/RELIABILITY.md alike. */
export function formatTable(results: FaultResult[]): string {
  const header = [
    'fault',
    'orders',
    'completed',
    'duplicates (deposits / emails)',
    'lost (orders / licenses / emails)',
    'SMTP re-deliveries (same Message-ID)',
    'half-written rows',
    'fault lasted',
    'recovery time',
    'backlog cleared',
    'emails received',
    'license use',
    'result',
  ];
  const rows = results.map((r) => [
    r.fault,
    String(r.orders),
    String(r.completed),
    `${r.duplicates.deposits} / ${r.duplicates.emails}`,
    `${r.lost.orders} / ${r.lost.licenses} / ${r.lost.emails}`,
    String(r.smtpRedeliveries),
    String(r.halfWritten),
    seconds(r.faultSeconds),
    seconds(r.recoverySeconds),
    seconds(r.backlogSeconds),
    String(r.emailsReceived),
    r.licenseUse
      ? `${r.licenseUse.checked}: ${r.licenseUse.problems === 0 ? 'ok' : `${r.licenseUse.problems} lost, doubled or wrong`}`
      : '-',
    passed(r) ? 'pass' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export const SECTION_START = '<!-- fault-run:start (written by scripts/faults/run.ts; edits here are overwritten) -->';
export const SECTION_END = '<!-- fault-run:end -->';

/** The results section: the command, when and where it ran, the table and the notes. */
export function formatSection(input: {
  command: string;
  finishedAt: Date;
  durationSeconds: number;
  machine: string;
  settings: string;
  results: FaultResult[];
}): string {
  const notes = input.results.flatMap((r) => r.notes.map((n) => `- ${r.fault}: ${n}`));
  return [
    SECTION_START,
    `Command: \`${input.command}\``,
    '',
    `Finished ${input.finishedAt.toISOString()} after ${Math.round(input.durationSeconds)} s on ${input.machine}; ${input.settings}.`,
    '',
    formatTable(input.results),
    ...(notes.length ? ['', 'Notes from the run:', '', ...notes] : []),
    SECTION_END,
  ].join('\n');
}

/** Puts `section` between the markers of `doc`, or appends it when the markers are missing. */
export function replaceSection(doc: string, section: string): string {
  const start = doc.indexOf(SECTION_START);
  const end = doc.indexOf(SECTION_END);
  if (start === -1 || end === -1 || end < start) return `${doc.replace(/\s*$/, '')}\n\n${section}\n`;
  return doc.slice(0, start) + section + doc.slice(end + SECTION_END.length);
}
