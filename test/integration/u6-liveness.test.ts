/**
 * U6 Liveness (R19, R25): a device goes silent -> "failed to connect" at 30 days (once), at 90
 * days AuthorizationExpired and its use released from the pool, at one year removed with its
 * credentials revoked; one that comes back at day 100 is authorized again. Every alert is
 * emailed once to the account's subscribers and SA admins. The license clock runs as the
 * Schedule would start it (a licenseClock workflow on this file's worker); the last test lets
 * the real Schedule start it.
 */
import { CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createAlertDelivery } from '../../activities/licensing/alert-delivery';
import { createOutbox } from '../../activities/shared/outbox';
import { raiseAlert } from '../../src/licensing/alerts';
import { ensureLicenseClockSchedule } from '../../src/licensing/clock-schedule';
import { connectTemporalClient } from '../../src/temporal/connect';
import { generateEncryptionKey } from '../../src/temporal/payload-codec';
import { LICENSE_CLOCK_WORKFLOW_TYPE } from '../../src/licensing/workflow-api';
import { useTestApi } from '../helpers/api';
import { depositElsewhere } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import {
  addAccountUser,
  poolOf,
  provisionLicenses,
  runClock,
  silenceFor,
  useLicenses,
  usageStates,
  virtualAccountId,
} from '../helpers/license-use';
import { pollUntil } from '../helpers/orders';
import { mailFor, uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-A';

// The SKU exists (a report of one no license exists of is refused), whichever test runs alone.
beforeAll(() => depositElsewhere(stack, SKU));

function alertMail(address: string, title: string) {
  return mailFor(address).filter((m) => m.headers['x-email-template'] === 'license-alert' && m.subject.startsWith(title));
}

test('U6: silent 30 days -> one alert; 90 -> expired and released; back at day 100 -> authorized; 365 -> removed', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const admin = await addAccountUser(stack.db, world, { name: 'ada', role: 'sa_admin' });
  const subscriber = await addAccountUser(stack.db, world, { name: 'sam', role: 'sa_user', subscribed: true });
  const bystander = await addAccountUser(stack.db, world, { name: 'ben', role: 'sa_user' });
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  const silentDevice = await useLicenses(api, world, 'Finance', { [SKU]: 5 });
  const steadyDevice = await useLicenses(api, world, 'Finance', { [SKU]: 5 });
  const waitingDevice = await useLicenses(api, world, 'Finance', { [SKU]: 2 });
  const [silent, steady, waiting] = [silentDevice.id, steadyDevice.id, waitingDevice.id];
  expect([silentDevice, steadyDevice, waitingDevice].map((d) => d.answer.usage)).toEqual([
    [{ sku: SKU, count: 5, state: 'Authorized' }],
    [{ sku: SKU, count: 5, state: 'Authorized' }],
    [{ sku: SKU, count: 2, state: 'OutOfCompliance' }],
  ]);
  expect(await usageStates(stack.db, [silent, steady, waiting])).toEqual({
    [silent]: 'Authorized',
    [steady]: 'Authorized',
    [waiting]: 'OutOfCompliance',
  });
  const scope = { accountId: world.smartAccountId };

  // Day 31: one "failed to connect", however often the clock runs; the device keeps its licenses.
  await silenceFor(stack.db, silent, 31);
  expect(await runClock(stack, scope)).toMatchObject({ failedToConnect: 1, expired: 0, removed: 0 });
  expect(await runClock(stack, scope)).toMatchObject({ failedToConnect: 0 });
  await runClock(stack, { ...scope, asOfMs: Date.now() + 86_400_000 });
  const failed = await stack.db('license_alerts').where({ kind: 'failed_to_connect', subject: `instance:${silent}` });
  expect(failed).toHaveLength(1);
  expect(failed[0].emailed_at).not.toBeNull();
  expect(await usageStates(stack.db, [silent])).toEqual({ [silent]: 'Authorized' });
  for (const to of [admin.email, subscriber.email]) {
    const mails = await pollUntil(
      async () => alertMail(to, 'Product instance failed to connect'),
      (m) => m.length >= 1,
      'failed-to-connect mail',
    );
    expect(mails).toHaveLength(1);
    expect(mails[0].text).toContain(silent);
    expect(mails[0].html).toContain('<strong>What to do:</strong>');
  }
  expect(mailFor(bystander.email)).toHaveLength(0);

  // Day 91: authorization expired, its 5 released; the waiting device is served at once.
  await silenceFor(stack.db, silent, 91);
  expect(await runClock(stack, scope)).toMatchObject({ expired: 1, failedToConnect: 0 });
  expect(await runClock(stack, scope)).toMatchObject({ expired: 0 });
  expect(await stack.db('product_instances').where({ id: silent }).first('state')).toEqual({ state: 'authorization_expired' });
  expect(await usageStates(stack.db, [silent, steady, waiting])).toEqual({
    [silent]: 'AuthorizationExpired',
    [steady]: 'Authorized',
    [waiting]: 'Authorized',
  });
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 10, authorized: 7, overage: 0, unserved: 0 });
  expect(await stack.db('license_alerts').where({ kind: 'authorization_expired', subject: `instance:${silent}` })).toHaveLength(1);
  await pollUntil(
    async () => alertMail(admin.email, 'Product instance authorization expired'),
    (m) => m.length === 1,
    'expiry mail',
  );

  // Day 100: it reports again (3 now) and is authorized again: the pool holds 10 again.
  const back = await silentDevice.client.report({ [SKU]: 3 });
  expect([back.instanceState, back.usage]).toEqual(['active', [{ sku: SKU, count: 3, state: 'Authorized' }]]);
  expect(await usageStates(stack.db, [silent])).toEqual({ [silent]: 'Authorized' });
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ authorized: 10, unserved: 0 });
  expect(await runClock(stack, scope)).toMatchObject({ failedToConnect: 0, expired: 0, removed: 0 });

  // A year of silence: removed, credentials revoked, its use released; nothing else is touched.
  await silenceFor(stack.db, steady, 366);
  expect(await runClock(stack, scope)).toMatchObject({ removed: 1, expired: 0, failedToConnect: 0 });
  const removed = await stack.db('product_instances').where({ id: steady }).first('state', 'removed_at', 'credential_expires_at');
  expect(removed.state).toBe('removed');
  expect(removed.credential_expires_at.getTime()).toBeLessThanOrEqual(Date.now());
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ authorized: 5, unserved: 0 });
  expect(
    await stack
      .db('license_alerts')
      .where({ subject: `instance:${steady}` })
      .pluck('kind'),
  ).toEqual(['instance_removed']);
  expect(await runClock(stack, scope)).toMatchObject({ removed: 0 });

  const events = await stack.db('license_events').where({ account_id: world.smartAccountId }).orderBy('id').select('type', 'subject');
  // The device's own registration and reports, and between them what the clock did.
  expect(events.filter((e) => e.subject === `instance:${silent}`).map((e) => e.type)).toEqual([
    'instance_registered',
    'usage_reported',
    'instance_failed_to_connect',
    'instance_authorization_expired',
    'usage_reported',
  ]);
  expect(events.filter((e) => e.subject === `instance:${steady}`).map((e) => e.type)).toEqual([
    'instance_registered',
    'usage_reported',
    'instance_authorization_expired',
    'instance_removed',
  ]);
  // Every alert was emailed exactly once per recipient (the outbox key is per alert and address).
  const keys: string[] = await stack.db('email_outbox').where('idempotency_key', 'like', 'license-alert:%').pluck('idempotency_key');
  expect(new Set(keys).size).toBe(keys.length);
}, 90_000);

test('the Schedule starts the clock by itself (overlap SKIP), and ensuring it again updates it', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await addAccountUser(stack.db, world, { name: 'ada', role: 'sa_admin' });
  const { id: device } = await useLicenses(api, world, 'Finance', { [SKU]: 1 });
  await silenceFor(stack.db, device, 40);
  const scheduleId = `license-clock-${world.suffix}`;
  // Scoped to this world, so the other test files' rows are left to their own clocks.
  const options = { taskQueue: stack.taskQueue, intervalMs: 1_000, scheduleId, input: { accountId: world.smartAccountId } };
  expect(await ensureLicenseClockSchedule(stack.client, options)).toBe('created');
  try {
    expect(await ensureLicenseClockSchedule(stack.client, options)).toBe('updated');
    const schedule = await stack.client.schedule.getHandle(scheduleId).describe();
    expect(schedule.policies.overlap).toBe('SKIP');
    expect(schedule.policies.catchupWindow).toBe(86_400_000);
    const alert = await pollUntil(
      () =>
        stack
          .db('license_alerts')
          .where({ kind: 'failed_to_connect', subject: `instance:${device}` })
          .first('emailed_at'),
      (row) => row?.emailed_at != null,
      'the scheduled clock raising and emailing the alert',
      20_000,
    );
    expect(alert.emailed_at).toBeInstanceOf(Date);
  } finally {
    await stack.client.schedule.getHandle(scheduleId).delete();
  }
}, 60_000);

test('a Schedule sealed under a payload key this deployment no longer holds is replaced, not a worker that cannot start', async () => {
  const scheduleId = `license-clock-lost-key-${uniqueSuffix()}`;
  const options = { taskQueue: stack.taskQueue, intervalMs: 3_600_000, scheduleId, input: { accountId: 'sa-none' } };
  // Another deployment (same key ID, other key material) left its Schedule in this namespace.
  const other = await connectTemporalClient({
    temporal: stack.config.temporal,
    payloadEncryptionKeys: generateEncryptionKey('quickstart-1'),
  });
  try {
    expect(await ensureLicenseClockSchedule(other.client, options)).toBe('created');
  } finally {
    await other.connection.close();
  }
  try {
    expect(await ensureLicenseClockSchedule(stack.client, options)).toBe('replaced');
    // Readable again with this deployment's key, and updated in place from now on.
    const schedule = await stack.client.schedule.getHandle(scheduleId).describe();
    expect(schedule.action).toMatchObject({ workflowType: LICENSE_CLOCK_WORKFLOW_TYPE, args: [{ accountId: 'sa-none' }] });
    expect(await ensureLicenseClockSchedule(stack.client, options)).toBe('updated');
  } finally {
    await stack.client.schedule.getHandle(scheduleId).delete();
  }
}, 60_000);

/**
 * The sweep's cost does not grow with the fleet: one clock run issues the same Postgres
 * statements and schedules the same Temporal activities with 20 or 400 healthy instances
 * (docs/LICENSE-USE.md, "What takes time", quotes these figures).
 */
test('a clock run costs the same statements and actions with 20 or 400 healthy instances', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  const measure = async () => {
    let statements = 0;
    const count = () => statements++;
    stack.db.on('query', count);
    const workflowId = `license-clock-cost-${uniqueSuffix()}`;
    // Scoped to this world: the other test files running at the same time add nothing to measure.
    await stack.client.workflow.execute(LICENSE_CLOCK_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: stack.taskQueue,
      args: [{ accountId: world.smartAccountId }],
    });
    stack.db.off('query', count);
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const activities = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).length;
    return { statements, activities };
  };
  const addHealthy = async (n: number) => {
    const rows = Array.from({ length: n }, (_, i) => ({
      id: `pi-cost-${world.suffix}-${i}-${Math.random().toString(36).slice(2, 8)}`,
      account_id: world.smartAccountId,
      virtual_account_id: finance,
      product_id: 'C9300-48P',
      serial_number: `COST${world.suffix}${i}${Math.random().toString(36).slice(2, 8)}`,
      hostname: 'h',
      public_key: 'k',
      state: 'active',
      credential_serial: 's',
      credential_expires_at: new Date(Date.now() + 86_400_000),
    }));
    await stack.db.batchInsert('product_instances', rows, 200);
  };
  await measure(); // warm: the first run after other tests may still find their alerts to mail
  await addHealthy(20);
  const small = await measure();
  await addHealthy(380);
  const large = await measure();
  process.stderr.write(`[clock cost] 20 instances: ${JSON.stringify(small)}; 400 instances: ${JSON.stringify(large)}\n`);
  expect(large).toEqual(small);
  expect(small.activities).toBe(2);
}, 60_000);

test('alerts through the API: who may read them and who is emailed them (R25)', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const user = await addAccountUser(stack.db, world, { name: 'uma', role: 'sa_user' });
  const outsider = await addAccountUser(stack.db, await createTestWorld(stack.db, uniqueSuffix()), { name: 'olga', role: 'sa_user' });
  const { id: device } = await useLicenses(api, world, 'Finance', { [SKU]: 1 });
  await silenceFor(stack.db, device, 31);
  await runClock(stack, { accountId: world.smartAccountId });
  const path = `/v1/accounts/${world.smartAccountId}`;
  const partner = await api.keyFor('partner', world.partnerId);
  const operator = await api.keyFor('operator');

  // A partner with a role reads the account's alerts (marked emailed: the sweep mails each once, here to nobody).
  const listed = await api.call('GET', `${path}/alerts?kind=failed_to_connect`, { key: partner });
  expect(listed.status).toBe(200);
  expect(listed.body.alerts).toEqual([
    expect.objectContaining({
      kind: 'failed_to_connect',
      subject: `instance:${device}`,
      virtualAccountPath: 'Finance',
      emailedAt: expect.any(String),
    }),
  ]);
  expect((await api.call('GET', `${path}/alerts`, { key: await api.keyFor('partner', world.otherPartnerId) })).status).toBe(403);
  expect((await api.call('GET', `${path}/alerts?kind=nonsense`, { key: partner })).status).toBe(400);
  // A VA that does not exist is a 404 naming it, as the other views answer, not an empty list.
  const unknownVa = await api.call('GET', `${path}/alerts?virtualAccountPath=Nowhere`, { key: partner });
  expect([unknownVa.status, unknownVa.body.message]).toEqual([404, expect.stringContaining('virtual account "Nowhere"')]);
  const inFinance = await api.call('GET', `${path}/alerts?virtualAccountPath=Finance`, { key: partner });
  expect(inFinance.body.alerts.map((a: { virtualAccountPath: string }) => a.virtualAccountPath)).toEqual(['Finance', 'Finance']);

  // Subscriptions: a mere SA user partner may not change them; an operator may, for a user of the account only.
  expect((await api.call('PUT', `${path}/alert-subscriptions/${user.id}`, { key: partner })).status).toBe(403);
  const refused = await api.call('PUT', `${path}/alert-subscriptions/${outsider.id}`, { key: operator });
  expect([refused.status, refused.body.error]).toEqual([422, 'NotAUserOfTheAccount']);
  for (let i = 0; i < 2; i++) {
    const subscribed = await api.call('PUT', `${path}/alert-subscriptions/${user.id}`, { key: operator });
    expect(subscribed.body).toEqual({ accountId: world.smartAccountId, userId: user.id, subscribed: true });
  }
  expect(await stack.db('alert_subscriptions').where({ account_id: world.smartAccountId })).toHaveLength(1);

  // The next alert reaches the subscriber, once.
  await silenceFor(stack.db, device, 91);
  await runClock(stack, { accountId: world.smartAccountId });
  const mails = await pollUntil(
    async () => alertMail(user.email, 'Product instance authorization expired'),
    (m) => m.length >= 1,
    'subscriber mail',
  );
  expect(mails).toHaveLength(1);
  expect(alertMail(user.email, 'Product instance failed to connect')).toHaveLength(0);
  const unsubscribed = await api.call('DELETE', `${path}/alert-subscriptions/${user.id}`, { key: operator });
  expect(unsubscribed.body.subscribed).toBe(false);
  expect(await stack.db('alert_subscriptions').where({ account_id: world.smartAccountId })).toHaveLength(0);
}, 60_000);

test('bounded batches: a run with batch 1 loops until the backlog is done (each step reads at most one row)', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const silent = [
    await useLicenses(api, world, 'Finance', { [SKU]: 1 }),
    await useLicenses(api, world, 'Finance', { [SKU]: 1 }),
    await useLicenses(api, world, 'Finance', { [SKU]: 1 }),
  ];
  for (const { id } of silent) await silenceFor(stack.db, id, 35);
  // Four alerts to mail: the three, and the pool's "insufficient licenses" (it holds none).
  expect(await runClock(stack, { accountId: world.smartAccountId, batch: 1 })).toMatchObject({ failedToConnect: 3, alertsEmailed: 4 });
  expect(await stack.db('license_alerts').where({ account_id: world.smartAccountId, kind: 'failed_to_connect' })).toHaveLength(3);
}, 60_000);

test('the clock deletes usage reports past USAGE_REPORT_RETENTION and keeps the recent ones, which still answer a retry', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const device = await useLicenses(api, world, 'Finance', { [SKU]: 1 });
  const recent = await device.client.report({ [SKU]: 2 }, { reportId: 'recent' });
  const reportIds = () => stack.db('usage_reports').where({ instance_id: device.id }).orderBy('report_id').pluck('report_id');
  const [first] = (await reportIds()).filter((id: string) => id !== 'recent');
  // The first report was received a day longer ago than the retention (400 days by default).
  await stack
    .db('usage_reports')
    .where({ instance_id: device.id, report_id: first })
    .update({ received_at: new Date(Date.now() - (stack.config.licenseClock.usageReportRetentionMs + 86_400_000)) });

  await runClock(stack, { accountId: world.smartAccountId });
  expect(await reportIds()).toEqual(['recent']);
  // A retry of the kept report gets its stored answer; nothing is counted twice.
  expect(await device.client.report({ [SKU]: 2 }, { reportId: 'recent' })).toEqual(recent);
  expect(await reportIds()).toEqual(['recent']);
}, 60_000);

test('emailing alerts heartbeats per email; cancelled, it stops before the next alert and its retry goes on from there, each email once', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const address = `alerts-${world.suffix}@${world.domain}`;
  const [user] = await stack.db('users').insert({ email: address, full_name: 'Ari Alerts' }).returning('id');
  await stack.db('role_grants').insert({ account_id: world.smartAccountId, user_id: user.id, role: 'sa_user', granted_by: 'test' });
  await stack.db('alert_subscriptions').insert({ account_id: world.smartAccountId, user_id: user.id });
  for (const n of [1, 2, 3]) {
    await raiseAlert(stack.db, {
      accountId: world.smartAccountId,
      kind: 'overage_report',
      subject: `test:${world.suffix}:${n}`,
      message: `Over ${n}`,
    });
  }
  const outbox = createOutbox({ db: stack.db, mailer: stack.mailer, mailFrom: stack.config.mailFrom });
  const delivery = createAlertDelivery({ db: stack.db, outbox, publicBaseUrl: stack.config.publicBaseUrl });
  const deliver = () => delivery.deliverAlertEmails({ batch: 10, accountId: world.smartAccountId });
  const emailed = () => stack.db('license_alerts').where({ account_id: world.smartAccountId }).whereNotNull('emailed_at').count({ n: '*' });

  // The worker stops (the activity is cancelled) right after the first alert's heartbeat.
  const stopping = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  let beats = 0;
  stopping.on('heartbeat', () => {
    if (++beats === 1) stopping.cancel();
  });
  await expect(stopping.run(deliver)).rejects.toBeInstanceOf(CancelledFailure);
  expect(beats).toBe(1);
  expect(await emailed()).toEqual([{ n: '1' }]);

  const retry = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  let retryBeats = 0;
  retry.on('heartbeat', () => retryBeats++);
  expect(await retry.run(deliver)).toMatchObject({
    alerts: 2,
    more: false,
  });
  expect(retryBeats).toBe(2);
  expect(await emailed()).toEqual([{ n: '3' }]);
  const keys: string[] = await stack.db('email_outbox').where({ to_address: address }).pluck('idempotency_key');
  expect(keys).toHaveLength(3);
  expect(new Set(keys).size).toBe(3);
});
