/**
 * The fault runner's table and the results section of docs/RELIABILITY.md
 * (scripts/faults/report.ts): a failed figure makes the row FAIL, re-deliveries alone do not,
 * and rewriting the section keeps the prose around it.
 */
import {
  SECTION_END,
  SECTION_START,
  formatSection,
  formatTable,
  passed,
  replaceSection,
  type FaultResult,
} from '../../scripts/faults/report';

const clean: FaultResult = {
  fault: 'worker-kill',
  orders: 200,
  completed: 200,
  duplicates: { deposits: 0, emails: 0 },
  lost: { orders: 0, licenses: 0, emails: 0 },
  smtpRedeliveries: 0,
  halfWritten: 0,
  recoverySeconds: 12.25,
  backlogSeconds: 41.25,
  faultSeconds: 0.2,
  emailsReceived: 1234,
  notes: [],
};

describe('passed', () => {
  test('a clean run passes; re-deliveries with the same Message-ID are counted but do not fail it', () => {
    expect(passed(clean)).toBe(true);
    expect(passed({ ...clean, smtpRedeliveries: 3 })).toBe(true);
    expect(passed({ ...clean, fault: 'one-worker-kill', survivorOutcomes: 121 })).toBe(true);
  });

  test.each<[string, Partial<FaultResult>]>([
    ['an order not completed', { completed: 199 }],
    ['a duplicated deposit', { duplicates: { deposits: 1, emails: 0 } }],
    ['a duplicated email', { duplicates: { deposits: 0, emails: 1 } }],
    ['a lost order', { lost: { orders: 1, licenses: 0, emails: 0 } }],
    ['a lost license', { lost: { orders: 0, licenses: 1, emails: 0 } }],
    ['a lost email', { lost: { orders: 0, licenses: 0, emails: 1 } }],
    ['a half-written row', { halfWritten: 1 }],
    [
      'a license-use loss or duplicate (a true-up twice, a report counted twice, an alert email lost)',
      { licenseUse: { checked: '3 true-ups', problems: 1 } },
    ],
    ['one-worker-kill: the surviving worker completed nothing while the other was dead', { fault: 'one-worker-kill', survivorOutcomes: 0 }],
  ])('%s fails it', (_, change) => {
    expect(passed({ ...clean, ...change })).toBe(false);
  });
});

test('formatTable: one aligned Markdown row per fault with every figure', () => {
  const table = formatTable([
    clean,
    {
      ...clean,
      fault: 'smtp-stop',
      completed: 199,
      lost: { orders: 1, licenses: 2, emails: 3 },
      smtpRedeliveries: 1,
      recoverySeconds: null,
      backlogSeconds: null,
      licenseUse: { checked: '3 alerts to 2 people, each once', problems: 2 },
    },
  ]);
  const lines = table.split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[0]).toMatch(
    /^\| fault +\| orders \| completed \| duplicates \(deposits \/ emails\) \| lost \(orders \/ licenses \/ emails\) \| SMTP re-deliveries \(same Message-ID\) \|/,
  );
  expect(lines[1]).toMatch(/^\|-+\|/);
  expect(lines[2].split('|').map((c) => c.trim())).toEqual([
    '',
    'worker-kill',
    '200',
    '200',
    '0 / 0',
    '0 / 0 / 0',
    '0',
    '0',
    '0.2 s',
    '12.3 s',
    '41.3 s',
    '1234',
    '-',
    'pass',
    '',
  ]);
  expect(lines[3].split('|').map((c) => c.trim())).toEqual([
    '',
    'smtp-stop',
    '200',
    '199',
    '0 / 0',
    '1 / 2 / 3',
    '1',
    '0',
    '0.2 s',
    'n/a',
    'n/a',
    '1234',
    '3 alerts to 2 people, each once: 2 lost, doubled or wrong',
    'FAIL',
    '',
  ]);
  expect(new Set(lines.map((l) => l.length)).size).toBe(1);
});

describe('the results section', () => {
  const section = formatSection({
    command: 'npm run test:faults',
    finishedAt: new Date('2026-11-29T06:00:00Z'),
    durationSeconds: 1200.4,
    machine: '2 cores',
    settings: '200 orders per fault run',
    results: [{ ...clean, notes: ['the new worker polled 9.0 s after it was started'] }],
  });

  test('names the command, when, where and how, the table, and the notes, between the markers', () => {
    expect(section.startsWith(SECTION_START)).toBe(true);
    expect(section.endsWith(SECTION_END)).toBe(true);
    expect(section).toContain('Command: `npm run test:faults`');
    expect(section).toContain('Finished 2026-11-29T06:00:00.000Z after 1200 s on 2 cores; 200 orders per fault run.');
    expect(section).toContain('| worker-kill |');
    expect(section).toContain('- worker-kill: the new worker polled 9.0 s after it was started');
  });

  test('replaceSection swaps only the old section, keeping the prose before and after', () => {
    const doc = `# Reliability\n\nIntro.\n\n${SECTION_START}\nold table\n${SECTION_END}\n\n## The SMTP window\n\nProse.\n`;
    const updated = replaceSection(doc, section);
    expect(updated).toBe(`# Reliability\n\nIntro.\n\n${section}\n\n## The SMTP window\n\nProse.\n`);
    expect(replaceSection(updated, section)).toBe(updated);
  });

  test('replaceSection appends the section to a document without markers', () => {
    expect(replaceSection('# Reliability\n\n', section)).toBe(`# Reliability\n\n${section}\n`);
  });
});
