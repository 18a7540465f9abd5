import { rmSync } from 'node:fs';
import { dropDatabase } from '../../src/db/knex';
import { takeStack } from './stack-handle';

/** Stops everything global setup started; the database and the run's .data/test-<pid>/ folder are removed unless KEEP_TEST_DB is set. */
export default async function globalTeardown(): Promise<void> {
  const stack = takeStack();
  if (!stack) return;
  await Promise.allSettled([stack.temporal.stop(), stack.mail.stop()]);
  if (!process.env.KEEP_TEST_DB) {
    await dropDatabase(stack.databaseUrl);
    rmSync(stack.dataDir, { recursive: true, force: true });
  }
}
