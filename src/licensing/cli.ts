import type { Command } from 'commander';
import { apiClient, integerOption, printResult, withHints } from '../cli/context';
import { formatTable } from '../cli/table';
import type { InstanceView } from '../api-client/types';

/**
 * The complete view on the command line (R23): `licenses`, `instances`, `alerts`,
 * `events [--csv]` and `usage` of a Smart Account, each optionally narrowed to a virtual account
 * and its children. What an API key may see (operator, partner or user key) is what it shows.
 */

type ViewOpts = { va?: string };
const narrowed = (opts: ViewOpts) => (opts.va !== undefined ? { virtualAccountPath: opts.va } : {});
const HINTS = { virtualAccountPath: '--va', limit: '--limit', before: '--before', days: '--days' };

function viewCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .argument('<accountId>', 'the Smart Account')
    .option('--va <path>', 'only this virtual account and its children, e.g. Region-US/Finance');
}

export function registerLicenseCommands(program: Command): void {
  registerLicensesCommand(program);
  registerInstancesCommand(program);
  registerAlertsCommand(program);
  registerEventsCommand(program);
  registerUsageCommand(program);
}

function registerLicensesCommand(program: Command): void {
  viewCommand(program, 'licenses', 'licenses per virtual account and SKU: purchased, in use, balance, overage, next expiry').action(
    withHints(HINTS, async (accountId: string, opts: ViewOpts, command: Command) => {
      const result = await apiClient().listLicenses(accountId, narrowed(opts));
      printResult(command, result, (r) =>
        r.licenses.length === 0
          ? `No licenses in ${accountId}.`
          : formatTable(
              ['VIRTUAL ACCOUNT', 'SKU', 'PURCHASED', 'IN USE', 'BALANCE', 'OVERAGE', 'OUT OF COMPLIANCE', 'NEXT EXPIRY'],
              r.licenses.map((l) => [l.virtualAccountPath, l.sku, l.purchased, l.inUse, l.balance, l.overage, l.unserved, l.nextExpiryOn]),
            ),
      );
    }),
  );
}

function registerInstancesCommand(program: Command): void {
  viewCommand(program, 'instances', 'product instances: state, last contact, use per SKU')
    .option('--include-removed', 'also instances removed after a year of silence')
    .option('--limit <n>', 'instances per page (default 100)', integerOption('--limit', 1, 1000))
    .option('--after <cursor>', 'the next page: the cursor the previous page printed')
    .action(
      withHints(HINTS, async (accountId: string, opts: InstancesOpts, command: Command) => {
        const result = await apiClient().listInstances(accountId, {
          ...narrowed(opts),
          ...(opts.includeRemoved ? { includeRemoved: true } : {}),
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
          ...(opts.after ? { after: opts.after } : {}),
        });
        printResult(command, result, (r) =>
          r.instances.length === 0
            ? `No product instances in ${accountId}.`
            : instancesTable(r) + (r.nextCursor ? `\nMore: add --after ${r.nextCursor}` : ''),
        );
      }),
    );
}

type InstancesOpts = ViewOpts & { includeRemoved?: boolean; limit?: number; after?: string };

function instancesTable(r: InstanceView): string {
  return formatTable(
    ['INSTANCE', 'VIRTUAL ACCOUNT', 'HOSTNAME', 'STATE', 'LAST CONTACT', 'USE'],
    r.instances.map((i) => [
      i.instanceId,
      i.virtualAccountPath,
      i.hostname,
      i.state,
      i.lastContactAt,
      i.uses.map((u) => `${u.sku}:${u.count} ${u.state}`).join(', '),
    ]),
  );
}

function registerAlertsCommand(program: Command): void {
  viewCommand(program, 'alerts', 'alerts, newest first').action(
    withHints(HINTS, async (accountId: string, opts: ViewOpts, command: Command) => {
      const result = await apiClient().listAlerts(accountId, narrowed(opts));
      printResult(command, result, (r) =>
        r.alerts.length === 0
          ? `No alerts in ${accountId}.`
          : formatTable(
              ['DAY', 'KIND', 'VIRTUAL ACCOUNT', 'MESSAGE'],
              r.alerts.map((a) => [a.day, a.kind, a.virtualAccountPath, a.message]),
            ),
      );
    }),
  );
}

function registerEventsCommand(program: Command): void {
  viewCommand(program, 'events', 'the event log, newest first; --csv prints the CSV export')
    .option('--csv', 'print the event log as CSV (formula-safe)')
    .option('--limit <n>', 'events per page (1-1000)', integerOption('--limit', 1, 1000))
    .option('--before <eventId>', 'only events older than this one')
    .action(
      withHints(HINTS, async (accountId: string, opts: ViewOpts & { csv?: boolean; limit?: number; before?: string }, command: Command) => {
        if (opts.csv) {
          process.stdout.write(await apiClient().exportEvents(accountId, narrowed(opts)));
          return;
        }
        const result = await apiClient().listEvents(accountId, {
          ...narrowed(opts),
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
          ...(opts.before !== undefined ? { before: opts.before } : {}),
        });
        printResult(command, result, (r) =>
          r.events.length === 0
            ? `No events in ${accountId}.`
            : formatTable(
                ['EVENT ID', 'AT', 'VIRTUAL ACCOUNT', 'TYPE', 'SUBJECT', 'ACTOR'],
                r.events.map((e) => [e.eventId, e.at, e.virtualAccountPath, e.type, e.subject, e.actor]),
              ),
        );
      }),
    );
}

function registerUsageCommand(program: Command): void {
  viewCommand(program, 'usage', 'use against purchase per day (the chart data)')
    .option('--days <n>', 'how many days back (1-1100, default 90)', integerOption('--days', 1, 1100))
    .action(
      withHints(HINTS, async (accountId: string, opts: ViewOpts & { days?: number }, command: Command) => {
        const result = await apiClient().getDailyUse(accountId, {
          ...narrowed(opts),
          ...(opts.days !== undefined ? { days: opts.days } : {}),
        });
        printResult(command, result, (r) =>
          formatTable(
            ['VIRTUAL ACCOUNT', 'SKU', 'DAY', 'PURCHASED', 'IN USE'],
            r.series.flatMap((s) => s.points.map((p) => [s.virtualAccountPath, s.sku, p.day, p.purchased, p.inUse])),
          ),
        );
      }),
    );
}
