/**
 * The drivers: each books one order of its kind and drives it to its end state the way the
 * ordering system, the partner and the end customer would (shipments, the partner's assignment,
 * the contact's choice or activation through the link in the mail actually received, a
 * cancellation). Every call is retried through the fault: an answer lost in an outage is
 * recognised by reading what the call should have changed, so no driver does a thing twice on
 * purpose, and any duplicate found at the end is the stack's.
 */
import type { Client } from '@temporalio/client';
import { activateSmartAccount, submitCustomerChoice } from '../../src/accounts/customer-links';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/knex';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import type { BookOrderInput, OrderLineInput } from '../../src/orders/order';
import { createTestWorld, registerContact, type TestWorld } from '../../test/helpers/fixtures';
import { CLASSIC_LINE, PERPETUAL_LINE, TERM_LINE } from '../../test/helpers/orders';
import type { Observer, Snapshot } from './observer';
import type { OrderCalls } from './order-calls';
import type { PlannedOrder, ScenarioKind } from './plan';
import { sleep } from './services';
import type { AccountRow, OrderRow } from '../../src/db/rows';

export interface ExpectedOrder {
  phase: 'Fulfilled' | 'Cancelled';
  /** The customer Smart Account the licenses must end in (unset for a requested account: found by its domain). */
  accountId?: string;
  requestedDomain?: string;
  virtualAccountPath: string | null;
  lines: Array<OrderLineInput & { shippedOn?: string }>;
  /** Least number of recipients an email template must have reached for this order. */
  recipients: Record<string, number>;
}

export interface Drive {
  plan: PlannedOrder;
  world: TestWorld;
  /** The requested account's contact and domain (requested-activated only). */
  contactEmail?: string;
  orderId?: string;
  workflowId?: string;
  expected: ExpectedOrder;
  /** Set when the driver gave up: the order counts as not completed, with this reason. */
  failure?: string;
  /** Calls that failed and were retried (the fault at work). */
  retriedCalls: number;
  /** Calls whose answer was lost although they had taken effect (found by reading what they change). */
  lostAnswers: Array<{ label: string; error: string }>;
  lastError?: string;
}

export interface DriveContext {
  client: Client;
  /** Booking, shipments, assignment and cancellation: in process, or through the APIs. */
  calls: OrderCalls;
  db: Db;
  config: Config;
  taskQueue: string;
  observer: Observer;
  /** Epoch ms after which drivers give up. */
  deadline: number;
  random: () => number;
  /** Longest "human" pause before a partner or customer acts: long enough for reminders to fire. */
  humanDelayMs: number;
}

const SHIP_DATES: Record<ScenarioKind, string> = {
  direct: '2026-03-02',
  'held-assigned': '2026-03-09',
  'delegated-chosen': '2026-03-16',
  'requested-activated': '2026-03-23',
  'two-tier': '2026-03-30',
  'mixed-classic': '2026-04-06',
  cancelled: '2026-04-13',
};

/** The world (partners, accounts, contacts) an order needs, created before the clock starts. */
export async function prepareDrive(db: Db, plan: PlannedOrder): Promise<Drive> {
  const world = await createTestWorld(db, plan.suffix);
  const shipped = SHIP_DATES[plan.kind];
  const twoLines = [
    { ...PERPETUAL_LINE, shippedOn: shipped },
    { ...TERM_LINE, shippedOn: shipped },
  ];
  const drive: Drive = {
    plan,
    world,
    retriedCalls: 0,
    lostAnswers: [],
    expected: {
      phase: 'Fulfilled',
      accountId: world.smartAccountId,
      virtualAccountPath: 'Finance',
      lines: twoLines,
      recipients: { 'deposit-confirmation': 2, 'order-fulfilled': 2 },
    },
  };
  switch (plan.kind) {
    case 'held-assigned':
    case 'two-tier':
      // The holding account's signed-up member is told of the fulfilment too (R9).
      drive.expected.recipients = { 'transfer-needed': 1, 'deposit-confirmation': 2, 'order-fulfilled': 3 };
      break;
    case 'requested-activated': {
      const domain = `new-${plan.suffix}.test`;
      drive.contactEmail = `it@${domain}`;
      await registerContact(db, { email: drive.contactEmail, fullName: 'Ivy IT', registeredId: `ivy-${plan.suffix}` });
      drive.expected = { ...drive.expected, accountId: undefined, requestedDomain: domain, virtualAccountPath: null };
      break;
    }
    case 'mixed-classic':
      drive.expected = {
        ...drive.expected,
        virtualAccountPath: null,
        lines: [...twoLines, { ...CLASSIC_LINE, shippedOn: shipped }],
      };
      break;
    case 'cancelled':
      drive.expected = {
        phase: 'Cancelled',
        virtualAccountPath: null,
        lines: [PERPETUAL_LINE, TERM_LINE],
        recipients: { 'transfer-needed': 1, 'order-cancelled': 1 },
      };
      break;
    default:
      break;
  }
  return drive;
}

/** Books and drives one order to its end state; never throws (a failure is recorded on the drive). */
export async function runDrive(ctx: DriveContext, drive: Drive, runStartedAt: number): Promise<void> {
  await sleep(Math.max(0, runStartedAt + drive.plan.startOffsetMs - Date.now()));
  try {
    await DRIVERS[drive.plan.kind](ctx, drive);
  } catch (err) {
    drive.failure = (err as Error).message;
  }
}

type Driver = (ctx: DriveContext, drive: Drive) => Promise<void>;

const DRIVERS: Record<ScenarioKind, Driver> = {
  async direct(ctx, d) {
    await book(ctx, d, { assignment: { kind: 'smart_account', accountId: d.world.smartAccountId, virtualAccountPath: 'Finance' } });
    await untilDeposited(ctx, d);
    await human(ctx, 2_000);
    await ship(ctx, d, [1, 2]);
    await untilPhase(ctx, d, 'Fulfilled');
  },

  async 'held-assigned'(ctx, d) {
    await book(ctx, d, { assignment: { kind: 'holding_account', accountId: d.world.holdingAccountId, virtualAccountPath: 'EMEA' } });
    await untilMail(ctx, d, 'transfer-needed');
    // S3: the term line ships while the licenses are still held; its subscription starts now.
    await ship(ctx, d, [2]);
    await human(ctx, ctx.humanDelayMs);
    await assign(ctx, d, d.world.partnerId);
    await untilDeposited(ctx, d);
    await ship(ctx, d, [1]);
    await untilPhase(ctx, d, 'Fulfilled');
  },

  async 'delegated-chosen'(ctx, d) {
    await book(ctx, d, {
      assignment: { kind: 'delegate' },
      endCustomerContact: { email: d.world.customerEmail, fullName: 'Casey Customer' },
    });
    const mail = await untilMail(ctx, d, 'delegation-request');
    const token = linkToken(ctx, mail, 'delegations');
    await human(ctx, ctx.humanDelayMs);
    await act(
      ctx,
      d,
      'customer choice',
      () =>
        submitCustomerChoice({ db: ctx.db, client: ctx.client }, token, {
          kind: 'existing',
          accountId: d.world.smartAccountId,
          virtualAccountPath: 'Finance',
        }),
      async () => (await ctx.db<OrderRow>('orders').where({ id: d.orderId }).first('account_id'))?.account_id === d.world.smartAccountId,
    );
    await untilDeposited(ctx, d);
    await human(ctx, 2_000);
    await ship(ctx, d, [1, 2]);
    await untilPhase(ctx, d, 'Fulfilled');
  },

  async 'requested-activated'(ctx, d) {
    const domain = d.expected.requestedDomain!;
    await book(ctx, d, {
      assignment: { kind: 'request_smart_account', domain },
      endCustomerContact: { email: d.contactEmail!, fullName: 'Ivy IT' },
    });
    const mail = await ctx.observer.until(
      d.plan.index,
      'activation mail',
      (s) => (s.mailByRecipient.get(d.contactEmail!) ?? []).find((m) => m.headers['x-email-template'] === 'activation-request'),
      ctx.deadline,
    );
    const token = linkToken(ctx, mail, 'activations');
    await human(ctx, ctx.humanDelayMs);
    await act(
      ctx,
      d,
      'activation',
      () => activateSmartAccount({ db: ctx.db, client: ctx.client, taskQueue: ctx.taskQueue }, token),
      // The link is used up in the same transaction that activates the account.
      async () => (await ctx.db<AccountRow>('accounts').where({ domain }).first('status'))?.status === 'active',
    );
    await untilDeposited(ctx, d);
    await human(ctx, 2_000);
    await ship(ctx, d, [1, 2]);
    await untilPhase(ctx, d, 'Fulfilled');
  },

  async 'two-tier'(ctx, d) {
    await book(ctx, d, {
      bookedByPartnerId: d.world.distributorId,
      partnerId: d.world.partnerId,
      assignment: { kind: 'holding_account', accountId: d.world.holdingAccountId },
    });
    await untilMail(ctx, d, 'transfer-needed');
    await human(ctx, ctx.humanDelayMs);
    // The reseller (the order's partner) transfers to the customer's account (R10, R11).
    await assign(ctx, d, d.world.partnerId);
    await untilDeposited(ctx, d);
    await human(ctx, 2_000);
    await ship(ctx, d, [1, 2]);
    await untilPhase(ctx, d, 'Fulfilled');
  },

  async 'mixed-classic'(ctx, d) {
    await book(ctx, d, {
      assignment: { kind: 'smart_account', accountId: d.world.smartAccountId },
      lines: [PERPETUAL_LINE, TERM_LINE, CLASSIC_LINE],
    });
    await untilDeposited(ctx, d);
    await human(ctx, 2_000);
    await ship(ctx, d, [1, 2, 3]);
    await untilPhase(ctx, d, 'Fulfilled');
  },

  async cancelled(ctx, d) {
    await book(ctx, d, { assignment: { kind: 'holding_account', accountId: d.world.holdingAccountId } });
    await untilMail(ctx, d, 'transfer-needed');
    await human(ctx, ctx.humanDelayMs);
    await act(
      ctx,
      d,
      'cancel',
      () => ctx.calls.cancel(d.orderId!, { actingPartnerId: d.world.partnerId, reason: 'fault run' }),
      async () => (await ctx.db<OrderRow>('orders').where({ id: d.orderId }).first('status'))?.status === 'Cancelled',
    );
    await untilPhase(ctx, d, 'Cancelled');
  },
};

// ---------------------------------------------------------------- steps

async function book(ctx: DriveContext, d: Drive, overrides: Partial<BookOrderInput>): Promise<void> {
  const booking: BookOrderInput = {
    externalReference: `PO-${d.plan.suffix}`,
    bookedByPartnerId: d.world.partnerId,
    assignment: { kind: 'smart_account', accountId: d.world.smartAccountId },
    lines: [PERPETUAL_LINE, TERM_LINE],
    ...overrides,
  };
  // A booking whose answer was lost is sent again: the same reference answers alreadyBooked.
  const booked = await act(ctx, d, 'booking', () => ctx.calls.book(booking));
  if (booked === 'done') throw new Error('booking: no answer');
  d.orderId = booked.orderId;
  d.workflowId = booked.workflowId;
}

/** R7 shipments; a repeated report of a line is ignored by the workflow, so a lost answer is simply sent again. */
async function ship(ctx: DriveContext, d: Drive, lineNumbers: number[]): Promise<void> {
  const shippedOn = SHIP_DATES[d.plan.kind];
  for (const lineNumber of lineNumbers) {
    await act(ctx, d, `shipment of line ${lineNumber}`, () => ctx.calls.ship(d.orderId!, { lineNumber, shippedOn }));
  }
}

async function assign(ctx: DriveContext, d: Drive, actingPartnerId: string): Promise<void> {
  await act(
    ctx,
    d,
    'assignment',
    () => ctx.calls.assign(d.orderId!, { accountId: d.world.smartAccountId, virtualAccountPath: 'Finance', actingPartnerId }),
    async () => (await ctx.db<OrderRow>('orders').where({ id: d.orderId }).first('account_id'))?.account_id === d.world.smartAccountId,
  );
}

/** All lines in the customer's account (deposited or transferred), whatever happened since. */
function untilDeposited(ctx: DriveContext, d: Drive): Promise<unknown> {
  return ctx.observer.until(
    d.plan.index,
    'deposit',
    (s: Snapshot) => {
      const row = s.orders.get(d.orderId!);
      return row && row.account_id && ['AwaitingShipment', 'Provisioning', 'Fulfilled'].includes(row.status);
    },
    ctx.deadline,
  );
}

function untilPhase(ctx: DriveContext, d: Drive, phase: string): Promise<unknown> {
  return ctx.observer.until(d.plan.index, phase, (s) => s.orders.get(d.orderId!)?.status === phase, ctx.deadline);
}

function untilMail(ctx: DriveContext, d: Drive, template: string): Promise<CaughtMail> {
  return ctx.observer.until(
    d.plan.index,
    `${template} mail`,
    (s) => (s.mailByOrder.get(d.orderId!) ?? []).find((m) => m.headers['x-email-template'] === template),
    ctx.deadline,
  );
}

/** A partner or customer takes their time: reminders may fire meanwhile. */
function human(ctx: DriveContext, maxMs: number): Promise<void> {
  return sleep(Math.round(ctx.random() * maxMs));
}

/** The token of the one `<publicBaseUrl>/<path>/<token>` link in a received email's text. */
function linkToken(ctx: DriveContext, mail: CaughtMail, path: 'delegations' | 'activations'): string {
  const base = ctx.config.publicBaseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`${base}/${path}/([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])`).exec(mail.text);
  if (!match) throw new Error(`no /${path}/ link in the mail "${mail.subject}"`);
  return match[1];
}

const ACTION_TIMEOUT_MS = 60_000;
const MAX_ATTEMPTS = 80;

/**
 * Calls `call` until it answers, through the fault. After a failure, `done` (a read of what the
 * call changes) tells whether an earlier attempt took effect although its answer was lost; then
 * the call is not repeated.
 */
async function act<T>(
  ctx: DriveContext,
  d: Drive,
  label: string,
  call: () => Promise<T>,
  done?: () => Promise<boolean>,
): Promise<T | 'done'> {
  return ctx.observer.step(d.plan.index, label, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withTimeout(call(), ACTION_TIMEOUT_MS, label);
      } catch (err) {
        d.retriedCalls++;
        d.lastError = `${label}: ${(err as Error).message}`;
        if (done && (await done().catch(() => false))) {
          d.lostAnswers.push({ label, error: (err as Error).message });
          return 'done' as const;
        }
        if (Date.now() > ctx.deadline || attempt >= MAX_ATTEMPTS)
          throw new Error(`${label} failed ${attempt} times; last: ${(err as Error).message}`);
        await sleep(Math.min(5_000, 250 * attempt));
      }
    }
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label}: no answer in ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
