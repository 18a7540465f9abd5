import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { OrderTransferBatch } from '../api-client';
import { apiClient, CliFailure, integerOption, note, printResult, wantsJson, withHints } from '../cli/context';
import { readStdin } from './cli-booking';

/** `orders transfer` and `orders transfer-status`: many held orders to one Smart Account, as a batch. */

export function registerTransferCommands(orders: Command): void {
  orders
    .command('transfer')
    .description(
      'assign many held orders to one customer\'s Smart Account as a durable batch (R6); <file> lists the order IDs (one a line, or a JSON array); "-" reads stdin',
    )
    .argument('<file>')
    .requiredOption('--account <accountId>', "the customer's active Smart Account")
    .option('--virtual-account <path>', 'a virtual account in it, e.g. Region-US/Finance')
    .option('--acting-partner <partnerId>', 'the partner acting (required with an operator key)')
    .option('--request-key <key>', 'the same key names the same batch, so a rerun starts nothing new (default: a new one, printed)')
    .option('--wait', 'follow the batch until it is done (progress on stderr)')
    .option('--poll <seconds>', 'seconds between progress reads with --wait', integerOption('--poll', 1, 3600), 2)
    .action(
      withHints(
        {
          accountId: '--account',
          virtualAccountPath: '--virtual-account',
          actingPartnerId: '--acting-partner',
          requestKey: '--request-key',
        },
        async (file: string, opts: TransferOptions, command: Command) => {
          const orderIds = await readOrderIds(file);
          const requestKey = opts.requestKey ?? randomUUID();
          const client = apiClient();
          let batch = await client.startOrderTransfer({
            requestKey,
            accountId: opts.account,
            orderIds,
            ...(opts.virtualAccount !== undefined ? { virtualAccountPath: opts.virtualAccount } : {}),
            ...(opts.actingPartner !== undefined ? { actingPartnerId: opts.actingPartner } : {}),
          });
          if (!wantsJson(command)) note(`batch ${batch.batchId} (request key ${requestKey}): ${batch.total} orders`);
          while (opts.wait && batch.status !== 'completed') {
            await new Promise((resolve) => setTimeout(resolve, opts.poll * 1000));
            batch = await client.getOrderTransfer(batch.batchId);
            if (!wantsJson(command)) note(progressOf(batch));
          }
          printResult(command, batch, renderTransferBatch);
        },
      ),
    );

  orders
    .command('transfer-status')
    .description('the progress of a batch transfer: succeeded, refused (with reasons), pending')
    .argument('<batchId>')
    .action(
      withHints({}, async (batchId: string, _opts: unknown, command: Command) => {
        printResult(command, await apiClient().getOrderTransfer(batchId), renderTransferBatch);
      }),
    );
}

interface TransferOptions {
  account: string;
  virtualAccount?: string;
  actingPartner?: string;
  requestKey?: string;
  wait?: boolean;
  poll: number;
}

/** Order IDs from a JSON array or one a line (blank lines and # comments skipped). */
async function readOrderIds(file: string): Promise<string[]> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliFailure(`cannot read ${file}: ${(err as Error).message}`);
  }
  const trimmed = text.trim();
  let ids: unknown;
  try {
    ids = trimmed.startsWith('[') ? JSON.parse(trimmed) : trimmed.split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim());
  } catch (err) {
    throw new CliFailure(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw new CliFailure(`${file} must list order IDs`);
  const orderIds = (ids as string[]).filter((id) => id !== '');
  if (orderIds.length === 0) throw new CliFailure(`${file} lists no order ID`);
  return orderIds;
}

function progressOf(b: OrderTransferBatch): string {
  return `${b.status}: ${b.succeeded} succeeded, ${b.refused} refused, ${b.pending} pending of ${b.total}`;
}

export function renderTransferBatch(b: OrderTransferBatch): string {
  const lines = [
    `Batch ${b.batchId} to Smart Account ${b.accountId}${b.virtualAccountPath ? ` (${b.virtualAccountPath})` : ''}: ${progressOf(b)}`,
    ...b.refusals.map((r) => `  refused ${r.orderId}: ${r.reason}`),
  ];
  if (b.status === 'running') lines.push(`Follow it: orders transfer-status ${b.batchId}`);
  return lines.join('\n');
}
