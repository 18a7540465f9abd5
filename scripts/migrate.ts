/** Creates the database if needed and applies every pending migration: `npm run migrate`. */
import { loadConfig, redact } from '../src/config';
import { createDb, ensureDatabase } from '../src/db/knex';
import { migrateLatest } from '../src/db/migrate';

async function main(): Promise<void> {
  const config = loadConfig();
  const { created } = await ensureDatabase(config.databaseUrl);
  const db = createDb(config.databaseUrl, 2);
  try {
    const applied = await migrateLatest(db);
    console.log(
      `${redact(config.databaseUrl)}: ${created ? 'database created; ' : ''}` +
        (applied.length ? `applied ${applied.join(', ')}` : 'schema up to date'),
    );
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
