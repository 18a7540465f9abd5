/**
 * Screenshots of the pages people sign in to (R23, R24) for docs/screens/license-*.png:
 *
 *   node --import tsx scripts/screenshot-license-pages.ts [--out-dir docs/screens]
 *
 * Self-contained: it migrates a scratch database (license_screens on DATABASE_URL's server),
 * seeds one Smart Account with nested virtual accounts the way the U8 test does
 * (test/helpers/license-view-fixtures.ts) plus a month of chart points, serves the real API on a
 * free port (Temporal is never dialled), opens a session for the account's admin and photographs
 * each page in Debian's Chromium with JavaScript off. The scratch database is dropped at the end.
 */
import { join, relative, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { buildApi } from '../src/api/server';
import { loadConfig } from '../src/config';
import { createDb, dropDatabase, withDatabase } from '../src/db/knex';
import { recreateMigratedDatabase } from '../src/db/migrate';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../src/dev/chromium';
import { freePort } from '../src/dev/free-port';
import { createLogger } from '../src/logging';
import { temporalConnectionOptions } from '../src/temporal/connect';
import { openSession, SESSION_COOKIE } from '../src/web/session';
import { createTestWorld } from '../test/helpers/fixtures';
import { grantTo, seedLicenseUse, vaId, verifiedUser } from '../test/helpers/license-view-fixtures';

const ROOT = resolve(__dirname, '..');
const VIEWPORT = { width: 1200, height: 820 };

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const outDir = resolve(option('--out-dir') ?? join(ROOT, 'docs/screens'));
  const base = loadConfig();
  const databaseUrl = withDatabase(base.databaseUrl, 'license_screens');
  await recreateMigratedDatabase(databaseUrl);
  const db = createDb(databaseUrl, 4);
  const connection = Connection.lazy(temporalConnectionOptions(base.temporal));
  const port = await freePort();
  const config = { ...base, databaseUrl, publicBaseUrl: `http://127.0.0.1:${port}` };
  const app = await buildApi({ db, client: new Client({ connection }), config, logger: createLogger('screens', 'ERROR') });
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const world = await createTestWorld(db, 'demo');
    await db('accounts').where({ id: world.smartAccountId }).update({ name: 'Acme Corporation' });
    await seedLicenseUse(db, world);
    // A month of the Finance pool, for a chart with a shape.
    const finance = await vaId(db, world.smartAccountId, 'Region-US/Finance');
    for (let d = 30; d >= 5; d--) {
      await db.raw(
        `INSERT INTO pool_daily_use (virtual_account_id, sku, day, purchased, in_use) VALUES (?, 'C9300-DNA-E-3Y', current_date - ?::int, ?, ?)`,
        [finance, d, d > 12 ? 3 : 5, Math.min(7, Math.round((30 - d) / 4) + 1)],
      );
    }
    const admin = await verifiedUser(db, world, 'ada');
    const viewer = await verifiedUser(db, world, 'vic');
    await grantTo(db, world.smartAccountId, admin, 'sa_admin');
    await grantTo(db, world.smartAccountId, viewer, 'va_viewer', 'Region-US');
    const session = await openSession(db, admin.userId, 60 * 60_000);
    await app.listen({ host: '127.0.0.1', port });

    const context = await browser.newContext({ javaScriptEnabled: false, viewport: VIEWPORT, colorScheme: 'light' });
    const page = await context.newPage();
    await page.goto(`${config.publicBaseUrl}/sign-in`);
    await page.screenshot({ path: join(outDir, 'license-sign-in.png') });
    await context.addCookies([{ name: SESSION_COOKIE, value: session.value, url: config.publicBaseUrl }]);
    const account = `${config.publicBaseUrl}/accounts/${world.smartAccountId}`;
    const shots: Array<[string, string]> = [
      ['license-overview.png', account],
      ['license-virtual-account.png', `${account}/va?path=${encodeURIComponent('Region-US/Finance')}`],
      ['license-people.png', `${account}/people`],
      ['license-events.png', `${account}/events`],
    ];
    for (const [file, url] of shots) {
      await page.goto(url);
      await page.screenshot({ path: join(outDir, file), fullPage: true });
      process.stdout.write(`${relative(process.cwd(), join(outDir, file))}: ${url}\n`);
    }
  } finally {
    await browser.close();
    await app.close();
    await db.destroy();
    await connection.close();
    await dropDatabase(databaseUrl);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
