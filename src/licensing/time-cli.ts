import type { Command } from 'commander';
import { apiClient, printResult, withHints } from '../cli/context';
import { formatKeyValues, formatTable } from '../cli/table';

/**
 * `move ...` (R21), `agreement ...` and `true-ups ...` (R20): the operator's and admin's view of
 * what takes time in license use, through the HTTP API like every other command but `keys`.
 */
export function registerLicenseTimeCommands(program: Command): void {
  registerMoveCommands(program);
  registerRemoveCommands(program);
  registerAgreementCommands(program);
}

type PoolLine = { virtualAccountPath: string; sku: string; purchased: number; authorized: number; overage: number; unserved: number };
const poolRows = (pools: PoolLine[]) =>
  formatTable(
    ['VIRTUAL ACCOUNT', 'SKU', 'PURCHASED', 'AUTHORIZED', 'OVERAGE', 'OUT OF COMPLIANCE'],
    pools.map((p) => [p.virtualAccountPath, p.sku, String(p.purchased), String(p.authorized), String(p.overage), String(p.unserved)]),
  );

function registerMoveCommands(program: Command): void {
  const move = program
    .command('move')
    .description('move licenses or product instances between virtual accounts of one Smart Account (R21)');
  move
    .command('licenses')
    .description('move licenses of one SKU; both pools change at once')
    .argument('<accountId>', 'the Smart Account')
    .requiredOption('--from <path>', 'the virtual account they leave, e.g. Finance')
    .requiredOption('--to <path>', 'the virtual account they join, e.g. Sales')
    .requiredOption('--sku <sku>', 'the license')
    .requiredOption('--quantity <n>', 'how many', (v) => Number(v))
    .option('--allow-shortfall', 'move them even when the source uses them (it is left short)')
    .action(
      withHints(
        {
          fromVirtualAccountPath: '--from',
          toVirtualAccountPath: '--to',
          sku: '--sku',
          quantity: '--quantity',
          allowShortfall: '--allow-shortfall',
        },
        async (
          accountId: string,
          opts: { from: string; to: string; sku: string; quantity: number; allowShortfall?: boolean },
          command: Command,
        ) => {
          const result = await apiClient().moveLicenses(accountId, {
            fromVirtualAccountPath: opts.from,
            toVirtualAccountPath: opts.to,
            sku: opts.sku,
            quantity: opts.quantity,
            ...(opts.allowShortfall ? { allowShortfall: true } : {}),
          });
          printResult(
            command,
            result,
            (r) => `Moved ${r.moved} ${opts.sku}${r.shortfall ? ` (left short by ${r.shortfall})` : ''}.\n${poolRows([r.from, r.to])}`,
          );
        },
      ),
    );
  move
    .command('instance')
    .description('move a product instance and its use; both pools are re-judged at once')
    .argument('<accountId>', 'the Smart Account')
    .argument('<instanceId>', 'the product instance')
    .requiredOption('--to <path>', 'the virtual account it joins')
    .action(
      withHints({ toVirtualAccountPath: '--to' }, async (accountId: string, instanceId: string, opts: { to: string }, command: Command) => {
        const result = await apiClient().moveProductInstance(accountId, instanceId, { toVirtualAccountPath: opts.to });
        printResult(command, result, (r) => `Moved ${r.instanceId} to ${opts.to}.\n${poolRows([...r.from, ...r.to])}`);
      }),
    );
}

function registerRemoveCommands(program: Command): void {
  const remove = program.command('remove').description('remove what a Smart Account no longer uses');
  remove
    .command('instance')
    .description('remove a product instance: its use leaves the pools at once, its credentials stop working, its UDI may register again')
    .argument('<accountId>', 'the Smart Account')
    .argument('<instanceId>', 'the product instance')
    .action(
      withHints({}, async (accountId: string, instanceId: string, _opts: unknown, command: Command) => {
        const result = await apiClient().removeProductInstance(accountId, instanceId);
        printResult(
          command,
          result,
          (r) =>
            `Removed ${r.instanceId} (${r.hostname}, ${r.productId} ${r.serialNumber}) from ${r.virtualAccountPath} at ${r.removedAt}.` +
            (r.pools.length > 0 ? `\n${poolRows(r.pools)}` : ''),
        );
      }),
    );
}

function registerAgreementCommands(program: Command): void {
  const agreement = program.command('agreement').description("a Smart Account's overage agreement (R20)");
  agreement
    .command('show')
    .argument('<accountId>', 'the Smart Account')
    .action(
      withHints({}, async (accountId: string, _opts: unknown, command: Command) => {
        const result = await apiClient().getOverageAgreement(accountId);
        printResult(command, result, (a) =>
          formatKeyValues([
            ['Allowance', a.allowance],
            ['Cadence', a.cadence],
            ['First period starts', a.firstPeriodStartsOn],
            ['Partner of record', a.partnerOfRecord ?? '-'],
          ]),
        );
      }),
    );
  const trueUps = program.command('true-ups').description("a Smart Account's true-ups, one per reconciled period (R20)");
  trueUps
    .command('list')
    .argument('<accountId>', 'the Smart Account')
    .action(
      withHints({}, async (accountId: string, _opts: unknown, command: Command) => {
        const result = await apiClient().listTrueUps(accountId);
        printResult(command, result, (r) =>
          formatTable(
            ['PERIOD', 'ENDS', 'STATUS', 'OVERAGE', 'ORDERS'],
            r.trueUps.map((t) => [
              t.period,
              t.periodEndsOn,
              t.status,
              t.lines.map((l) => `${l.sku}+${l.peak}`).join(', '),
              t.orderIds.join(', '),
            ]),
          ),
        );
      }),
    );
  trueUps
    .command('approve')
    .argument('<accountId>', 'the Smart Account')
    .argument('<period>', "the period's first day, YYYY-MM-DD")
    .action(
      withHints({}, async (accountId: string, period: string, _opts: unknown, command: Command) => {
        const result = await apiClient().approveTrueUp(accountId, period);
        printResult(
          command,
          result,
          (t) => `True-up ${t.period} approved by ${t.approvedBy ?? '-'}: orders ${t.orderIds.join(', ')} ship now.`,
        );
      }),
    );
}
