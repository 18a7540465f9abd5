import type { Command } from 'commander';
import type { RegistrationToken } from '../api-client';
import { apiClient, integerOption, note, printResult, withHints } from '../cli/context';
import { formatKeyValues, formatTable } from '../cli/table';

/** `tokens ...`: registration tokens of a Smart Account's virtual accounts (R15), through the HTTP API. */

function tokenRows(tokens: RegistrationToken[]): string {
  return formatTable(
    ['TOKEN ID', 'VIRTUAL ACCOUNT', 'STATUS', 'USES', 'MAX', 'EXPIRES AT', 'EXPORT', 'DESCRIPTION'],
    tokens.map((t) => [t.tokenId, t.virtualAccountPath, t.status, t.uses, t.maxUses, t.expiresAt, t.exportControlled, t.description]),
  );
}

export function registerTokenCommands(program: Command): void {
  const tokens = program.command('tokens').description('registration tokens that product instances register with (R15; HTTP API)');

  tokens
    .command('create')
    .description('create a token in a virtual account; it is printed once, on stdout, and stored only as its SHA-256')
    .argument('<accountId>', 'the Smart Account')
    .requiredOption('--va <path>', 'the virtual account, e.g. Finance')
    .requiredOption('--days <n>', 'days until it expires (1-365)', integerOption('--days', 1, 365))
    .requiredOption('--max-uses <n>', 'how many instances may register with it', integerOption('--max-uses', 1, 1_000_000))
    .option('--description <text>', 'what it is for')
    .option('--export-controlled', 'may register export-controlled functionality', false)
    .action(
      withHints(
        { virtualAccountPath: '--va', expiresInDays: '--days', maxUses: '--max-uses', description: '--description' },
        async (
          accountId: string,
          opts: { va: string; days: number; maxUses: number; description?: string; exportControlled: boolean },
          command: Command,
        ) => {
          const created = await apiClient().createRegistrationToken(accountId, {
            virtualAccountPath: opts.va,
            expiresInDays: opts.days,
            maxUses: opts.maxUses,
            exportControlled: opts.exportControlled,
            ...(opts.description !== undefined ? { description: opts.description } : {}),
          });
          printResult(command, created, (t) => {
            note(
              formatKeyValues([
                ['Token ID', t.tokenId],
                ['Virtual account', t.virtualAccountPath],
                ['Max uses', t.maxUses],
                ['Expires at', t.expiresAt],
              ]) + '\nThe token is shown only this once:',
            );
            return t.token;
          });
        },
      ),
    );

  tokens
    .command('list')
    .description('the tokens you may use (never the tokens themselves)')
    .argument('<accountId>', 'the Smart Account')
    .option('--va <path>', 'only this virtual account')
    .action(
      withHints({ virtualAccountPath: '--va' }, async (accountId: string, opts: { va?: string }, command: Command) => {
        const result = await apiClient().listRegistrationTokens(accountId, opts.va !== undefined ? { virtualAccountPath: opts.va } : {});
        printResult(command, result, (r) => (r.tokens.length === 0 ? `No registration tokens in ${accountId}.` : tokenRows(r.tokens)));
      }),
    );

  tokens
    .command('revoke')
    .description('revoke a token: what it registered stays registered, nothing new registers with it')
    .argument('<accountId>', 'the Smart Account')
    .argument('<tokenId>')
    .action(
      withHints({}, async (accountId: string, tokenId: string, _opts: unknown, command: Command) => {
        const revoked = await apiClient().revokeRegistrationToken(accountId, tokenId);
        printResult(command, revoked, (t) => `Token ${t.tokenId} (${t.virtualAccountPath}) is ${t.status}, since ${t.revokedAt}.`);
      }),
    );
}
