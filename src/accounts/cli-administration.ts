import { Option, type Command } from 'commander';
import { apiClient, printResult, withHints } from '../cli/context';
import { formatKeyValues } from '../cli/table';

/**
 * `partners ...`, `holding-accounts create`, `users create`: setting up a platform without psql
 * (operator key). Each is idempotent: the same command again changes nothing; other values for
 * an existing one are refused, naming each option that differs.
 */

export function registerAdministrationCommands(program: Command): void {
  registerPartnerCommands(program);
  registerHoldingAccountCommands(program);
  registerUserCommands(program);
}

function registerPartnerCommands(program: Command): void {
  const partners = program.command('partners').description('partners (resellers, direct partners) and distributors (operator)');
  partners
    .command('create')
    .description('create a partner or a distributor')
    .argument('<partnerId>')
    .requiredOption('--name <name>', "the partner's name")
    .addOption(
      new Option('--kind <kind>', 'partner (a reseller or direct partner) or distributor')
        .choices(['partner', 'distributor'])
        .default('partner'),
    )
    .requiredOption('--email <email>', 'where its order notifications go')
    .action(
      withHints(
        { partnerId: '<partnerId>', name: '--name', kind: '--kind', notificationEmail: '--email' },
        async (partnerId: string, opts: { name: string; kind: 'partner' | 'distributor'; email: string }, command: Command) => {
          const partner = await apiClient().createPartner({ partnerId, name: opts.name, kind: opts.kind, notificationEmail: opts.email });
          printResult(command, partner, (p) =>
            formatKeyValues([
              ['Partner', p.partnerId],
              ['Name', p.name],
              ['Kind', p.kind],
              ['Notifications', p.notificationEmail],
            ]),
          );
        },
      ),
    );
  partners
    .command('link-reseller')
    .description('a reseller sells through a distributor (R10, two-tier)')
    .argument('<distributorId>')
    .argument('<resellerId>')
    .action(
      withHints(
        { resellerId: '<resellerId>', partnerId: '<distributorId>' },
        async (distributorId: string, resellerId: string, _opts: unknown, command: Command) => {
          const link = await apiClient().linkReseller(distributorId, { resellerId });
          printResult(command, link, (l) => `${l.resellerId} resells through ${l.distributorId}.`);
        },
      ),
    );
}

function registerHoldingAccountCommands(program: Command): void {
  program
    .command('holding-accounts')
    .description('Partner Holding Accounts (R4); their virtual accounts: accounts virtual-accounts create')
    .command('create')
    .description('create a holding account for a partner or distributor (active at once)')
    .argument('<accountId>')
    .requiredOption('--name <name>', "the account's name")
    .requiredOption('--owner <partnerId>', 'the partner or distributor that owns it')
    .action(
      withHints(
        { accountId: '<accountId>', name: '--name', ownerPartnerId: '--owner' },
        async (accountId: string, opts: { name: string; owner: string }, command: Command) => {
          const account = await apiClient().createHoldingAccount({ accountId, name: opts.name, ownerPartnerId: opts.owner });
          printResult(command, account, (a) => `Holding account ${a.accountId} (${a.name}) of ${a.ownerPartnerId}: ${a.status}.`);
        },
      ),
    );
}

function registerUserCommands(program: Command): void {
  program
    .command('users')
    .description("users; a registered user ID comes only from the user's own verification")
    .command('create')
    .description('create a user by email and full name')
    .argument('<email>')
    .requiredOption('--name <fullName>', "the user's full name")
    .action(
      withHints({ email: '<email>', fullName: '--name' }, async (email: string, opts: { name: string }, command: Command) => {
        const user = await apiClient().createUser({ email, fullName: opts.name });
        printResult(
          command,
          user,
          (u) =>
            `User ${u.userId}: ${u.fullName ?? ''} <${u.email}>${u.registeredId ? ` (${u.registeredId})` : ' (no registered user ID)'}.`,
        );
      }),
    );
}
