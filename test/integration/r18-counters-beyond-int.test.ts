/**
 * R18, R20, R23 at the scale of a big pool: each instance may report up to 1,000,000 of a SKU, so
 * about 2,148 of them in one pool pass 2^31 - 1. The pool's counters, the chart's points and the
 * period's overage peak are bigint (migration 20261209_100): the report that crosses the line
 * and every later one is still answered as the rules say, one at a time or in a batch, and the
 * views (licenses, chart, pages, event CSV) and the peak show the exact sums.
 */
import { keysFromPublished, verifyAnswer, type SignedUsageAnswer } from '../../src/device-client';
import type { Db } from '../../src/db/knex';
import { authenticateDevice, type DeviceCaller } from '../../src/licensing/device-auth';
import { overviewPage, virtualAccountPage } from '../../src/licensing/pages/license-pages';
import { recomputePool } from '../../src/licensing/pools';
import { UsageReportBatcher } from '../../src/licensing/report-queue';
import { prepareTrueUp } from '../../src/licensing/true-ups';
import { parseSigningKeys } from '../../src/licensing/signing';
import { viewScopeOf } from '../../src/licensing/views-access';
import { dailyUseOf, instancesForPage, licensesOf } from '../../src/licensing/views-licenses';
import { useTestApi } from '../helpers/api';
import { createToken, expectPoolCountersAgree, newDevice, poolOf } from '../helpers/devices';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { provisionLicenses, useLicenses, usageStates, virtualAccountId } from '../helpers/license-use';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-HUGE';
const MAX = 1_000_000;
const INT_MAX = 2 ** 31 - 1;

jest.setTimeout(180_000);

/**
 * `n` instances of the VA each using MAX, told OutOfCompliance a minute ago, and the pool
 * re-judged as a deposit would: what n devices' reports would have left (seeded, not reported, for time).
 */
async function seedInstancesAtMax(db: Db, world: TestWorld, vaId: string, n: number): Promise<void> {
  await db.raw(
    `INSERT INTO product_instances (id, account_id, virtual_account_id, product_id, serial_number, hostname, public_key, state,
                                    credential_serial, credential_expires_at, last_contact_at)
     SELECT 'big-' || ? || '-' || g, ?, ?, 'C9300-48P', 'BIG-' || ? || '-' || g, 'big' || g || '.test', 'unused', 'active',
            'unused', now() + interval '1 year', now() - interval '1 minute'
     FROM generate_series(1, ?) AS g`,
    [world.suffix, world.smartAccountId, vaId, world.suffix, n],
  );
  await db.raw(
    `INSERT INTO instance_usage (instance_id, sku, virtual_account_id, count, state, reported_at)
     SELECT 'big-' || ? || '-' || g, ?, ?, ?, 'OutOfCompliance', now() - interval '1 minute' FROM generate_series(1, ?) AS g`,
    [world.suffix, SKU, vaId, MAX, n],
  );
  await db.transaction((trx) => recomputePool(trx, world.smartAccountId, { virtualAccountId: vaId, sku: SKU }));
}

type Device = ReturnType<typeof newDevice>;

/** A report signed by the device as it would send it, and checked as the API checks it. */
function signedReport(device: Device, reportId: string, usage: Record<string, number>) {
  const path = `/v1/devices/${device.client.state.instanceId}/usage-reports`;
  const body = JSON.stringify({ reportId, usage });
  const headers = device.client.signedHeaders('POST', path, body, Date.now());
  const caller: DeviceCaller = authenticateDevice(parseSigningKeys(stack.config.licenseSigningKeys), {
    method: 'POST',
    path,
    body,
    headers,
  });
  return { caller, report: { reportId, usage } };
}

test('2,148 instances of 1,000,000 in one pool: reports answered by the rules, views, chart and overage peak show the sums', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  await seedInstancesAtMax(stack.db, world, finance, 2147);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({
    purchased: 10,
    authorized: 0,
    overage: 0,
    unserved: 2_147_000_000,
  });

  // One report at a time: the 2,148th instance at the maximum takes the pool past 2^31 - 1.
  const crossing = await useLicenses(api, world, 'Finance', { [SKU]: MAX });
  expect(crossing.answer.usage).toEqual([{ sku: SKU, count: MAX, state: 'OutOfCompliance' }]);
  const small = await useLicenses(api, world, 'Finance', { [SKU]: 3 });
  expect(small.answer.usage).toEqual([{ sku: SKU, count: 3, state: 'Authorized' }]);
  const afterOne = await poolOf(stack.db, world.smartAccountId, 'Finance', SKU);
  expect(afterOne).toEqual({ purchased: 10, authorized: 3, overage: 0, unserved: 2_148_000_000 });
  expect(afterOne!.unserved).toBeGreaterThan(INT_MAX);

  // A batch of reports (the group-commit path) goes further still.
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const batchDevices = [newDevice(api, world, 'batch-max'), newDevice(api, world, 'batch-small')];
  for (const d of batchDevices) await d.client.register(token, d.identity);
  const batcher = new UsageReportBatcher(stack.db, parseSigningKeys(stack.config.licenseSigningKeys), {
    batchSize: 64,
    batchesInFlight: 1,
  });
  const sent = [signedReport(batchDevices[0], 'b-max', { [SKU]: MAX }), signedReport(batchDevices[1], 'b-small', { [SKU]: 5 })];
  const answers = await Promise.all(sent.map(({ caller, report }) => batcher.submit(caller, report)));
  const published = keysFromPublished(parseSigningKeys(stack.config.licenseSigningKeys).published);
  const told = (answer: SignedUsageAnswer) => {
    expect(verifyAnswer(answer, published)).toMatchObject({ ok: true });
    return answer.usage;
  };
  expect(told(answers[0])).toEqual([{ sku: SKU, count: MAX, state: 'OutOfCompliance' }]);
  expect(told(answers[1])).toEqual([{ sku: SKU, count: 5, state: 'Authorized' }]);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({
    purchased: 10,
    authorized: 8,
    overage: 0,
    unserved: 2_149_000_000,
  });
  await expectPoolCountersAgree(stack.db, world.smartAccountId, 'Finance', SKU);

  // An unlimited agreement re-judges the pool at once: every use beyond the purchase is Overage.
  const today = new Date().toISOString().slice(0, 10);
  const set = await api.call('PUT', `/v1/accounts/${world.smartAccountId}/overage-agreement`, {
    key: await api.keyFor('operator'),
    body: { allowance: 'unlimited', cadence: 'monthly', firstPeriodStartsOn: today, partnerOfRecord: world.partnerId },
  });
  expect(set.status).toBe(200);
  expect(await usageStates(stack.db, [crossing.id, small.id])).toEqual({ [crossing.id]: 'Overage', [small.id]: 'Authorized' });
  const beyond = await useLicenses(api, world, 'Finance', { [SKU]: 4 });
  expect(beyond.answer.usage).toEqual([{ sku: SKU, count: 4, state: 'Overage' }]);
  const inUse = 2_149_000_000 + 3 + 5 + 4;
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({
    purchased: 10,
    authorized: 8,
    overage: 2_149_000_004,
    unserved: 0,
  });
  await expectPoolCountersAgree(stack.db, world.smartAccountId, 'Finance', SKU);

  // R20: the period's peak is the served use beyond the purchase, exactly.
  const peaks: Array<{ period: string; peak: string }> = await stack
    .db('overage_peaks')
    .where({ virtual_account_id: finance, sku: SKU })
    .select('period', 'peak');
  expect(peaks.map((p) => ({ period: p.period, peak: Number(p.peak) }))).toEqual([{ period: today, peak: inUse - 10 }]);
  // Its true-up books the whole peak: lines of at most 1,000,000, orders of at most 500 lines.
  const trueUp = await prepareTrueUp(stack.db, world.smartAccountId, today);
  expect(trueUp.report.lines).toEqual([{ virtualAccountId: finance, virtualAccountPath: 'Finance', sku: SKU, peak: inUse - 10 }]);
  const orderLines = trueUp.report.orders.map((o) => o.input.lines);
  expect(orderLines.map((l) => l.length)).toEqual([500, 500, 500, 500, 150]);
  expect(orderLines.flat().reduce((n, l) => n + l.quantity, 0)).toBe(inUse - 10);
  expect(orderLines.flat().every((l) => l.sku === SKU && l.quantity >= 1 && l.quantity <= MAX)).toBe(true);
  expect(trueUp.report.orders.map((o) => o.input.externalReference)).toEqual(
    ['', '-2', '-3', '-4', '-5'].map((part) => `TRUEUP-${world.smartAccountId}-${today}-VA${finance}${part}`),
  );

  // R23: the licenses and the chart through the API, the pages, and the event log as CSV.
  const operator = await api.keyFor('operator');
  const licenses = await api.call('GET', `/v1/accounts/${world.smartAccountId}/licenses?virtualAccountPath=Finance`, { key: operator });
  expect(licenses.status).toBe(200);
  expect(licenses.body.licenses).toEqual([
    expect.objectContaining({
      virtualAccountPath: 'Finance',
      sku: SKU,
      purchased: 10,
      inUse,
      balance: 10 - inUse,
      overage: 2_149_000_004,
      unserved: 0,
    }),
  ]);
  const chart = await api.call('GET', `/v1/accounts/${world.smartAccountId}/daily-use?virtualAccountPath=Finance`, { key: operator });
  expect(chart.status).toBe(200);
  expect(chart.body.series).toEqual([
    { virtualAccountPath: 'Finance', sku: SKU, points: [{ day: expect.any(String), purchased: 10, inUse }] },
  ]);
  const scope = await viewScopeOf(stack.db, { kind: 'operator' }, world.smartAccountId, 'Finance');
  if (!scope.ok) throw new Error(`no scope: ${scope.reason}`);
  const viewer = { name: 'operator', csrfToken: 'unused' };
  const lines = await licensesOf(stack.db, scope.scope);
  const overview = overviewPage(viewer, scope.scope, lines, 0).body.toString();
  expect(overview).toContain(`<td class="num">${inUse}</td>`);
  expect(overview).toContain(`<td class="num">${2_149_000_004}</td>`);
  const vaPage = virtualAccountPage(
    viewer,
    scope.scope,
    'Finance',
    lines,
    await dailyUseOf(stack.db, scope.scope),
    await instancesForPage(stack.db, scope.scope),
    { mayRemove: () => false },
  ).body.toString();
  expect(vaPage).toContain(`${inUse} in use of 10 purchased`);
  expect(vaPage).toContain(`<span class="short">${10 - inUse}</span>`);
  const csv = await api.call('GET', `/v1/accounts/${world.smartAccountId}/events.csv`, { key: operator });
  expect(csv.status).toBe(200);
  const crossingLines = String(csv.body)
    .split('\r\n')
    .filter((line) => line.includes(`instance:${crossing.id}`));
  expect(crossingLines).toContainEqual(expect.stringContaining(`""count"":${MAX},""state"":""OutOfCompliance""`));
});
