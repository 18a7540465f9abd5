import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { ListOrdersParams } from '../api-client';
import {
  apiClient,
  CliExit,
  CliFailure,
  EXIT_REFUSED,
  integerOption,
  note,
  printResult,
  UsageError,
  wantsJson,
  withHints,
} from '../cli/context';
import { bookAll, progressLine, readBookings, renderBulkSummary, type BookingResult } from './cli-booking';
import { renderOrderList, renderOrderStatus } from './cli-render';
import { registerTransferCommands } from './cli-transfer';

/** `orders ...`: book, follow and act on orders through the HTTP API; one function per command. */

const IDEMPOTENCY_PREFIX = /^[A-Za-z0-9._:-]{1,100}$/;

export function registerOrderCommands(program: Command): void {
  const orders = program.command('orders').description('book orders and follow them (HTTP API: LICENSE_API_URL, LICENSE_API_KEY)');
  registerBookCommand(orders);
  registerGetCommand(orders);
  registerListCommand(orders);
  registerAssignCommand(orders);
  registerShipCommand(orders);
  registerCancelCommand(orders);
  registerResendLinkCommand(orders);
  registerTransferCommands(orders);
}

/** One booking: its order, or a failure naming every field at fault. */
function printSingleBooking(result: BookingResult, command: Command): void {
  if (result.outcome !== 'booked' && result.outcome !== 'alreadyBooked') {
    const error = result.error!;
    throw new CliFailure(
      `booking ${result.externalReference ?? ''} ${result.outcome}: ${error.message}${error.status ? ` [${error.status} ${error.code}]` : ''}`.replace(
        / +/g,
        ' ',
      ),
      error.errors,
    );
  }
  printResult(
    command,
    {
      orderId: result.orderId,
      workflowId: result.workflowId,
      alreadyBooked: result.outcome === 'alreadyBooked',
      ...(result.assignmentRefused ? { assignmentRefused: result.assignmentRefused } : {}),
    },
    (r) =>
      `${r.alreadyBooked ? 'Already booked' : 'Booked'}: order ${r.orderId} (workflow ${r.workflowId})` +
      (r.assignmentRefused
        ? `\nAssignment refused (${r.assignmentRefused.error}): ${r.assignmentRefused.message}\nThe order waits for a valid one: orders assign ${r.orderId} --account <accountId>`
        : ''),
  );
}

function registerBookCommand(orders: Command): void {
  orders
    .command('book')
    .description(
      'book the order in <file> (a JSON booking), or every booking of a JSON array (bulk: progress on stderr, then a summary); "-" reads stdin',
    )
    .argument('<file>', 'JSON file: one booking object or an array of them')
    .option(
      '--idempotency-key-prefix <prefix>',
      'send the n-th booking with Idempotency-Key <prefix>-<n>, so re-running the file books nothing twice',
    )
    .option('--concurrency <n>', 'bookings sent at a time (bulk)', integerOption('--concurrency', 1, 16), 4)
    .action(
      withHints({}, async (file: string, opts: { idempotencyKeyPrefix?: string; concurrency: number }, command: Command) => {
        if (opts.idempotencyKeyPrefix !== undefined && !IDEMPOTENCY_PREFIX.test(opts.idempotencyKeyPrefix)) {
          throw new UsageError('--idempotency-key-prefix must be 1-100 letters, digits, ".", "_", ":" or "-"');
        }
        const { bookings, bulk } = await readBookings(file);
        if (!bulk) {
          const [result] = await bookAll(bookings, opts, () => undefined);
          printSingleBooking(result, command);
          return;
        }
        note(`Booking ${bookings.length} orders from ${file}...`);
        const results = await bookAll(bookings, opts, (result) => note(progressLine(result, bookings.length)));
        printResult(command, results, renderBulkSummary);
        if (results.some((r) => r.outcome !== 'booked' && r.outcome !== 'alreadyBooked')) throw new CliExit(EXIT_REFUSED);
      }),
    );
}

function registerGetCommand(orders: Command): void {
  orders
    .command('get')
    .description("the status of an order: phase, what it waits for, each line (and a classic line's license key)")
    .argument('<orderId>')
    .option('--live', "ask the order's workflow itself (slower) instead of the status Postgres keeps")
    .action(
      withHints({}, async (orderId: string, opts: { live?: boolean }, command: Command) => {
        printResult(command, await apiClient().getOrder(orderId, opts.live ? { live: true } : {}), renderOrderStatus);
      }),
    );
}

interface ListOptions {
  status?: string;
  waitingFor?: string;
  partner?: string;
  domain?: string;
  holdingAccount?: string;
  limit?: number;
  cursor?: string;
  all?: boolean;
}

/** The list's filters as the API takes them; the API checks the values and names the option at fault. */
function listQueryOf(opts: ListOptions): ListOrdersParams {
  return {
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    ...(opts.waitingFor !== undefined ? { waitingFor: opts.waitingFor } : {}),
    ...(opts.partner !== undefined ? { partnerId: opts.partner } : {}),
    ...(opts.domain !== undefined ? { customerDomain: opts.domain } : {}),
    ...(opts.holdingAccount !== undefined ? { holdingAccountId: opts.holdingAccount } : {}),
    ...(opts.limit !== undefined ? { limit: opts.limit } : opts.all ? { limit: 500 } : {}),
  } as ListOrdersParams;
}

async function listOrders(opts: ListOptions, command: Command): Promise<void> {
  const client = apiClient();
  const query = listQueryOf(opts);
  let page = await client.listOrders({ ...query, ...(opts.cursor ? { cursor: opts.cursor } : {}) });
  const found = [...page.orders];
  const showProgress = opts.all && process.stderr.isTTY;
  while (opts.all && page.nextCursor) {
    page = await client.listOrders({ ...query, cursor: page.nextCursor });
    found.push(...page.orders);
    if (showProgress) process.stderr.write(`\r${found.length} orders...`);
  }
  if (showProgress && found.length > page.orders.length) process.stderr.write('\r\x1b[K');
  printResult(command, { orders: found, nextCursor: page.nextCursor }, (r) => renderOrderList(r.orders));
  if (!wantsJson(command) && page.nextCursor) note(`More orders: add --cursor ${page.nextCursor} for the next page, or --all.`);
}

function registerListCommand(orders: Command): void {
  orders
    .command('list')
    .description('orders, newest first')
    .option('--status <phase>', 'Booked, AwaitingSmartAccount, AwaitingActivation, AwaitingShipment, Provisioning, Fulfilled or Cancelled')
    .option(
      '--waiting-for <what>',
      'Booking, Assignment, PartnerTransfer, CustomerChoice, SmartAccountActivation, Shipment, Provisioning or Nothing',
    )
    .option('--partner <partnerId>', 'the selling partner')
    .option('--domain <domain>', "the customer's account domain")
    .option('--holding-account <accountId>', 'orders held in this holding account')
    .option('--limit <n>', 'orders per page (default 50; with --all, the page size)', integerOption('--limit', 1, 500))
    .option('--cursor <cursor>', 'the next page, as a previous page printed it')
    .option('--all', 'every matching order, page after page')
    .action(
      withHints(
        {
          status: '--status',
          waitingFor: '--waiting-for',
          partnerId: '--partner',
          customerDomain: '--domain',
          holdingAccountId: '--holding-account',
          limit: '--limit',
          cursor: '--cursor',
        },
        listOrders,
      ),
    );
}

function registerAssignCommand(orders: Command): void {
  orders
    .command('assign')
    .description("assign the customer's active Smart Account (R6): held licenses move there")
    .argument('<orderId>')
    .requiredOption('--account <accountId>', "the customer's active Smart Account")
    .option('--virtual-account <path>', 'a virtual account in it, e.g. Region-US/Finance')
    .option('--acting-partner <partnerId>', 'the partner acting (an operator or a distributor acting for a reseller)')
    .action(
      withHints(
        { accountId: '--account', virtualAccountPath: '--virtual-account', actingPartnerId: '--acting-partner' },
        async (orderId: string, opts: { account: string; virtualAccount?: string; actingPartner?: string }, command: Command) => {
          const status = await apiClient().assignSmartAccount(orderId, {
            accountId: opts.account,
            ...(opts.virtualAccount !== undefined ? { virtualAccountPath: opts.virtualAccount } : {}),
            ...(opts.actingPartner !== undefined ? { actingPartnerId: opts.actingPartner } : {}),
          });
          printResult(command, status, renderOrderStatus);
        },
      ),
    );
}

function registerShipCommand(orders: Command): void {
  orders
    .command('ship')
    .description('report that a line shipped on a business date (R7): a term starts that day')
    .argument('<orderId>')
    .requiredOption('--line <n>', 'the line number', integerOption('--line', 1, 1_000_000))
    .requiredOption('--date <YYYY-MM-DD>', 'the ship date')
    .action(
      withHints(
        { lineNumber: '--line', shippedOn: '--date' },
        async (orderId: string, opts: { line: number; date: string }, command: Command) => {
          const accepted = await apiClient().reportShipment(orderId, { lineNumber: opts.line, shippedOn: opts.date });
          printResult(command, accepted, (a) => `Shipment of line ${a.lineNumber} on ${a.shippedOn} accepted for order ${a.orderId}.`);
        },
      ),
    );
}

function registerCancelCommand(orders: Command): void {
  orders
    .command('cancel')
    .description('cancel an order before provisioning (R13): its licenses are withdrawn')
    .argument('<orderId>')
    .option('--reason <text>', 'why, for the record')
    .action(
      withHints({ reason: '--reason' }, async (orderId: string, opts: { reason?: string }, command: Command) => {
        const status = await apiClient().cancelOrder(orderId, opts.reason !== undefined ? { reason: opts.reason } : {});
        printResult(command, status, renderOrderStatus);
      }),
    );
}

function registerResendLinkCommand(orders: Command): void {
  orders
    .command('resend-link')
    .description("email the customer a new delegation link; the order's earlier links stop working at once")
    .argument('<orderId>')
    .option('--request-id <id>', 'the same id sends one link (default: a new one each run)')
    .action(
      withHints({ requestId: '--request-id' }, async (orderId: string, opts: { requestId?: string }, command: Command) => {
        const sent = await apiClient().resendDelegationLink(orderId, { requestId: opts.requestId ?? randomUUID() });
        printResult(
          command,
          sent,
          (r) =>
            `A new delegation link for order ${r.orderId} ${r.repeated ? 'was already sent for this request' : 'has been emailed to the customer'}.`,
        );
      }),
    );
}
