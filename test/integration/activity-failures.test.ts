/**
 * Issue 18 item 1, every activity: which of its errors are permanent (a non-retryable
 * ApplicationFailure of a type in src/common/refusals.ts: Temporal does not retry it and the
 * workflow turns it into the order's refusal state) and which are temporary (everything else:
 * retried with backoff, workflows/shared/activity-proxies.ts). The table below is the one in
 * docs/RELIABILITY.md; for each activity that has a permanent class one call on the real Postgres
 * makes it raise it, and every activity against an unreachable Postgres raises a retryable error.
 * The email path (SMTP 5xx settled `failed`, 4xx retried) is tested end to end in
 * email-permanent-failure.test.ts and email-resend.test.ts.
 */
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities, type OrderActivities } from '../../activities';
import { loadConfig } from '../../src/config';
import type { RefusalType } from '../../src/common/refusals';
import { createDb, type Db } from '../../src/db/knex';
import { createSmtpMailer } from '../../src/email/mailer';
import { createTestWorld } from '../helpers/fixtures';
import { uniqueSuffix } from '../helpers/stack';

type ActivityName = keyof OrderActivities;

/** What placing an order's lines may refuse for good. */
const PLACEMENT_REFUSALS: RefusalType[] = [
  'UnknownOrder',
  'NotAuthorized',
  'DomainMismatch',
  'UnknownAccount',
  'AccountNotActive',
  'NotAHoldingAccount',
  'NotAConsumptionTarget',
  'UnknownVirtualAccount',
];

/** Activity → the refusal types it may raise (permanent); every other error it raises is retried. */
const PERMANENT: Record<ActivityName, RefusalType[]> = {
  loadFulfillmentSettings: [],
  recordBooking: ['UnknownPartner', 'NotAuthorized'],
  recordAssignmentRefused: [],
  placeLines: PLACEMENT_REFUSALS,
  recordShipment: ['UnknownOrder'],
  provisionLines: ['UnknownOrder'],
  withdrawOrder: ['UnknownOrder'],
  requestSmartAccount: ['UnknownOrder', 'SmartAccountRequestRefused'],
  registerForActivation: [],
  getAccountStatus: ['UnknownAccount'],
  sendActivationRequest: ['UnknownAccount'],
  sendDelegationRequest: ['UnknownOrder'],
  redeemCustomerChoice: ['InvalidLink', 'DomainMismatch', 'AccountNotActive', 'UnknownVirtualAccount'],
  sendOrderEmail: ['UnknownOrder'],
  // placeLines' classes (it calls it), and sendOrderEmail's.
  placeLinesAndAnnounce: PLACEMENT_REFUSALS,
  provisionLinesAndAnnounce: ['UnknownOrder'],
  sweepLicenseClock: [],
  deliverAlertEmails: [],
  prepareTrueUp: [],
  sendTrueUpReport: [],
  markTrueUpBooked: [],
  markTrueUpApproved: [],
  transferOrderChunk: ['UnknownTransferBatch'],
  finishOrderTransferBatch: [],
};

const config = loadConfig();
const status = { listStatus: { phase: 'Booked', waitingFor: 'Nothing' } } as { listStatus: never };
const NO_ORDER = 'ffffffffffffffffffff';
const mailer = createSmtpMailer(config.smtpUrl);
let db: Db;

beforeAll(() => {
  db = createDb(config.databaseUrl, 2);
});
afterAll(async () => {
  await db.destroy();
  mailer.close();
});

function activitiesOn(database: Db): OrderActivities {
  return createActivities({ db: database, mailer, temporal: {} as Client, config });
}

/** Runs the activity as Temporal would (an activity context), and returns what it threw. */
async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(run);
  } catch (err) {
    return err;
  }
  throw new Error('the activity did not fail');
}

const permanentType = (err: unknown) => (err instanceof ApplicationFailure && err.nonRetryable ? err.type : undefined);

test('every activity the workers run is classified here and in docs/RELIABILITY.md', () => {
  expect(Object.keys(activitiesOn(db)).sort()).toEqual(Object.keys(PERMANENT).sort());
});

/** A well-formed booking (as the workflow hands it over) by and for these partners. */
const probeBooking = (partnerId: string, bookedByPartnerId: string) =>
  ({
    orderId: NO_ORDER,
    externalReference: 'probe',
    partnerId,
    bookedByPartnerId,
    assignment: { kind: 'smart_account', accountId: 'x' },
    lines: [{ lineNumber: 1, sku: 'X', quantity: 1, licenseType: 'smart', smartAccountMandatory: true }],
  }) as never;

describe('each permanent class, raised by its activity on the real Postgres', () => {
  const orderIdOnly = { orderId: NO_ORDER, idempotencyKey: `probe-${uniqueSuffix()}`, ...status };
  const placement = {
    ...orderIdOnly,
    target: { kind: 'holding_account', accountId: 'x' },
    actor: { kind: 'partner', partnerId: 'nobody' },
  };
  const probes: Array<[ActivityName, RefusalType, (a: OrderActivities) => Promise<unknown>]> = [
    ['recordBooking', 'UnknownPartner', (a) => a.recordBooking(probeBooking('nobody', 'nobody'), 'wf')],
    ['placeLines', 'UnknownOrder', (a) => a.placeLines(placement as never)],
    ['recordShipment', 'UnknownOrder', (a) => a.recordShipment({ ...orderIdOnly, lineNumber: 1, shippedOn: '2026-01-01' })],
    ['provisionLines', 'UnknownOrder', (a) => a.provisionLines({ ...orderIdOnly, lineNumbers: [1] })],
    ['withdrawOrder', 'UnknownOrder', (a) => a.withdrawOrder(orderIdOnly)],
    ['requestSmartAccount', 'UnknownOrder', (a) => a.requestSmartAccount({ orderId: NO_ORDER, domain: 'acme.test' })],
    ['transferOrderChunk', 'UnknownTransferBatch', (a) => a.transferOrderChunk({ batchId: 'no-such-batch', afterPosition: -1 })],
    ['getAccountStatus', 'UnknownAccount', (a) => a.getAccountStatus('no-such-account')],
    ['sendActivationRequest', 'UnknownAccount', (a) => a.sendActivationRequest({ accountId: 'no-such-account', idempotencyKey: 'probe' })],
    ['sendDelegationRequest', 'UnknownOrder', (a) => a.sendDelegationRequest({ orderId: NO_ORDER, idempotencyKey: 'probe' } as never)],
    [
      'redeemCustomerChoice',
      'InvalidLink',
      (a) => a.redeemCustomerChoice({ orderId: NO_ORDER, tokenHash: '00'.repeat(32), choice: { kind: 'create', accountName: 'X' } }),
    ],
    [
      'sendOrderEmail',
      'UnknownOrder',
      (a) => a.sendOrderEmail({ orderId: NO_ORDER, template: 'order-fulfilled', audiences: ['partner'], idempotencyKey: 'probe' }),
    ],
    ['placeLinesAndAnnounce', 'UnknownOrder', (a) => a.placeLinesAndAnnounce(placement as never)],
    ['provisionLinesAndAnnounce', 'UnknownOrder', (a) => a.provisionLinesAndAnnounce({ ...orderIdOnly, lineNumbers: [1] } as never)],
  ];

  test.each(probes)('%s → %s, non-retryable', async (name, type, call) => {
    expect(PERMANENT[name]).toContain(type);
    expect(permanentType(await failureOf(() => call(activitiesOn(db))))).toBe(type);
  });

  test('recordBooking → NotAuthorized (a partner booking for one that is not its reseller), non-retryable', async () => {
    const world = await createTestWorld(db, uniqueSuffix());
    const input = probeBooking(world.otherPartnerId, world.partnerId);
    expect(permanentType(await failureOf(() => activitiesOn(db).recordBooking(input, 'wf')))).toBe('NotAuthorized');
  });

  test('every activity with a permanent class is probed above', () => {
    const probed = new Set(probes.map(([name]) => name));
    const classified = (Object.keys(PERMANENT) as ActivityName[]).filter((name) => PERMANENT[name].length > 0);
    expect(classified.filter((name) => !probed.has(name))).toEqual([]);
  });
});

test('Postgres unreachable: every activity that touches it raises a retryable error (Temporal retries it with backoff)', async () => {
  const quiet = { warn: () => undefined, error: () => undefined };
  const unreachable = createDb('postgres://postgres@127.0.0.1:1/unreachable', 1, quiet);
  try {
    const activities = activitiesOn(unreachable) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const args: Partial<Record<ActivityName, unknown[]>> = {
      recordBooking: [{ orderId: NO_ORDER, partnerId: 'p', bookedByPartnerId: 'p' }, 'wf'],
      transferOrderChunk: [{ batchId: 'tb', afterPosition: 0 }],
      getAccountStatus: ['no-such-account'],
      finishOrderTransferBatch: ['tb'],
    };
    const classes: Record<string, string> = {};
    for (const name of Object.keys(PERMANENT).filter((n) => n !== 'loadFulfillmentSettings')) {
      const input = args[name as ActivityName] ?? [{ orderId: NO_ORDER, accountId: 'a', batch: 1, asOfMs: 0, ...status }];
      const err = await failureOf(() => activities[name](...input));
      classes[name] = permanentType(err) ?? 'retryable';
    }
    expect(Object.values(classes).every((c) => c === 'retryable') ? 'all retryable' : classes).toBe('all retryable');
  } finally {
    await unreachable.destroy();
  }
});
