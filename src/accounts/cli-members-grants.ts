import { Option, type Command } from 'commander';
import { apiClient, printResult, withHints } from '../cli/context';
import { formatTable } from '../cli/table';

/** `accounts members|grants`: holding-account members (R9) and role grants (R11). */

const ROLE_NAMES = ['sa_admin', 'sa_user', 'va_admin', 'va_user', 'va_viewer'] as const;

export function registerMemberAndGrantCommands(accounts: Command): void {
  registerMemberCommands(accounts);
  registerGrantCommands(accounts);
}

/** `accounts members list|add|remove` */
function registerMemberCommands(accounts: Command): void {
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
}

/** `accounts grants list|add|revoke` */
function registerGrantCommands(accounts: Command): void {
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
