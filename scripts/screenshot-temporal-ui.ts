/**
 * Screenshot of the Temporal UI's workflow list with the orders `npm start` booked, for the
 * README's "Operators' view" (docs/temporal-ui-orders.png). Run it while the stack runs:
 *
 *   npm start                                   # in one terminal
 *   node --import tsx scripts/screenshot-temporal-ui.ts [--query '<visibility query>'] [--out file.png]
 *
 * Uses Debian's Chromium (/usr/bin/chromium) through playwright-core, with a throw-away profile,
 * so nothing is downloaded and no earlier UI settings leak into the picture. The list shows the
 * order search attributes as columns (the UI keeps its column choice in localStorage, which the
 * fresh profile gets before the page loads).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Client } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { loadConfig } from '../src/config';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../src/dev/chromium';
import { connectTemporal } from '../src/temporal/connect';

const ROOT = resolve(__dirname, '..');
const VIEWPORT = { width: 1440, height: 900 };

/**
 * The list's columns: the UI's two pinned ones, then the order search attributes operators filter
 * by most. As many as fit 1440 px without a cut-off column; the UI's column settings (the gear
 * below the table) add HoldingAccountId, CustomerDomain, Start, ...
 */
const COLUMNS = [
  { label: 'Status', pinned: true },
  { label: 'Workflow ID', pinned: true },
  { label: 'ExternalReference', pinned: false },
  { label: 'OrderStatus', pinned: false },
  { label: 'WaitingFor', pinned: false },
  { label: 'PartnerId', pinned: false },
];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The IDs of the newest order workflows: what the page must show before the picture is taken. */
async function newestOrders(config: ReturnType<typeof loadConfig>, query: string): Promise<string[]> {
  const connection = await connectTemporal(config.temporal, { connectTimeout: 5_000 });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const ids: string[] = [];
    for await (const execution of client.workflow.list({ query, pageSize: 2 })) {
      ids.push(execution.workflowId);
      if (ids.length === 2) break;
    }
    return ids;
  } finally {
    await connection.close();
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const query = option('--query');
  const out = resolve(option('--out') ?? join(ROOT, 'docs/temporal-ui-orders.png'));
  const expected = await newestOrders(config, query ?? 'WorkflowType = "orderFulfillment"').catch((err: Error) => {
    throw new Error(`cannot list orders on Temporal at ${config.temporal.address} (${err.message}); start the stack first: npm start`);
  });
  if (expected.length === 0) throw new Error('no order workflows found; run `npm start` first, it books the demo orders');

  const namespace = config.temporal.namespace;
  const url = `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows${query ? `?query=${encodeURIComponent(query)}` : ''}`;
  const profile = mkdtempSync(join(tmpdir(), 'temporal-ui-screenshot-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: VIEWPORT,
    colorScheme: 'light',
  });
  try {
    // Runs in the page before the UI's own code (a string: this project compiles without DOM types).
    const settings: Record<string, string> = { 'namespace-workflow-table-columns': JSON.stringify({ [namespace]: COLUMNS }) };
    await context.addInitScript({
      content: Object.entries(settings)
        .map(
          ([key, value]) =>
            `if (!localStorage.getItem(${JSON.stringify(key)})) localStorage.setItem(${JSON.stringify(key)}, ${JSON.stringify(value)});`,
        )
        .join('\n'),
    });
    const page = context.pages()[0] ?? (await context.newPage());
    // The list comes from the visibility store, which may lag a fresh booking by a moment: reload until it shows.
    const deadline = Date.now() + 60_000;
    for (;;) {
      await page.goto(url, { waitUntil: 'networkidle', timeout: 30_000 });
      const shown = await Promise.all(expected.map((id) => page.getByText(id, { exact: true }).first().isVisible()));
      if (shown.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error(`the UI at ${url} did not list ${expected.join(', ')} within 60 s`);
      await page.waitForTimeout(1_000);
    }
    // The saved-views panel would push the search-attribute columns off the right edge.
    const collapse = page.getByRole('button', { name: 'Collapse saved views' });
    if (await collapse.isVisible()) {
      await collapse.click();
      await page.waitForTimeout(600); // its 300 ms slide
    }
    await page.screenshot({ path: out });
    process.stdout.write(
      `${relative(process.cwd(), out) || out}: ${url} (${VIEWPORT.width}x${VIEWPORT.height}), showing ${expected.join(', ')}\n`,
    );
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
