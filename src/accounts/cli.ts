import { Option, type Command } from 'commander';
import { apiClient, printResult, withHints } from '../cli/context';
import { formatKeyValues, formatTable } from '../cli/table';

/** `accounts ...`: Smart Account search and requests, virtual accounts, holding-account members, role grants. */

const ROLE_NAMES = ['sa_admin', 'sa_user', 'va_admin', 'va_user', 'va_viewer'] as const;

export function registerAccountCommands(program: Command): void {
  const accounts = program
    .command('accounts')
    .description('Smart Accounts, virtual accounts, holding-account members and role grants (HTTP API)');

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

  const members = accounts.command('members').description('members of a holding account, told when its orders are fulfilled (R9)');
  members
    .command('list')
    .argument('<holdingAccountId>')
    .action(
      withHints({}, async (accountId: string, _opts: unknown, command: Command) => {
        const result = await apiClient().listHoldingAccountMembers(accountId);
        printResult(command, result, (r) =>
          r.members.length === 0
            ? `${accountId} has no members.`
            : formatTable(
                ['EMAIL', 'NAME', 'SUBSCRIBED AT'],
                r.members.map((m) => [m.email, m.fullName, m.subscribedAt]),
              ),
        );
      }),
    );
  members
    .command('add')
    .argument('<holdingAccountId>')
    .argument('<email>')
    .option('--name <fullName>', "the member's full name")
    .action(
      withHints(
        { email: '<email>', fullName: '--name' },
        async (accountId: string, email: string, opts: { name?: string }, command: Command) => {
          const member = await apiClient().addHoldingAccountMember(accountId, {
            email,
            ...(opts.name !== undefined ? { fullName: opts.name } : {}),
          });
          printResult(command, member, (m) => `${m.email} is a member of ${accountId} (since ${m.subscribedAt}).`);
        },
      ),
    );
  members
    .command('remove')
    .argument('<holdingAccountId>')
    .argument('<email>')
    .action(
      withHints({ email: '<email>' }, async (accountId: string, email: string, _opts: unknown, command: Command) => {
        await apiClient().removeHoldingAccountMember(accountId, email);
        printResult(command, { accountId, email, removed: true }, () => `${email} is no longer a member of ${accountId}.`);
      }),
    );

  const grants = accounts
    .command('grants')
    .description('roles partners and users hold on a Smart Account (R11, R24); add and revoke need sa_admin or va_admin on the scope');
  grants
    .command('list')
    .argument('<accountId>')
    .action(
      withHints({}, async (accountId: string, _opts: unknown, command: Command) => {
        const result = await apiClient().listRoleGrants(accountId);
        printResult(command, result, (r) =>
          r.roleGrants.length === 0
            ? `No role grants on ${accountId}.`
            : formatTable(
                ['GRANT ID', 'GRANTEE', 'ROLE', 'VIRTUAL ACCOUNT', 'GRANTED AT'],
                r.roleGrants.map((g) => [g.grantId, g.partnerId ?? `user ${g.userId}`, g.role, g.virtualAccountPath, g.grantedAt]),
              ),
        );
      }),
    );
  grants
    .command('add')
    .argument('<accountId>')
    .option('--partner <partnerId>', 'the partner receiving the role')
    .option('--user <registeredId>', 'the user receiving the role (their registered user ID)')
    .addOption(
      new Option('--role <role>', 'sa_* covers the whole account; va_* one virtual account').choices(ROLE_NAMES).makeOptionMandatory(),
    )
    .option('--virtual-account <path>', 'the virtual account a va_* role covers')
    .action(
      withHints(
        { partnerId: '--partner', userId: '--user', role: '--role', virtualAccountPath: '--virtual-account' },
        async (
          accountId: string,
          opts: { partner?: string; user?: string; role: (typeof ROLE_NAMES)[number]; virtualAccount?: string },
          command: Command,
        ) => {
          const grant = await apiClient().grantRole(accountId, {
            ...(opts.partner !== undefined ? { partnerId: opts.partner } : {}),
            ...(opts.user !== undefined ? { userId: opts.user } : {}),
            role: opts.role,
            ...(opts.virtualAccount !== undefined ? { virtualAccountPath: opts.virtualAccount } : {}),
          });
          printResult(
            command,
            grant,
            (g) =>
              `Grant ${g.grantId}: ${g.partnerId ?? `user ${g.userId}`} is ${g.role} on ${accountId}${g.virtualAccountPath ? `/${g.virtualAccountPath}` : ''} (since ${g.grantedAt}).`,
          );
        },
      ),
    );
  grants
    .command('revoke')
    .argument('<accountId>')
    .argument('<grantId>')
    .action(
      withHints({ grantId: '<grantId>' }, async (accountId: string, grantId: string, _opts: unknown, command: Command) => {
        await apiClient().revokeRole(accountId, grantId);
        printResult(command, { accountId, grantId, revoked: true }, () => `Grant ${grantId} on ${accountId} is revoked.`);
      }),
    );
}
