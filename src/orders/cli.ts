import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  ApiError,
  type BookedOrder,
  type BookOrderRequest,
  type ListOrdersParams,
  type OrderListItem,
  type OrderStatus,
} from '../api-client';
import {
  apiClient,
  CliExit,
  CliFailure,
  describeFailure,
  EXIT_REFUSED,
  integerOption,
  note,
  printResult,
  UsageError,
  wantsJson,
  withHints,
} from '../cli/context';
import { formatKeyValues, formatTable } from '../cli/table';

/** `orders ...`: book, follow and act on orders through the HTTP API. */

const IDEMPOTENCY_PREFIX = /^[A-Za-z0-9._:-]{1,100}$/;

export function renderOrderStatus(status: OrderStatus): string {
  const header = formatKeyValues([
    ['Order', status.orderId],
    ['Reference', status.externalReference],
    [
      'Partner',
      status.partnerId === status.bookedByPartnerId ? status.partnerId : `${status.partnerId} (booked by ${status.bookedByPartnerId})`,
    ],
    ['Phase', status.phase],
    ['Waiting for', status.waitingFor],
    ['Next action', status.pendingAction],
    ['Assignment', (status.assignment as { kind?: string }).kind],
    ['Customer account', status.customerAccountId],
    ['Holding account', status.holdingAccountId],
  ]);
  const lines = formatTable(
    ['LINE', 'SKU', 'QTY', 'TYPE', 'TERM', 'STATE', 'ACCOUNT', 'VIRTUAL ACCOUNT', 'SHIPPED', 'SUBSCRIPTION'],
    status.lines.map((l) => [
      l.lineNumber,
      l.sku,
      l.quantity,
      l.licenseType,
      l.termMonths ? `${l.termMonths} months` : 'perpetual',
      l.state,
      l.accountId,
      l.virtualAccountPath,
      l.shippedOn,
      l.subscription ? `${l.subscription.startsOn} to ${l.subscription.endsOn}` : undefined,
    ]),
  );
  return `${header}\n\n${lines}\n\nEmails sent: ${status.emailsSent.length > 0 ? status.emailsSent.join(', ') : 'none'}`;
}

function renderOrderList(orders: OrderListItem[]): string {
  if (orders.length === 0) return 'No orders match.';
  return formatTable(
    ['ORDER ID', 'REFERENCE', 'PARTNER', 'STATUS', 'WAITING FOR', 'ASSIGNMENT', 'ACCOUNT', 'HOLDING ACCOUNT', 'BOOKED AT'],
    orders.map((o) => [
      o.orderId,
      o.externalReference,
      o.partnerId,
      o.status,
      o.waitingFor,
      o.assignmentKind,
      o.accountId,
      o.holdingAccountId,
      o.bookedAt,
    ]),
  );
}

// ---------------------------------------------------------------- book

type BookingOutcome = 'booked' | 'alreadyBooked' | 'refused' | 'failed' | 'notSent';

interface BookingResult {
  /** 1-based position in the file. */
  index: number;
  externalReference: string | null;
  outcome: BookingOutcome;
  idempotencyKey?: string;
  orderId?: string;
  workflowId?: string;
  error?: { status?: number; code: string; message: string; errors?: Array<{ field: string; reason: string }> };
}

async function readBookings(file: string): Promise<{ bookings: unknown[]; bulk: boolean }> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliFailure(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliFailure(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw new CliFailure(`${file} holds an empty array: nothing to book`);
    return { bookings: parsed, bulk: true };
  }
  if (typeof parsed === 'object' && parsed !== null) return { bookings: [parsed], bulk: false };
  throw new CliFailure(`${file} must hold one booking (a JSON object) or an array of bookings`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function referenceOf(booking: unknown): string | null {
  const ref = (booking as { externalReference?: unknown } | null)?.externalReference;
  return typeof ref === 'string' ? ref : null;
}

function errorOf(err: unknown): NonNullable<BookingResult['error']> {
  if (err instanceof ApiError) {
    return { status: err.status, code: err.code, message: err.message, ...(err.fieldErrors.length > 0 ? { errors: err.fieldErrors } : {}) };
  }
  return { code: 'NotSent', message: describeFailure(err).replace(/^error: /, '') };
}

function outcomeLabel(result: BookingResult): string {
  switch (result.outcome) {
    case 'booked':
      return 'booked';
    case 'alreadyBooked':
      return 'already booked';
    case 'refused':
      return 'refused';
    case 'failed':
      return 'failed';
    case 'notSent':
      return 'not sent';
  }
}

function progressLine(result: BookingResult, total: number): string {
  const position = `[${String(result.index).padStart(String(total).length)}/${total}]`;
  const ref = result.externalReference ?? '(no externalReference)';
  if (result.orderId) return `${position} ${ref}: ${outcomeLabel(result)}, order ${result.orderId}`;
  const fields = (result.error?.errors ?? []).map((e) => `\n${' '.repeat(position.length + 1)}  ${e.field}: ${e.reason}`).join('');
  return `${position} ${ref}: ${outcomeLabel(result)}: ${result.error?.message ?? ''}${result.error?.status ? ` [${result.error.status} ${result.error.code}]` : ''}${fields}`;
}

/**
 * Books every booking of the file, a few at a time. A refusal (4xx) is recorded and the rest go
 * on; a failure to reach the API or a server error stops sending, since the next one would fail
 * the same way. With an Idempotency-Key prefix, the n-th booking is sent with key <prefix>-<n>,
 * so re-running the same file after an interruption books nothing twice.
 */
async function bookAll(
  bookings: unknown[],
  options: { idempotencyKeyPrefix?: string; concurrency: number },
  onResult: (result: BookingResult) => void,
): Promise<BookingResult[]> {
  const client = apiClient();
  const results: BookingResult[] = bookings.map((booking, i) => ({
    index: i + 1,
    externalReference: referenceOf(booking),
    outcome: 'notSent' as const,
    ...(options.idempotencyKeyPrefix ? { idempotencyKey: `${options.idempotencyKeyPrefix}-${i + 1}` } : {}),
  }));
  let next = 0;
  let stopped = false;
  const work = async () => {
    while (!stopped && next < bookings.length) {
      const i = next++;
      const result = results[i];
      try {
        // The file is sent as written: the API validates it and names every field at fault.
        const booked: BookedOrder = await client.bookOrder(
          bookings[i] as BookOrderRequest,
          result.idempotencyKey ? { idempotencyKey: result.idempotencyKey } : {},
        );
        Object.assign(result, {
          outcome: booked.alreadyBooked ? 'alreadyBooked' : 'booked',
          orderId: booked.orderId,
          workflowId: booked.workflowId,
        });
      } catch (err) {
        const refused = err instanceof ApiError && err.status < 500;
        Object.assign(result, { outcome: refused ? 'refused' : 'failed', error: errorOf(err) });
        if (!refused) stopped = true;
      }
      onResult(result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, bookings.length) }, work));
  for (const result of results)
    if (result.outcome === 'notSent') result.error = { code: 'NotSent', message: 'not sent: an earlier booking failed' };
  return results;
}

function renderBulkSummary(results: BookingResult[]): string {
  const count = (outcome: BookingOutcome) => results.filter((r) => r.outcome === outcome).length;
  const table = formatTable(
    ['#', 'REFERENCE', 'RESULT', 'ORDER ID', 'DETAIL'],
    results.map((r) => [
      r.index,
      r.externalReference,
      outcomeLabel(r),
      r.orderId,
      r.error ? `${r.error.message}${r.error.status ? ` [${r.error.status} ${r.error.code}]` : ''}` : undefined,
    ]),
  );
  const parts = [`${count('booked')} booked`, `${count('alreadyBooked')} already booked`, `${count('refused')} refused`];
  if (count('failed') > 0) parts.push(`${count('failed')} failed`);
  if (count('notSent') > 0) parts.push(`${count('notSent')} not sent`);
  return `${table}\n\n${results.length} bookings: ${parts.join(', ')}`;
}

// ---------------------------------------------------------------- commands

export function registerOrderCommands(program: Command): void {
  const orders = program.command('orders').description('book orders and follow them (HTTP API: LICENSE_API_URL, LICENSE_API_KEY)');

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
            { orderId: result.orderId, workflowId: result.workflowId, alreadyBooked: result.outcome === 'alreadyBooked' },
            (r) => `${r.alreadyBooked ? 'Already booked' : 'Booked'}: order ${r.orderId} (workflow ${r.workflowId})`,
          );
          return;
        }
        note(`Booking ${bookings.length} orders from ${file}...`);
        const results = await bookAll(bookings, opts, (result) => note(progressLine(result, bookings.length)));
        printResult(command, results, renderBulkSummary);
        if (results.some((r) => r.outcome !== 'booked' && r.outcome !== 'alreadyBooked')) throw new CliExit(EXIT_REFUSED);
      }),
    );

  orders
    .command('get')
    .description('the live status of an order: phase, what it waits for, each line')
    .argument('<orderId>')
    .action(
      withHints({}, async (orderId: string, _opts: unknown, command: Command) => {
        printResult(command, await apiClient().getOrder(orderId), renderOrderStatus);
      }),
    );

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
        async (
          opts: {
            status?: string;
            waitingFor?: string;
            partner?: string;
            domain?: string;
            holdingAccount?: string;
            limit?: number;
            cursor?: string;
            all?: boolean;
          },
          command: Command,
        ) => {
          const client = apiClient();
          // The API checks the values and names the option at fault; the CLI passes them through.
          const query = {
            ...(opts.status !== undefined ? { status: opts.status } : {}),
            ...(opts.waitingFor !== undefined ? { waitingFor: opts.waitingFor } : {}),
            ...(opts.partner !== undefined ? { partnerId: opts.partner } : {}),
            ...(opts.domain !== undefined ? { customerDomain: opts.domain } : {}),
            ...(opts.holdingAccount !== undefined ? { holdingAccountId: opts.holdingAccount } : {}),
            ...(opts.limit !== undefined ? { limit: opts.limit } : opts.all ? { limit: 500 } : {}),
          } as ListOrdersParams;
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
        },
      ),
    );

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
