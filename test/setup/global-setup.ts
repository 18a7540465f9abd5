/**
 * Starts the real stack once for all integration test files: a Temporal dev server (installed
 * binary, in memory), an SMTP server that stores what it receives, and a fresh, migrated
 * Postgres database. Test files read where they are from the environment set here.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { withDatabase } from '../../src/db/knex';
import { recreateMigratedDatabase } from '../../src/db/migrate';
import { freePort } from '../../src/dev/free-port';
import { startMailCatcher } from '../../src/dev/mail-catcher';
import { startTemporalDevServer } from '../../src/dev/temporal-dev-server';
import { generateSigningKey } from '../../src/licensing/signing';
import { generateEncryptionKey } from '../../src/temporal/payload-codec';
import { writeWorkflowBundle } from '../../src/temporal/workflow-bundle';
import { setStack } from './stack-handle';

const ROOT = resolve(__dirname, '../..');

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  // Per run, so two test runs in one checkout never delete each other's mail or bundle.
  const dataDir = join(ROOT, '.data', `test-${process.pid}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const binary = execFileSync('bash', [join(ROOT, 'scripts/ensure-temporal-cli.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();

  const baseUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const databaseUrl = withDatabase(baseUrl, `license_fulfillment_test_${process.pid}`);

  const [temporal, mail, bundlePath] = await Promise.all([
    freePort().then((port) => startTemporalDevServer({ binary, port, logFile: join(dataDir, 'temporal.log') })),
    // Addresses starting with smtp-550- are refused for good, as an unknown mailbox would be;
    // smtp-451-<n>- ones are deferred (451) n times, then accepted.
    startMailCatcher({ dir: join(dataDir, 'mail'), rejectRecipients: /^smtp-550-/i, deferRecipients: /^smtp-451-(\d+)-/i }),
    writeWorkflowBundle(join(dataDir, 'workflow-bundle.js')),
    recreateMigratedDatabase(databaseUrl),
  ]);

  setStack({ temporal, mail, databaseUrl, dataDir });
  // The test server is a plain local one: a developer's own Temporal profile or TEMPORAL_TLS* / API
  // key variables (src/config-temporal.ts) must not send the tests' clients and workers elsewhere.
  for (const name of Object.keys(process.env)) {
    if (/^TEMPORAL_(API_KEY|PROFILE|TLS|GRPC_META_)/.test(name)) delete process.env[name];
  }
  const noProfiles = join(dataDir, 'temporal-profiles.toml');
  writeFileSync(noProfiles, '# An empty default profile: the tests use the variables below.\n[profile.default]\n');
  Object.assign(process.env, {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_CONFIG_FILE: noProfiles,
    DATABASE_URL: databaseUrl,
    SMTP_URL: `smtp://127.0.0.1:${mail.port}`,
    TEST_MAIL_DIR: mail.dir,
    TEST_WORKFLOW_BUNDLE: bundlePath,
    // Short durations so reminder and escalation paths run in seconds.
    REMINDER_INTERVAL: process.env.REMINDER_INTERVAL ?? '2s',
    ESCALATION_AFTER: process.env.ESCALATION_AFTER ?? '6s',
    // A key of this run only: every test client and worker seals payloads as production does (R14).
    PAYLOAD_ENCRYPTION_KEYS: process.env.PAYLOAD_ENCRYPTION_KEYS ?? generateEncryptionKey(`test-${process.pid}`),
    // The license service's signing key of this run (device credentials and usage answers).
    LICENSE_SIGNING_KEYS: process.env.LICENSE_SIGNING_KEYS ?? generateSigningKey(`test-${process.pid}`),
  });
  process.stderr.write(
    `\n[test stack] Temporal ${temporal.address}, SMTP 127.0.0.1:${mail.port}, ` +
      `database ${databaseUrl.replace(/^.*\//, '')}, ready in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
}
