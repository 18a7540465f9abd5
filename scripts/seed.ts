/**
 * `npm run seed`: the demo accounts the quick start uses (src/dev/demo-data.ts) in the database of
 * DATABASE_URL: creates the database if missing, applies pending migrations, then seeds. Idempotent:
 * running it again changes nothing. API keys are not made here: `npm run cli -- keys create`.
 */
import { loadConfig, redact } from '../src/config';
import { createDb, ensureDatabase } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrate';
import { DEMO, seedDemoData } from '../src/dev/demo-data';

async function main(): Promise<void> {
  const config = loadConfig();
  const { created } = await ensureDatabase(config.databaseUrl);
  const db = createDb(config.databaseUrl, 2);
  try {
    const applied = await migrateLatest(db);
    await seedDemoData(db);
    console.log(
      `${redact(config.databaseUrl)}: ${created ? 'database created; ' : ''}` +
        (applied.length ? `applied ${applied.join(', ')}; ` : '') +
        `demo data seeded (partner ${DEMO.partnerId}, distributor ${DEMO.distributorId}, ` +
        `holding account ${DEMO.holdingAccountId}, Smart Accounts ${DEMO.smartAccountId} and ${DEMO.pendingSmartAccountId})`,
    );
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
