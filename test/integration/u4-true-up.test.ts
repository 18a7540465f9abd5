/**
 * U4 Overage and true-up (R20): an agreement of 1.5x reconciled quarterly; use 13 of 10 ->
 * Overage, peak 3 recorded; 16 of 10 -> OutOfCompliance; at the agreed date one report email and
 * one true-up order for the peak; after approval the pool holds 13; running the date again books
 * nothing new; a worker killed inside the true-up changes nothing of that.
 */
import { LicenseFulfillmentClient } from '../../src/api-client';
import { addMonths } from '../../src/common/dates';
import { periodOf } from '../../src/licensing/periods';
import {
  LICENSE_CLOCK_WORKFLOW_TYPE,
  trueUpWorkflowId,
  type LicenseClockInput,
  type LicenseClockResult,
} from '../../src/licensing/workflow-api';
import type { OrderStatus } from '../../src/orders/order-lifecycle';
import { useTestApi } from '../helpers/api';
import { createTestWorld } from '../helpers/fixtures';
import {
  addAccountUser,
  poolOf,
  provisionLicenses,
  recordHistoryIfAsked,
  replaceWorker,
  runClock,
  useLicenses,
  usageStates,
  virtualAccountId,
} from '../helpers/license-use';
import { listWorkflowIds, pollUntil } from '../helpers/orders';
import { mailFor, uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'ISR4K-OVERAGE';

test('setting an agreement re-judges the pools at once: use beyond the purchase becomes Overage and its peak is recorded', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  await useLicenses(api, world, 'Finance', { [SKU]: 10 });
  const extraDevice = await useLicenses(api, world, 'Finance', { [SKU]: 4 });
  const extra = extraDevice.id;
  expect(extraDevice.answer.usage).toEqual([{ sku: SKU, count: 4, state: 'OutOfCompliance' }]);
  expect(await usageStates(stack.db, [extra])).toEqual({ [extra]: 'OutOfCompliance' });
  const today = new Date().toISOString().slice(0, 10);
  const set = await api.call('PUT', `/v1/accounts/${world.smartAccountId}/overage-agreement`, {
    key: await api.keyFor('operator'),
    body: { allowance: '1.5', cadence: 'monthly', firstPeriodStartsOn: today, partnerOfRecord: world.partnerId },
  });
  expect(set.status).toBe(200);
  expect(await usageStates(stack.db, [extra])).toEqual({ [extra]: 'Overage' });
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 10, authorized: 10, overage: 4, unserved: 0 });
  expect(await stack.db('overage_peaks').where({ virtual_account_id: finance }).select('period', 'peak')).toEqual([
    { period: today, peak: '4' }, // bigint: node-postgres reads it as a string
  ]);
  // The typed client reads it back, and names the field of a refusal.
  const client = new LicenseFulfillmentClient({ baseUrl: api.baseUrl, apiKey: await api.keyFor('operator') });
  expect(await client.getOverageAgreement(world.smartAccountId)).toEqual({
    accountId: world.smartAccountId,
    allowance: '1.5',
    cadence: 'monthly',
    firstPeriodStartsOn: today,
    partnerOfRecord: world.partnerId,
  });
  await expect(
    client.setOverageAgreement(world.smartAccountId, { allowance: '2', cadence: 'monthly', firstPeriodStartsOn: '2026-02-30' }),
  ).rejects.toMatchObject({ status: 400, code: 'ValidationFailed' });
  const missingPartner = await api.call('PUT', `/v1/accounts/${world.smartAccountId}/overage-agreement`, {
    key: await api.keyFor('operator'),
    body: { allowance: '2', cadence: 'monthly', firstPeriodStartsOn: today },
  });
  expect([missingPartner.status, missingPartner.body.errors]).toEqual([400, [expect.objectContaining({ field: 'partnerOfRecord' })]]);

  // Approving: a period that is no date, or no period of the account, is refused naming it; a period without a true-up is a 404.
  const approve = async (period: string) => {
    const answer = await api.call('POST', `/v1/accounts/${world.smartAccountId}/true-ups/${period}/approve`, {
      key: await api.keyFor('operator'),
    });
    return [answer.status, answer.body.error, (answer.body.errors ?? []).map((e: { field: string }) => e.field)];
  };
  expect(await approve('2026-02-30')).toEqual([400, 'ValidationFailed', ['period']]);
  expect(await approve(addMonths(today, -1))).toEqual([422, 'NotAPeriod', ['period']]);
  expect(await approve(addMonths(today, 1))).toEqual([404, 'NotFound', []]);
}, 60_000);

test('a missed period with a peak is still reconciled; an ended period without overage is closed with nothing to book', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  const today = new Date().toISOString().slice(0, 10);
  const first = addMonths(`${today.slice(0, 7)}-01`, -3);
  const missed = periodOf(first, 'monthly', addMonths(first, 1))!;
  const last = periodOf(first, 'monthly', addMonths(first, 2))!;
  await api.call('PUT', `/v1/accounts/${world.smartAccountId}/overage-agreement`, {
    key: await api.keyFor('operator'),
    body: { allowance: '2', cadence: 'monthly', firstPeriodStartsOn: first, partnerOfRecord: world.partnerId },
  });
  // What a report during the missed month left behind (the clock was down at its date).
  await stack
    .db('overage_peaks')
    .insert({ account_id: world.smartAccountId, virtual_account_id: finance, sku: SKU, period: missed.startsOn, peak: 2 });
  // The first month ended with neither peak nor true-up too: only the last ended and the missed one with a peak are due.
  const run = await runClock(stack, { accountId: world.smartAccountId });
  expect([...run.trueUpsStarted].sort()).toEqual(
    [trueUpWorkflowId(world.smartAccountId, missed.startsOn), trueUpWorkflowId(world.smartAccountId, last.startsOn)].sort(),
  );
  await stack.client.workflow.getHandle(trueUpWorkflowId(world.smartAccountId, last.startsOn)).result();
  const rows = await pollUntil(
    () => stack.db('true_ups').where({ account_id: world.smartAccountId }).orderBy('period').select('period', 'status'),
    (r) => r.length === 2 && r[0].status === 'booked',
    'both periods reconciled',
    40_000,
  );
  expect(rows).toEqual([
    { period: missed.startsOn, status: 'booked' },
    { period: last.startsOn, status: 'nothing_to_reconcile' },
  ]);
  expect(await runClock(stack, { accountId: world.smartAccountId })).toMatchObject({ trueUpsStarted: [] });
}, 90_000);

// Last in the file: it kills this file's worker.
test('U4: 1.5x quarterly; Overage peak 3; at the date one report and one true-up order; approved -> 13; once, even across a killed worker', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const admin = await addAccountUser(stack.db, world, { name: 'ada', role: 'sa_admin' });
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  const today = new Date().toISOString().slice(0, 10);
  const first = addMonths(`${today.slice(0, 7)}-01`, -1);
  const period = periodOf(first, 'quarterly', today)!;
  const path = `/v1/accounts/${world.smartAccountId}`;
  const operator = await api.keyFor('operator');
  const partnerOfRecord = await api.keyFor('partner', world.partnerId);

  // The agreement: an SA user partner may not set it; an operator may (the SA admins too).
  const agreement = { allowance: '1.5', cadence: 'quarterly', firstPeriodStartsOn: first, partnerOfRecord: world.partnerId };
  expect((await api.call('PUT', `${path}/overage-agreement`, { key: partnerOfRecord, body: agreement })).status).toBe(403);
  const bad = await api.call('PUT', `${path}/overage-agreement`, { key: operator, body: { ...agreement, allowance: '3' } });
  expect([bad.status, bad.body.errors?.[0]?.field]).toEqual([400, 'allowance']);
  const set = await api.call('PUT', `${path}/overage-agreement`, { key: operator, body: agreement });
  expect([set.status, set.body]).toEqual([200, { accountId: world.smartAccountId, ...agreement }]);

  // 13 of 10: Overage, peak 3; 16 of 10: beyond 1.5x, OutOfCompliance; the peak stays 3.
  const devices = [
    (await useLicenses(api, world, 'Finance', { [SKU]: 4 })).id,
    (await useLicenses(api, world, 'Finance', { [SKU]: 4 })).id,
    (await useLicenses(api, world, 'Finance', { [SKU]: 2 })).id,
  ];
  const overDevice = await useLicenses(api, world, 'Finance', { [SKU]: 3 });
  const over = overDevice.id;
  expect(overDevice.answer.usage).toEqual([{ sku: SKU, count: 3, state: 'Overage' }]);
  expect(await usageStates(stack.db, [over])).toEqual({ [over]: 'Overage' });
  const beyondDevice = await useLicenses(api, world, 'Finance', { [SKU]: 3 });
  const beyond = beyondDevice.id;
  expect(beyondDevice.answer.usage).toEqual([{ sku: SKU, count: 3, state: 'OutOfCompliance' }]);
  expect(await usageStates(stack.db, [beyond])).toEqual({ [beyond]: 'OutOfCompliance' });
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 10, authorized: 10, overage: 3, unserved: 3 });
  expect(await stack.db('overage_peaks').where({ virtual_account_id: finance, sku: SKU }).select('period', 'peak')).toEqual([
    { period: period.startsOn, peak: '3' }, // bigint: node-postgres reads it as a string
  ]);

  // Before the agreed date nothing is due; at it the clock starts the period's true-up.
  const scope = { accountId: world.smartAccountId };
  expect(await runClock(stack, { ...scope, asOfMs: Date.parse(`${period.endsOn}T00:00:00Z`) - 60_000 })).toMatchObject({
    trueUpsStarted: [],
  });
  const clockId = `license-clock-u4-${world.suffix}`;
  const atDate: LicenseClockInput = { ...scope, asOfMs: Date.parse(`${period.endsOn}T09:00:00Z`) };
  const clock = await stack.client.workflow.execute<(input: LicenseClockInput) => Promise<LicenseClockResult>>(
    LICENSE_CLOCK_WORKFLOW_TYPE,
    {
      workflowId: clockId,
      taskQueue: stack.taskQueue,
      args: [atDate],
    },
  );
  const trueUpId = trueUpWorkflowId(world.smartAccountId, period.startsOn);
  expect(clock.trueUpsStarted).toEqual([trueUpId]);

  // The worker dies inside the true-up; a new one takes over (and dies again while it awaits approval).
  let replacement = await replaceWorker(stack);
  try {
    const booked = await pollUntil(
      () => stack.db('true_ups').where({ account_id: world.smartAccountId }).select('period', 'status', 'report'),
      (rows) => rows[0]?.status === 'booked',
      'the true-up booked',
      60_000,
    );
    expect(booked).toHaveLength(1);
    const report = booked[0].report;
    expect(report.lines).toEqual([{ virtualAccountId: finance, virtualAccountPath: 'Finance', sku: SKU, peak: 3 }]);
    expect(report.orders).toHaveLength(1);
    const order = report.orders[0];
    expect(order.input).toMatchObject({
      externalReference: `TRUEUP-${world.smartAccountId}-${period.startsOn}-VA${finance}`,
      bookedByPartnerId: world.partnerId,
      assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
      lines: [{ lineNumber: 1, sku: SKU, quantity: 3, licenseType: 'smart', smartAccountMandatory: true }],
    });

    // One report email to the SA admin and one to the partner of record.
    for (const to of [admin.email, world.partnerEmail]) {
      const mails = await pollUntil(
        async () => mailFor(to).filter((m) => m.headers['x-email-template'] === 'true-up-report'),
        (m) => m.length >= 1,
        `the report to ${to}`,
        40_000,
      );
      expect(mails).toHaveLength(1);
      expect(mails[0].text).toContain(`${SKU} peak overage 3`);
    }

    replacement = await replaceWorker(stack, replacement);
    // Approval: an unrelated partner is refused; the partner of record approves, once.
    const approvePath = `${path}/true-ups/${period.startsOn}/approve`;
    expect((await api.call('POST', approvePath, { key: await api.keyFor('partner', world.otherPartnerId) })).status).toBe(403);
    const approved = await api.call('POST', approvePath, { key: partnerOfRecord });
    expect([approved.status, approved.body.status, approved.body.approvedBy]).toEqual([200, 'approved', `partner:${world.partnerId}`]);
    expect((await api.call('POST', approvePath, { key: partnerOfRecord })).status).toBe(409);

    // The order ships and provisions through the normal pipeline: the pool holds 13.
    const status: OrderStatus = await stack.client.workflow.getHandle(order.workflowId).result();
    expect(status.phase).toBe('Fulfilled');
    await stack.client.workflow.getHandle(trueUpId).result();
    expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 13 });
    expect(await usageStates(stack.db, [...devices, over])).toEqual(Object.fromEntries([...devices, over].map((d) => [d, 'Authorized'])));
    const listed = await api.call('GET', `${path}/true-ups`, { key: operator });
    expect(listed.body.trueUps).toEqual([
      expect.objectContaining({ period: period.startsOn, status: 'approved', orderIds: [order.orderId] }),
    ]);

    // The date again: nothing new is started, booked or mailed.
    expect(await runClock(stack, atDate)).toMatchObject({ trueUpsStarted: [] });
    expect(await runClock(stack, { ...atDate, asOfMs: atDate.asOfMs! + 86_400_000 })).toMatchObject({ trueUpsStarted: [] });
    expect(await stack.db('orders').where('external_reference', 'like', `TRUEUP-${world.smartAccountId}-%`).pluck('id')).toEqual([
      order.orderId,
    ]);
    expect(await stack.db('true_ups').where({ account_id: world.smartAccountId })).toHaveLength(1);
    expect(mailFor(admin.email).filter((m) => m.headers['x-email-template'] === 'true-up-report')).toHaveLength(1);
    expect(
      await listWorkflowIds(
        stack.client,
        `TrueUpStatus = "Approved" AND LicensePeriod = "${period.startsOn}" AND PartnerId = "${world.partnerId}"`,
      ),
    ).toEqual([trueUpId]);
    await recordHistoryIfAsked(stack, clockId, 'license-clock-starting-true-up');
    await recordHistoryIfAsked(stack, trueUpId, 'true-up-approved-after-worker-restart');
  } finally {
    await replacement.stop();
  }
}, 120_000);
