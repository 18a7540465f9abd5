/**
 * Group commit of usage reports (issue 15, docs/LICENSE-USE.md): reports that arrive together are
 * applied in ONE transaction, and each device is told exactly what it would have been told had
 * the reports come one after the other: two instances over-using one small pool, the same report
 * ID twice, a replayed signature and a removed instance, all in one batch.
 */
import { keysFromPublished, verifyAnswer, type SignedUsageAnswer } from '../../src/device-client';
import { authenticateDevice, type DeviceCaller } from '../../src/licensing/device-auth';
import { UsageReportBatcher } from '../../src/licensing/report-queue';
import { parseSigningKeys } from '../../src/licensing/signing';
import { useTestApi } from '../helpers/api';
import { createToken, expectPoolCountersAgree, newDevice, poolOf, provisionLicenses, smartLine, vaIdOf } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import { runClock, silenceFor } from '../helpers/license-use';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-BATCH';

jest.setTimeout(120_000);

type Device = ReturnType<typeof newDevice>;

/** A report signed by the device as it would send it, and checked as the API checks it (real signatures). */
function signedReport(device: Device, reportId: string, usage: Record<string, number>, timestamp = Date.now()) {
  const path = `/v1/devices/${device.client.state.instanceId}/usage-reports`;
  const body = JSON.stringify({ reportId, usage });
  const headers = device.client.signedHeaders('POST', path, body, timestamp);
  const keys = parseSigningKeys(stack.config.licenseSigningKeys);
  const caller: DeviceCaller = authenticateDevice(keys, { method: 'POST', path, body, headers });
  return { caller, report: { reportId, usage } };
}

test('one batch: over-use of a small pool, a report ID twice, a replay and a removed instance each get their own answer', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 3)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const devices = Array.from({ length: 7 }, (_, i) => newDevice(api, world, `batch-${i}`));
  for (const d of devices) await d.client.register(token, d.identity);
  const [d0, d1, d2, d3, d4, d5, gone] = devices;
  await silenceFor(stack.db, gone.client.state.instanceId!, 400);
  expect(await runClock(stack, { accountId: world.smartAccountId })).toMatchObject({ removed: 1 });

  const replayed = signedReport(d4, 'r-d4', { [SKU]: 0 });
  const sent = [
    signedReport(d0, 'r-d0', { [SKU]: 2 }),
    signedReport(d1, 'r-d1', { [SKU]: 2 }),
    signedReport(d2, 'r-d2', { [SKU]: 1 }),
    signedReport(d3, 'dup', { [SKU]: 1 }),
    replayed,
    signedReport(d5, 'r-d5', {}),
    signedReport(gone, 'r-gone', { [SKU]: 1 }),
    // Second reports of d3 and d4 wait for the next batch (one report per instance in a batch).
    signedReport(d3, 'dup', { [SKU]: 1 }, Date.now() + 1),
    replayed,
  ];
  const batcher = new UsageReportBatcher(stack.db, parseSigningKeys(stack.config.licenseSigningKeys), {
    batchSize: 64,
    batchesInFlight: 1,
  });
  const outcomes = await Promise.all(
    sent.map(({ caller, report }) =>
      batcher.submit(caller, report).then(
        (answer) => answer,
        (err: { code?: string }) => err.code ?? String(err),
      ),
    ),
  );

  const published = keysFromPublished(parseSigningKeys(stack.config.licenseSigningKeys).published);
  const stateOf = (i: number) => {
    const answer = outcomes[i] as SignedUsageAnswer;
    expect(verifyAnswer(answer, published)).toMatchObject({ ok: true });
    expect(answer.instanceId).toBe(sent[i].caller.claims.instanceId);
    return answer.usage.map((u) => `${u.sku}x${u.count} ${u.state}`);
  };
  // Judged in arrival order against a pool of 3 with no overage agreement.
  expect(stateOf(0)).toEqual([`${SKU}x2 Authorized`]);
  expect(stateOf(1)).toEqual([`${SKU}x2 OutOfCompliance`]);
  expect(stateOf(2)).toEqual([`${SKU}x1 Authorized`]);
  expect(stateOf(3)).toEqual([`${SKU}x1 OutOfCompliance`]);
  expect(stateOf(4)).toEqual([`${SKU}x0 Authorized`]);
  expect(stateOf(5)).toEqual([]);
  expect(outcomes[6]).toBe('InstanceRemoved');
  expect(outcomes[7]).toEqual(outcomes[3]); // the same report ID: the stored answer, signature and all
  expect(outcomes[8]).toBe('ReplayedRequest');
  // The batch's six answers share one signature over their Merkle root, each with its own proof;
  // the retry's stored answer (read back from jsonb) keeps its proof and verifies against the published keys.
  const batchAnswers = [0, 1, 2, 3, 4, 5].map((i) => outcomes[i] as SignedUsageAnswer);
  expect(new Set(batchAnswers.map((a) => a.signature)).size).toBe(1);
  expect(batchAnswers.map((a) => a.proof?.size)).toEqual([6, 6, 6, 6, 6, 6]);
  expect(batchAnswers.map((a) => a.proof!.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
  expect((outcomes[7] as SignedUsageAnswer).proof).toEqual(batchAnswers[3].proof);
  expect(verifyAnswer(outcomes[7] as SignedUsageAnswer, published)).toMatchObject({ ok: true });

  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 3, authorized: 3, overage: 0, unserved: 3 });
  await expectPoolCountersAgree(stack.db, world.smartAccountId, 'Finance', SKU);
  // One row per report ID, all six written by one transaction (one commit time).
  const ids = devices.map((d) => d.client.state.instanceId!);
  const kept = await stack.db('usage_reports').whereIn('instance_id', ids).select('instance_id', 'report_id', 'received_at');
  expect(kept.map((r) => r.report_id).sort()).toEqual(['dup', 'r-d0', 'r-d1', 'r-d2', 'r-d4', 'r-d5']);
  expect(new Set(kept.map((r) => r.received_at.getTime())).size).toBe(1);
  // The removed instance's request spent nothing, as alone; the pool's shortfall raised its alert.
  expect(await stack.db('device_request_signatures').where({ instance_id: gone.client.state.instanceId }).count({ n: '*' })).toEqual([
    { n: '0' },
  ]);
  const vaId = await vaIdOf(stack.db, world.smartAccountId, 'Finance');
  expect(
    await stack
      .db('license_alerts')
      .where({ kind: 'insufficient_licenses', subject: `pool:${vaId}:${SKU}` })
      .count({ n: '*' }),
  ).toEqual([{ n: '1' }]);
  expect(
    await stack
      .db('license_events')
      .where({ type: 'usage_reported' })
      .whereIn(
        'subject',
        ids.map((id) => `instance:${id}`),
      )
      .count({ n: '*' }),
  ).toEqual([{ n: '5' }]);
});

test('over HTTP, 30 devices at once against a pool of 10: 10 Authorized, 20 OutOfCompliance, commits shared', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 10)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const devices = Array.from({ length: 30 }, (_, i) => newDevice(api, world, `http-${i}`));
  await Promise.all(devices.map((d) => d.client.register(token, d.identity)));
  await Promise.all(devices.map((d) => d.client.signingKeys()));

  const answers = await Promise.all(devices.map((d) => d.client.report({ [SKU]: 1 })));
  const told = answers.map((a) => a.usage[0].state);
  expect(told.filter((s) => s === 'Authorized')).toHaveLength(10);
  expect(told.filter((s) => s === 'OutOfCompliance')).toHaveLength(20);
  // Answers of shared batches carry proofs (and got through the response schema): the devices verified each.
  const batched = answers.findIndex((a) => a.proof !== undefined);
  expect(batched).toBeGreaterThanOrEqual(0);
  expect(answers.filter((a) => a.signature === answers[batched].signature)).toHaveLength(answers[batched].proof!.size);
  // A retry of that report ID over HTTP: the stored answer, proof and all, verified by the device again.
  const retried = await devices[batched].client.report({ [SKU]: 1 }, { reportId: answers[batched].reportId });
  expect(retried).toEqual(answers[batched]);
  await expectPoolCountersAgree(stack.db, world.smartAccountId, 'Finance', SKU);
  const kept = await stack
    .db('usage_reports')
    .whereIn(
      'instance_id',
      devices.map((d) => d.client.state.instanceId!),
    )
    .select('received_at');
  expect(kept).toHaveLength(30);
  // Fewer commits than reports: some transaction carried several.
  expect(new Set(kept.map((r) => r.received_at.getTime())).size).toBeLessThan(30);
});

test('a report dropping a SKU: judged in the batch when another report locks that pool, else alone after it; the same answers as one after the other', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const OTHER = `${SKU}-2`;
  await provisionLicenses(
    stack.client,
    stack.taskQueue,
    world,
    'Finance',
    [smartLine(SKU, 5), smartLine(OTHER, 2, 2)],
    `PO-${world.suffix}`,
  );
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const [a, b, c] = Array.from({ length: 3 }, (_, i) => newDevice(api, world, `drop-${i}`));
  for (const d of [a, b, c]) await d.client.register(token, d.identity);
  const batcher = new UsageReportBatcher(stack.db, parseSigningKeys(stack.config.licenseSigningKeys), {
    batchSize: 64,
    batchesInFlight: 1,
  });
  const send = (...reports: Array<ReturnType<typeof signedReport>>) =>
    Promise.all(reports.map(({ caller, report }) => batcher.submit(caller, report))).then((answers) =>
      answers.map((answer) => answer.usage.map((u) => `${u.sku}x${u.count} ${u.state}`)),
    );
  await send(signedReport(a, 'r-a1', { [SKU]: 1, [OTHER]: 1 }));
  await send(signedReport(c, 'r-c1', { [SKU]: 1, [OTHER]: 1 }));
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', OTHER)).toMatchObject({ authorized: 2 });

  // No report of this batch names OTHER: a's leaving it goes alone after the batch.
  expect(await send(signedReport(a, 'r-a2', { [SKU]: 1 }), signedReport(b, 'r-b1', { [SKU]: 1 }))).toEqual([
    [`${SKU}x1 Authorized`],
    [`${SKU}x1 Authorized`],
  ]);
  expect(await stack.db('instance_usage').where({ instance_id: a.client.state.instanceId }).pluck('sku')).toEqual([SKU]);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', OTHER)).toMatchObject({ authorized: 1 });

  // b names OTHER, so its pool is locked: c's leaving it is judged in the batch, ahead of b, which finds 2 free.
  expect(await send(signedReport(c, 'r-c2', { [SKU]: 1 }), signedReport(b, 'r-b2', { [SKU]: 1, [OTHER]: 2 }))).toEqual([
    [`${SKU}x1 Authorized`],
    [`${SKU}x1 Authorized`, `${OTHER}x2 Authorized`],
  ]);
  for (const sku of [SKU, OTHER]) await expectPoolCountersAgree(stack.db, world.smartAccountId, 'Finance', sku);
  // Kept by one commit (one transaction's now()) when judged together, by two when one went alone.
  const keptAt = async (...reportIds: string[]) =>
    new Set((await stack.db('usage_reports').whereIn('report_id', reportIds).pluck('received_at')).map((at: Date) => at.getTime())).size;
  expect(await keptAt('r-a2', 'r-b1')).toBe(2);
  expect(await keptAt('r-c2', 'r-b2')).toBe(1);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', OTHER)).toMatchObject({ authorized: 2 });
});

test('a report keeps the contact to the minute: a contact a minute old moves, a fresh one is not written again, in a batch and alone', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 5)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const devices = Array.from({ length: 3 }, (_, i) => newDevice(api, world, `contact-${i}`));
  for (const d of devices) await d.client.register(token, d.identity);
  const ids = devices.map((d) => d.client.state.instanceId!);
  const twoMinutesAgo = new Date(Date.now() - 120_000);
  await stack.db('product_instances').whereIn('id', ids).update({ last_contact_at: twoMinutesAgo });
  // xmin names the transaction that wrote the row's version: unchanged, the row was not written.
  const rows = async () =>
    new Map(
      (await stack.db('product_instances').whereIn('id', ids).select('id', 'last_contact_at', stack.db.raw('xmin::text AS xmin'))).map(
        (r: { id: string; last_contact_at: Date; xmin: string }) => [r.id, { at: r.last_contact_at.getTime(), xmin: r.xmin }],
      ),
    );
  const batcher = new UsageReportBatcher(stack.db, parseSigningKeys(stack.config.licenseSigningKeys), {
    batchSize: 64,
    batchesInFlight: 1,
  });
  const args = ({ caller, report }: ReturnType<typeof signedReport>) => [caller, report] as const;
  // d0 and d1 together (one batch), d2 alone (the one-report path).
  const round = async (n: number) => {
    await Promise.all([0, 1].map((i) => batcher.submit(...args(signedReport(devices[i], `r${n}-${i}`, { [SKU]: 1 })))));
    await batcher.submit(...args(signedReport(devices[2], `r${n}-2`, { [SKU]: 1 })));
  };

  await round(1);
  const moved = await rows();
  for (const id of ids) expect(moved.get(id)!.at).toBeGreaterThan(twoMinutesAgo.getTime() + 60_000);
  await round(2);
  expect(await rows()).toEqual(moved);
  expect(await stack.db('usage_reports').whereIn('instance_id', ids).count<{ count: string }[]>('* AS count')).toEqual([{ count: '6' }]);
});
