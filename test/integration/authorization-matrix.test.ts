/**
 * The whole authorization matrix (issue 18 item 3), as one table: every route the app registers
 * × every kind of caller, with the answer src/security/authorization-matrix.ts says it gets. The
 * table is the documentation (docs/SECURITY.md shows it, rendered from it). A route without a row
 * fails here, and so does a row without a route; every refused call changes nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registeredRoutes } from '../../src/api/route-list';
import { AUTHORIZATION_MATRIX, CALLERS, type MatrixRow } from '../../src/security/authorization-matrix';
import { withMatrixSection } from '../../src/security/authorization-matrix-doc';
import { useTestApi } from '../helpers/api';
import { createMatrixContext, type MatrixContext } from '../helpers/authorization-context';
import { ACCOUNT_REQUESTS, ADMINISTRATION_REQUESTS, LICENSE_REQUESTS, ORDER_REQUESTS } from '../helpers/authorization-requests';
import { CODEC_AND_PUBLIC_REQUESTS, DEVICE_REQUESTS, PAGE_REQUESTS } from '../helpers/authorization-requests-web';
import { cellsOf, matches, observed, prepare, run, type Answer } from '../helpers/authorization-runner';
import { countsOf } from '../helpers/authorization-counts';
import { crossCells, otherTargets } from '../helpers/authorization-cross-targets';
import { listWorkflowIds } from '../helpers/orders';
import { useTestStack } from '../helpers/stack';

jest.setTimeout(240_000);
const stack = useTestStack(__filename, { reminderIntervalMs: 60 * 60_000, escalationAfterMs: 2 * 60 * 60_000 });
const api = useTestApi(stack);

const REQUESTS = {
  ...ORDER_REQUESTS,
  ...ACCOUNT_REQUESTS,
  ...ADMINISTRATION_REQUESTS,
  ...LICENSE_REQUESTS,
  ...PAGE_REQUESTS,
  ...DEVICE_REQUESTS,
  ...CODEC_AND_PUBLIC_REQUESTS,
};
/** Cells in flight at once: enough to keep the run short on two loaded cores, few enough not to crowd the worker. */
const CONCURRENCY = 6;
const SECURITY_DOC = join(__dirname, '..', '..', 'docs', 'SECURITY.md');

let ctx: MatrixContext;

beforeAll(async () => {
  ctx = await createMatrixContext(stack, api);
});

afterAll(async () => {
  // Held and delegated orders would remind for as long as the dev server lives.
  const running = await listWorkflowIds(stack.client, `TaskQueue = "${stack.taskQueue}" AND ExecutionStatus = "Running"`).catch(() => []);
  for (const workflowId of running) {
    await stack.client.workflow
      .getHandle(workflowId)
      .terminate('authorization matrix done')
      .catch(() => undefined);
  }
});

/** Each wrong cell as "route caller: expected X, got Y (body)", so a failure reads as the table does. */
function wrongCells(answers: Answer[]): string[] {
  return answers
    .filter((answer) => !matches(ctx, answer))
    .map((answer) => {
      const { cell, text } = answer;
      return `${cell.row.route} ${cell.caller}: expected ${cell.expected}, got ${observed(ctx, answer)} ${text.slice(0, 160)}`;
    });
}

test('every route the app registers has a row, every row a route, and every row a way to call it', () => {
  const routes = registeredRoutes(api.app);
  expect(AUTHORIZATION_MATRIX.map((r) => r.route).sort()).toEqual(routes);
  expect(Object.keys(REQUESTS).sort()).toEqual(routes);
});

test('docs/SECURITY.md shows the table as it is (npx tsx scripts/render-authorization-matrix.ts writes it)', () => {
  const doc = readFileSync(SECURITY_DOC, 'utf8');
  expect(doc).toBe(withMatrixSection(doc));
});

test('every refused call gets the refusal the table says, and changes nothing', async () => {
  const cells = cellsOf(AUTHORIZATION_MATRIX, 'refused');
  await prepare(ctx, REQUESTS, cells, CONCURRENCY);
  const before = await countsOf(ctx);
  const answers = await run(ctx, cells, CONCURRENCY);
  expect({ wrongCells: wrongCells(answers), counts: await countsOf(ctx) }).toEqual({ wrongCells: [], counts: before });
});

test('every allowed call gets the answer the table says', async () => {
  const cells = cellsOf(AUTHORIZATION_MATRIX, 'allowed');
  await prepare(ctx, REQUESTS, cells, CONCURRENCY);
  expect(wrongCells(await run(ctx, cells, CONCURRENCY))).toEqual([]);
});

test('a caller allowed on a URL gets nothing of another customer or virtual account named inside it, and changes nothing', async () => {
  const cells = crossCells(ctx, await otherTargets(ctx));
  const before = await countsOf(ctx);
  const answers = await run(ctx, cells, CONCURRENCY);
  expect({ wrongCells: wrongCells(answers), counts: await countsOf(ctx) }).toEqual({ wrongCells: [], counts: before });
});

test("a Smart Account search tells any key that A's accounts exist (R2), their virtual accounts only with a role (R11)", async () => {
  const withVirtualAccounts = async (caller: 'partner' | 'saUser' | 'distributor' | 'partnerWithoutRole' | 'otherCustomerUser') => {
    const res = await api.call('GET', `/v1/smart-accounts?domain=${ctx.world.domain}`, { key: ctx.callers[caller].apiKey });
    const found = res.body.smartAccounts.find((a: { accountId: string }) => a.accountId === ctx.world.smartAccountId);
    return found.virtualAccounts !== undefined;
  };
  expect([await withVirtualAccounts('partner'), await withVirtualAccounts('saUser')]).toEqual([true, true]);
  for (const outsider of ['distributor', 'partnerWithoutRole', 'otherCustomerUser'] as const) {
    expect({ outsider, shown: await withVirtualAccounts(outsider) }).toEqual({ outsider, shown: false });
  }
});

// AUTHZ_MATRIX_OBSERVE=<file>: writes what every cell answers, in the table's own format (to review a new route's row).
const observeTo = process.env.AUTHZ_MATRIX_OBSERVE;
(observeTo ? test : test.skip)('observe every cell', async () => {
  const rows: MatrixRow[] = Object.keys(REQUESTS).map(
    (route) =>
      AUTHORIZATION_MATRIX.find((r) => r.route === route) ?? {
        route,
        note: '',
        expected: Object.fromEntries(CALLERS.map((c) => [c, '2xx'])) as MatrixRow['expected'],
      },
  );
  const cells = [...cellsOf(rows, 'refused'), ...cellsOf(rows, 'allowed')];
  await prepare(ctx, REQUESTS, cells, CONCURRENCY);
  const answers = await run(ctx, cells, CONCURRENCY);
  const lines = rows.map((row) => {
    const mine = answers.filter((a) => a.cell.row === row);
    const codes = CALLERS.map((caller) =>
      observed(
        ctx,
        mine.find((a) => a.cell.caller === caller)!,
      ).padEnd(4),
    );
    const bodies = mine.map((a) => `    // ${a.cell.caller} ${a.status} ${a.text.replace(/\s+/g, ' ').slice(0, 140)}`);
    return [`  row('${row.route}', '${codes.join(' ')}', ''),`, ...bodies].join('\n');
  });
  writeFileSync(observeTo!, lines.join('\n') + '\n');
});
