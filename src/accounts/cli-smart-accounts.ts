import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { apiClient, printResult, withHints } from '../cli/context';
import { formatKeyValues, formatTable } from '../cli/table';

/** `accounts search|request|virtual-accounts|resend-activation-link`: Smart Accounts of a domain (R2), and virtual accounts. */

export function registerSmartAccountCommands(accounts: Command): void {
  registerSearchCommand(accounts);
  registerRequestCommand(accounts);
  registerVirtualAccountCommands(accounts);
  registerResendActivationLinkCommand(accounts);
}

/** `accounts resend-activation-link <accountId>`: the contact gets a new link, the earlier ones die */
function registerResendActivationLinkCommand(accounts: Command): void {
  accounts
    .command('resend-activation-link')
    .description("email the contact a new activation link for a requested Smart Account; the account's earlier links stop working at once")
    .argument('<accountId>')
    .option('--request-id <id>', 'the same id sends one link (default: a new one each run)')
    .action(
      withHints({ requestId: '--request-id' }, async (accountId: string, opts: { requestId?: string }, command: Command) => {
        const sent = await apiClient().resendActivationLink(accountId, { requestId: opts.requestId ?? randomUUID() });
        printResult(
          command,
          sent,
          (r) =>
            `A new activation link for Smart Account ${r.accountId} ${r.repeated ? 'was already sent for this request' : 'has been emailed to its contact'}.`,
        );
      }),
    );
}

/** `accounts search <domain>` */
function registerSearchCommand(accounts: Command): void {
  accounts
    .command('search')
    .description('the Smart Accounts of a domain (R2: does the customer have one already?)')
    .argument('<domain>', 'e.g. acme.com')
    .action(
      withHints({}, async (domain: string, _opts: unknown, command: Command) => {
        const result = await apiClient().searchSmartAccounts(domain);
        printResult(command, result, (r) =>
          r.smartAccounts.length === 0
            ? `No Smart Account for ${domain}.`
            : formatTable(
                ['ACCOUNT ID', 'NAME', 'DOMAIN', 'STATUS', 'VIRTUAL ACCOUNTS'],
                r.smartAccounts.map((a) => [a.accountId, a.name, a.domain, a.status, a.virtualAccounts?.join(', ')]),
              ),
        );
      }),
    );
}

/** `accounts request`: a Smart Account for a customer contact (R2) */
function registerRequestCommand(accounts: Command): void {
  accounts
    .command('request')
    .description("request a Smart Account for a customer contact (R2: the email's domain, and a registered user ID)")
    .requiredOption('--domain <domain>', 'the account domain, e.g. acme.com')
    .requiredOption('--email <email>', "the customer contact's email, of that domain")
    .option('--name <fullName>', "the contact's full name")
    .option('--registered-id <id>', "the contact's registered user ID")
    .option('--partner <partnerId>', 'the requesting partner (required with an operator key)')
    .action(
      withHints(
        {
          domain: '--domain',
          'contact.email': '--email',
          'contact.fullName': '--name',
          'contact.registeredId': '--registered-id',
          requestedByPartnerId: '--partner',
        },
        async (opts: { domain: string; email: string; name?: string; registeredId?: string; partner?: string }, command: Command) => {
          const result = await apiClient().requestSmartAccount({
            domain: opts.domain,
            contact: {
              email: opts.email,
              ...(opts.name !== undefined ? { fullName: opts.name } : {}),
              ...(opts.registeredId !== undefined ? { registeredId: opts.registeredId } : {}),
            },
            ...(opts.partner !== undefined ? { requestedByPartnerId: opts.partner } : {}),
          });
          printResult(command, result, (r) =>
            formatKeyValues([
              ['Smart Account', r.accountId],
              ['Domain', r.domain],
              ['Status', r.status],
              [
                'Result',
                r.alreadyRequested
                  ? 'already requested: nothing new was written or mailed'
                  : 'requested: the contact is emailed an activation link',
              ],
            ]),
          );
        },
      ),
    );
}

/** `accounts virtual-accounts list|create`: also in a holding account, by its owner, its distributor or an operator */
function registerVirtualAccountCommands(accounts: Command): void {
  const virtualAccounts = accounts
    .command('virtual-accounts')
    .description('the virtual accounts (folders) of a Smart Account or holding account');
  virtualAccounts
    .command('list')
    .argument('<accountId>')
    .action(
      withHints({}, async (accountId: string, _opts: unknown, command: Command) => {
        const result = await apiClient().listVirtualAccounts(accountId);
        printResult(command, result, (r) =>
          r.virtualAccounts.length === 0
            ? `${accountId} has no virtual accounts.`
            : formatTable(
                ['PATH', 'NAME', 'PARENT'],
                r.virtualAccounts.map((v) => [v.path, v.name, v.parentPath]),
              ),
        );
      }),
    );
  virtualAccounts
    .command('create')
    .description('create a virtual account, and any missing parents')
    .argument('<accountId>')
    .argument('<path>', 'e.g. Region-US/Finance/Sacramento')
    .action(
      withHints({ path: '<path>' }, async (accountId: string, path: string, _opts: unknown, command: Command) => {
        const result = await apiClient().createVirtualAccount(accountId, { path });
        printResult(command, result, (r) => `${r.created ? 'Created' : 'Already there'}: ${accountId}/${r.path}`);
      }),
    );
}
