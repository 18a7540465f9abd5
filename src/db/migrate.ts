import type { Knex } from 'knex';
import { createDb, dropDatabase, ensureDatabase } from './knex';
import * as coreSchema from '../../migrations/20261129_001_core_schema';
import * as apiAccess from '../../migrations/20261129_002_api_access';
import * as outboxWithdrawn from '../../migrations/20261130_003_outbox_withdrawn';
import * as peopleAndLicenseUse from '../../migrations/20261206_004_people_and_license_use';
import * as deviceRequestSignatures from '../../migrations/20261206_010_device_request_signatures';
import * as licenseClock from '../../migrations/20261206_020_license_clock';
import * as accessTokenDetails from '../../migrations/20261206_030_access_token_details';
import * as orderStatusProjection from '../../migrations/20261206_040_order_status_projection';
import * as outboxFailed from '../../migrations/20261206_060_outbox_failed';
import * as usageReportRetention from '../../migrations/20261206_070_usage_report_retention';
import * as orderTransferBatches from '../../migrations/20261206_080_order_transfer_batches';
import * as instancesByContact from '../../migrations/20261206_100_instances_by_contact';
import * as emailResends from '../../migrations/20261207_130_email_resends';
import * as instancesPagePlan from '../../migrations/20261208_210_instances_page_plan';
import * as reportWritesInPlace from '../../migrations/20261208_220_report_writes_in_place';
import * as entitlementsBySku from '../../migrations/20261208_250_entitlements_by_sku';
import * as poolCountersBigint from '../../migrations/20261209_100_pool_counters_bigint';
import * as registrationTokenSlots from '../../migrations/20261209_300_registration_token_slots';
import * as reportSignatureKept from '../../migrations/20261210_100_report_signature_kept';

/**
 * Migrations are listed here rather than discovered on disk, so they run the same under tsx,
 * ts-jest and compiled JavaScript. Append new ones; never edit or reorder a released one.
 */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '20261129_001_core_schema': coreSchema,
  '20261129_002_api_access': apiAccess,
  '20261130_003_outbox_withdrawn': outboxWithdrawn,
  '20261206_004_people_and_license_use': peopleAndLicenseUse,
  '20261206_010_device_request_signatures': deviceRequestSignatures,
  '20261206_020_license_clock': licenseClock,
  '20261206_030_access_token_details': accessTokenDetails,
  '20261206_040_order_status_projection': orderStatusProjection,
  '20261206_060_outbox_failed': outboxFailed,
  '20261206_070_usage_report_retention': usageReportRetention,
  '20261206_080_order_transfer_batches': orderTransferBatches,
  '20261206_100_instances_by_contact': instancesByContact,
  '20261207_130_email_resends': emailResends,
  '20261208_210_instances_page_plan': instancesPagePlan,
  '20261208_220_report_writes_in_place': reportWritesInPlace,
  '20261208_250_entitlements_by_sku': entitlementsBySku,
  '20261209_100_pool_counters_bigint': poolCountersBigint,
  '20261209_300_registration_token_slots': registrationTokenSlots,
  '20261210_100_report_signature_kept': reportSignatureKept,
};

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name],
};

export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

export async function rollbackAll(db: Knex): Promise<string[]> {
  const [, reverted] = (await db.migrate.rollback({ migrationSource }, true)) as [number, string[]];
  return reverted;
}

/**
 * Drops the database at `databaseUrl` if it exists, creates it and migrates it: a clean schema
 * for a test run, a benchmark or a fault run, so leftovers of an earlier run never count.
 */
export async function recreateMigratedDatabase(databaseUrl: string): Promise<void> {
  await dropDatabase(databaseUrl);
  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl, 2);
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
}
