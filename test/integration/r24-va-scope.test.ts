/**
 * R24: a role on a virtual account shows that VA (and its children) and nothing of the others,
 * wherever the account's data goes out. Emailed alerts (R25): a VA viewer subscribed to the
 * account's alerts gets its own VA's, not another VA's nor the account's own; someone whose role
 * was revoked gets nothing, subscribed or not; an SA admin gets them all. True-ups (R20): a VA
 * viewer sees the lines and orders of its VAs only.
 */
import { createAlertDelivery } from '../../activities/licensing/alert-delivery';
import { createOutbox } from '../../activities/shared/outbox';
import { raiseAlert } from '../../src/licensing/alerts';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { grantTo, userKey, verifiedUser } from '../helpers/license-view-fixtures';
import { mailFor, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function vaId(world: TestWorld, path: string): Promise<string> {
  return String((await stack.db('virtual_accounts').where({ account_id: world.smartAccountId, path }).first('id')).id);
}

/** A user with one role on the world's Smart Account (on `path` for a VA role), subscribed to its alerts. */
async function subscribedUser(world: TestWorld, name: string, role: string, path?: string): Promise<{ id: string; email: string }> {
  const email = `${name}-${world.suffix}@${world.domain}`;
  const [user] = await stack.db('users').insert({ email, full_name: name }).returning('id');
  await stack.db('role_grants').insert({
    account_id: world.smartAccountId,
    user_id: user.id,
    role,
    virtual_account_id: path ? await vaId(world, path) : null,
    granted_by: 'test',
  });
  await stack.db('alert_subscriptions').insert({ account_id: world.smartAccountId, user_id: user.id });
  return { id: String(user.id), email };
}

test("an alert is emailed only to whom a live role shows its virtual account: not another VA's viewer, not a revoked user", async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const admin = await subscribedUser(world, 'ada', 'sa_admin');
  const viewer = await subscribedUser(world, 'vic', 'va_viewer', 'Region-US');
  const revoked = await subscribedUser(world, 'rex', 'sa_user');
  await stack.db('role_grants').where({ user_id: revoked.id }).update({ revoked_at: stack.db.fn.now() });

  const alert = async (subject: string, path: string | null) =>
    raiseAlert(stack.db, {
      accountId: world.smartAccountId,
      virtualAccountId: path ? await vaId(world, path) : null,
      kind: 'insufficient_licenses',
      subject: `${subject}:${world.suffix}`,
      message: `short in ${path ?? 'the account'}`,
    });
  await alert('finance', 'Finance');
  await alert('sacramento', 'Region-US/Finance/Sacramento');
  await alert('account', null);
  const outbox = createOutbox({ db: stack.db, mailer: stack.mailer, mailFrom: stack.config.mailFrom });
  await createAlertDelivery({ db: stack.db, outbox, publicBaseUrl: stack.config.publicBaseUrl }).deliverAlertEmails({
    batch: 10,
    accountId: world.smartAccountId,
  });

  await waitForMail((m) => m.to.includes(admin.email.toLowerCase()), 3);
  await settle(500);
  expect(mailFor(admin.email)).toHaveLength(3);
  expect(mailFor(viewer.email).map((m) => m.text)).toEqual([expect.stringContaining('short in Region-US/Finance/Sacramento')]);
  expect(mailFor(revoked.email)).toHaveLength(0);
  // The link is to the alerts page a person signs in to, not to the API route, which needs a key.
  expect(mailFor(viewer.email)[0].text).toContain(`${stack.config.publicBaseUrl}/accounts/${world.smartAccountId}/alerts.`);
});

test("a VA viewer's true-ups show the lines and orders of its virtual accounts only", async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const order = (id: string, path: string) => ({
    orderId: id,
    workflowId: `order-${id}`,
    input: { assignment: { virtualAccountPath: path } },
  });
  const report = {
    period: { startsOn: '2026-07-01', endsOn: '2026-10-01' },
    partnerId: world.partnerId,
    lines: [
      { virtualAccountId: await vaId(world, 'Finance'), virtualAccountPath: 'Finance', sku: 'SKU-F', peak: 3 },
      {
        virtualAccountId: await vaId(world, 'Region-US/Finance/Sacramento'),
        virtualAccountPath: 'Region-US/Finance/Sacramento',
        sku: 'SKU-S',
        peak: 2,
      },
    ],
    orders: [order('order-finance', 'Finance'), order('order-sacramento', 'Region-US/Finance/Sacramento')],
  };
  await stack
    .db('true_ups')
    .insert({ account_id: world.smartAccountId, period: '2026-07-01', status: 'booked', report: JSON.stringify(report) });
  const viewer = await verifiedUser(stack.db, world, 'tess');
  await grantTo(stack.db, world.smartAccountId, { userId: viewer.userId }, 'va_viewer', 'Region-US');
  const path = `/v1/accounts/${world.smartAccountId}/true-ups`;

  const seen = await api.call('GET', path, { key: await userKey(stack.db, viewer) });
  expect(seen.status).toBe(200);
  expect(seen.body.trueUps).toEqual([
    expect.objectContaining({
      lines: [{ virtualAccountPath: 'Region-US/Finance/Sacramento', sku: 'SKU-S', peak: 2 }],
      orderIds: ['order-sacramento'],
    }),
  ]);
  const whole = await api.call('GET', path, { key: await api.keyFor('operator') });
  expect(whole.body.trueUps[0]).toMatchObject({
    lines: [{ sku: 'SKU-F' }, { sku: 'SKU-S' }],
    orderIds: ['order-finance', 'order-sacramento'],
  });
});
