import { AUTHORIZATION_MATRIX, CALLERS, CALLER_DESCRIPTIONS, type Expected } from './authorization-matrix';

/** The markers around the generated section of docs/SECURITY.md. */
export const MATRIX_START = '<!-- authorization-matrix:start (generated from src/security/authorization-matrix.ts; do not edit) -->';
export const MATRIX_END = '<!-- authorization-matrix:end -->';

const HEADINGS: Record<(typeof CALLERS)[number], string> = {
  anonymous: 'anon',
  operator: 'oper',
  partner: 'partner',
  distributor: 'distr',
  saAdmin: 'SA admin',
  saUser: 'SA user',
  vaAdmin: 'VA admin',
  vaUser: 'VA user',
  vaViewer: 'VA viewer',
  device: 'device',
  partnerWithoutRole: 'partner, no role',
  otherCustomerUser: "other customer's user",
};

/** A cell as the doc shows it: allowed answers in bold, refusals as their status. */
function cell(expected: Expected): string {
  if (expected === 'none') return '**2xx** ∅';
  if (expected === 'signin') return '→ sign-in';
  return expected === '2xx' || expected === '3xx' ? `**${expected}**` : expected;
}

/** The matrix as Markdown: who the callers are, then one row per route. */
export function renderAuthorizationMatrix(): string {
  const legend = CALLERS.map((caller) => `- **${HEADINGS[caller]}**: ${CALLER_DESCRIPTIONS[caller]}`);
  const header = `| route | ${CALLERS.map((c) => HEADINGS[c]).join(' | ')} | what the cells aim at |`;
  const rule = `|---|${CALLERS.map(() => '---').join('|')}|---|`;
  const rows = AUTHORIZATION_MATRIX.map(
    (row) => `| \`${row.route}\` | ${CALLERS.map((c) => cell(row.expected[c])).join(' | ')} | ${row.note.replace(/\|/g, '\\|')} |`,
  );
  return [
    MATRIX_START,
    '',
    'Every call aims at customer A (its Smart Account, orders, holding account). The callers:',
    '',
    ...legend,
    '',
    '**2xx** / **3xx**: the call does what it asks (3xx: a page redirect); **2xx** ∅: answered, showing nothing of A; → sign-in: a page redirects to /sign-in (API keys are no sign-in); a number: refused with that status, nothing changed. HEAD is answered as GET.',
    '',
    header,
    rule,
    ...rows,
    '',
    MATRIX_END,
  ].join('\n');
}

/** The document with its matrix section replaced by the table as it is now (the section must exist). */
export function withMatrixSection(doc: string): string {
  const start = doc.indexOf(MATRIX_START);
  const end = doc.indexOf(MATRIX_END);
  if (start < 0 || end < start) throw new Error(`the document has no section between ${MATRIX_START} and ${MATRIX_END}`);
  return doc.slice(0, start) + renderAuthorizationMatrix() + doc.slice(end + MATRIX_END.length);
}
