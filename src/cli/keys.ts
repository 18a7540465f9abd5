import { Option, type Command } from 'commander';
import { API_KEY_ROLES, ApiKeyError, createApiKey, revokeApiKey, type ApiKeyRole } from '../api/auth';
import { ConfigError, loadConfig, redact } from '../config';
import type { Db } from '../db/knex';
import { CliFailure, note, printResult, UsageError, withHints } from './context';

/**
 * `keys ...`: how an operator bootstraps. These commands talk to Postgres directly
 * (DATABASE_URL), because the API itself needs a key before anyone can call it.
 */

async function withDb<T>(work: (db: Db) => Promise<T>): Promise<T> {
  let databaseUrl: string;
  try {
    databaseUrl = loadConfig().databaseUrl;
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  // Loaded here, not at the top: the API commands never need knex or pg.
  const { createDb } = await import('../db/knex');
  const db = createDb(databaseUrl, 1);
  try {
    return await work(db);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '3D000' || code === '28P01' || code === '28000') {
      throw new CliFailure(`cannot use Postgres at ${redact(databaseUrl)}: ${(err as Error).message} (set DATABASE_URL)`);
    }
    if (code === '42P01')
      throw new CliFailure(`the database at ${redact(databaseUrl)} has no api_keys table: run the migrations first (npm run migrate)`);
    throw err;
  } finally {
    await db.destroy();
  }
}

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('API keys (Postgres directly: DATABASE_URL); how an operator bootstraps');

  keys
    .command('create')
    .description('create an API key; it is printed once, on stdout, and only its SHA-256 is stored')
    .addOption(new Option('--role <role>', 'what the key may do').choices(API_KEY_ROLES).makeOptionMandatory())
    .option('--partner <partnerId>', 'the partner a partner or distributor key acts for')
    .requiredOption('--label <text>', 'what the key is for, e.g. "ERP integration"')
    .action(
      withHints(
        { partnerId: '--partner', role: '--role', label: '--label' },
        async (opts: { role: ApiKeyRole; partner?: string; label: string }, command: Command) => {
          const created = await withDb(async (db) => {
            try {
              return await createApiKey(db, {
                role: opts.role,
                label: opts.label,
                ...(opts.partner !== undefined ? { partnerId: opts.partner } : {}),
              });
            } catch (err) {
              if (err instanceof ApiKeyError)
                throw new CliFailure('the key was not created', [{ field: err.field, reason: err.message.slice(err.field.length + 2) }]);
              throw err;
            }
          });
          const result = { id: created.id, key: created.key, role: opts.role, partnerId: opts.partner ?? null, label: opts.label };
          // The key alone on stdout, so `KEY=$(license-fulfillment keys create ...)` works; the rest is for the person.
          printResult(command, result, (r) => r.key);
          if (!command.optsWithGlobals().json) {
            note(
              `Created ${opts.role} key ${created.id}${opts.partner ? ` for ${opts.partner}` : ''} ("${opts.label}"). It is shown only this once: store it now.`,
            );
          }
        },
      ),
    );

  keys
    .command('revoke')
    .description('revoke an API key by its ID (as `keys create` printed it): it stops working at once')
    .argument('<id>', 'the key ID')
    .action(
      withHints({}, async (id: string, _opts: unknown, command: Command) => {
        if (!/^[1-9]\d{0,17}$/.test(id)) throw new UsageError(`<id> must be a key ID (a whole number), got "${id}"`);
        const revoked = await withDb((db) => revokeApiKey(db, id));
        if (!revoked) throw new CliFailure(`no live API key with ID ${id} (unknown, or revoked already)`);
        printResult(command, { id, revoked: true }, () => `API key ${id} is revoked.`);
      }),
    );
}
