import type { Command } from 'commander';
import { registerMemberAndGrantCommands } from './cli-members-grants';
import { registerSmartAccountCommands } from './cli-smart-accounts';

/** `accounts ...`: Smart Account search and requests, virtual accounts, holding-account members, role grants. */

export function registerAccountCommands(program: Command): void {
  const accounts = program
    .command('accounts')
    .description('Smart Accounts, virtual accounts, holding-account members and role grants (HTTP API)');
  registerSmartAccountCommands(accounts);
  registerMemberAndGrantCommands(accounts);
}
