/**
 * `npm start`'s demo logic (src/dev/demo-orders.ts) and its SMTP catcher (src/dev/dev-smtp.ts),
 * in-process against the real stack: a restart finds the demo orders it booked before instead of
 * piling up held orders that remind for ever, held demo orders of earlier versions' starts are
 * cancelled, the license-use demo's devices are told Authorized / Overage / OutOfCompliance and a
 * rerun registers nothing, acme.com's admin signs in and sees them, and DEV_SMTP_LISTEN moves the catcher off :1025.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { ConfigError, loadConfig } from '../../src/config';
import { DEMO, demoHeldOrder, seedDemoData } from '../../src/dev/demo-data';
import { DEMO_DEVICES, DEMO_TOKEN_DESCRIPTION, runLicenseUseDemo } from '../../src/dev/demo-license-use';
import { bookingBody, DEMO_HELD_REFERENCE, runDemo } from '../../src/dev/demo-orders';
import { startDevSmtp } from '../../src/dev/dev-smtp';
import { freePort } from '../../src/dev/free-port';
import type { OrderRow } from '../../src/db/rows';
import { useTestApi } from '../helpers/api';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import { PageClient, tokenOfLink } from '../helpers/pages';
import { useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);

/** The demo partner's orders still held in its holding account, from Postgres. */
async function heldDemoOrders(): Promise<string[]> {
  const rows: Array<Pick<OrderRow, 'external_reference'>> = await stack
    .db<OrderRow>('orders')
    .where({ partner_id: DEMO.partnerId, status: 'AwaitingSmartAccount' })
    .select('external_reference');
  return rows.map((r) => r.external_reference).sort();
}

test('a restarted demo finds the orders it booked, cancels held ones of earlier starts, and its devices register once and overuse a pool', async () => {
  await seedDemoData(stack.db);
  const partnerKey = await api.keyFor('partner', DEMO.partnerId);
  // What every earlier `npm start` left behind: a held order with a stamped reference.
  const leftover = await api.call('POST', '/v1/orders', { key: partnerKey, body: bookingBody(demoHeldOrder('DEMO-HELD-20261129T052458')) });
  expect(leftover.status).toBe(201);
  for (let tries = 0; !(await heldDemoOrders()).includes('DEMO-HELD-20261129T052458') && tries < 100; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const first = await runDemo(api.baseUrl, partnerKey);
  expect(first.cancelledLeftovers).toEqual(['DEMO-HELD-20261129T052458']);
  expect(first.direct.status.phase).toBe('Fulfilled');
  expect(first.held.status).toMatchObject({ phase: 'AwaitingSmartAccount', waitingFor: 'PartnerTransfer' });
  expect([first.direct.alreadyBooked, first.held.alreadyBooked]).toEqual([false, false]);

  const second = await runDemo(api.baseUrl, partnerKey);
  expect([second.direct.alreadyBooked, second.held.alreadyBooked]).toEqual([true, true]);
  expect([second.direct.orderId, second.held.orderId]).toEqual([first.direct.orderId, first.held.orderId]);
  expect(second.direct.status.phase).toBe('Fulfilled');
  expect(second.cancelledLeftovers).toEqual([]);

  expect(await heldDemoOrders()).toEqual([DEMO_HELD_REFERENCE]);
  const cancelled = await stack.db<OrderRow>('orders').where({ id: leftover.body.orderId }).first('status');
  expect(cancelled?.status).toBe('Cancelled');

  await licenseUseDemoTwice(partnerKey);
}, 240_000);

/** The direct demo order is fulfilled: devices use its licenses beyond the pool, and a rerun adds nothing. */
async function licenseUseDemoTwice(partnerKey: string): Promise<void> {
  const keys = { partnerKey, operatorKey: await api.keyFor('operator') };
  const stateDir = mkdtempSync(join(tmpdir(), 'demo-devices-'));
  const first = await runLicenseUseDemo(api.baseUrl, keys, { stateDir, today: '2026-12-06' });
  expect(first.agreement).toEqual({ allowance: '1.5', cadence: 'quarterly', setNow: true });
  expect(first.tokenCreated).not.toBeNull();
  expect(
    first.devices.map((d) => [d.serialNumber, d.registeredNow, d.problem, d.told.map((t) => `${t.sku} ${t.count} ${t.state}`)]),
  ).toEqual([
    ['DEMO-FOC0001', true, undefined, ['C9300-DNA-E-3Y 6 Authorized']],
    ['DEMO-FOC0002', true, undefined, ['C9300-DNA-E-3Y 4 Authorized']],
    ['DEMO-FOC0003', true, undefined, ['C9300-DNA-E-3Y 3 Overage']],
    ['DEMO-FOC0004', true, undefined, ['C9300-DNA-E-3Y 4 OutOfCompliance']],
    ['DEMO-FGL0001', true, undefined, ['ISR4K-SEC-PERP 1 Authorized']],
  ]);
  const expectedPools = [
    { sku: 'C9300-DNA-E-3Y', purchased: 10, inUse: 17, balance: -7, overage: 3, unserved: 4 },
    { sku: 'ISR4K-SEC-PERP', purchased: 2, inUse: 1, balance: 1, overage: 0, unserved: 0 },
  ];
  expect(first.pools).toEqual(expectedPools);
  const poolRows = await stack
    .db('license_pools as p')
    .join('virtual_accounts as va', 'va.id', 'p.virtual_account_id')
    .where({ 'p.account_id': DEMO.smartAccountId, 'va.path': 'Finance' })
    .orderBy('p.sku')
    .select('p.sku', 'p.purchased', 'p.authorized', 'p.overage', 'p.unserved');
  // bigint counters: node-postgres reads them as strings.
  expect(
    poolRows.map((r) => ({
      ...r,
      purchased: Number(r.purchased),
      authorized: Number(r.authorized),
      overage: Number(r.overage),
      unserved: Number(r.unserved),
    })),
  ).toEqual([
    { sku: 'C9300-DNA-E-3Y', purchased: 10, authorized: 10, overage: 3, unserved: 4 },
    { sku: 'ISR4K-SEC-PERP', purchased: 2, authorized: 1, overage: 0, unserved: 0 },
  ]);

  // A restart: same state files, nothing new registered, no new token, the same answers.
  const second = await runLicenseUseDemo(api.baseUrl, keys, { stateDir, today: '2026-12-06' });
  expect(second.agreement.setNow).toBe(false);
  expect(second.tokenCreated).toBeNull();
  expect(second.devices.map((d) => d.registeredNow)).toEqual(DEMO_DEVICES.map(() => false));
  expect(second.devices.map((d) => [d.instanceId, d.told])).toEqual(first.devices.map((d) => [d.instanceId, d.told]));
  expect(second.pools).toEqual(expectedPools);
  const instances = await stack.db('product_instances').where({ account_id: DEMO.smartAccountId }).count<[{ n: string }]>({ n: '*' });
  expect(Number(instances[0].n)).toBe(DEMO_DEVICES.length);
  const tokens = await stack.db('registration_tokens').where({ description: DEMO_TOKEN_DESCRIPTION }).count<[{ n: string }]>({ n: '*' });
  expect(Number(tokens[0].n)).toBe(1);

  // A state file lost while the database kept the device: said for that device, the others go on.
  rmSync(join(stateDir, 'DEMO-FOC0004.json'));
  const third = await runLicenseUseDemo(api.baseUrl, keys, { stateDir });
  expect(third.devices.map((d) => d.problem?.split(':')[0])).toEqual([
    undefined,
    undefined,
    undefined,
    'UdiRegisteredWithAnotherKey',
    undefined,
  ]);
  expect(third.pools).toEqual(expectedPools);

  // The pages have someone to sign in: acme.com's admin, verified, with sa_admin (seeded once however often).
  await seedDemoData(stack.db);
  const admin = await stack
    .db('role_grants as g')
    .join('users as u', 'u.id', 'g.user_id')
    .where({ 'g.account_id': DEMO.smartAccountId, 'u.email': DEMO.adminEmail })
    .whereNull('g.revoked_at')
    .whereNotNull('u.email_verified_at')
    .select('g.role', 'u.registered_id');
  expect(admin).toEqual([{ role: 'sa_admin', registered_id: 'alex.admin' }]);
  await adminSeesTheDevices();
}

/** The summary's sign-in path works: the emailed link signs admin@acme.com in, the VA page lists the devices. */
async function adminSeesTheDevices(): Promise<void> {
  const client = new PageClient(api.baseUrl);
  const isSignIn = (m: CaughtMail) => m.to.includes(DEMO.adminEmail) && m.headers['x-email-template'] === 'sign-in';
  await client.submit('/sign-in', { email: DEMO.adminEmail });
  const [mail] = await waitForMail(isSignIn);
  expect((await client.submit(`/sign-in/${tokenOfLink(mail, stack.config.publicBaseUrl, 'sign-in')}`, {})).status).toBe(303);
  const page = await client.get(`/accounts/${DEMO.smartAccountId}/va?path=Finance`);
  expect(page.status).toBe(200);
  for (const device of DEMO_DEVICES) expect(page.text).toContain(device.hostname);
  expect(page.text).toContain('C9300-DNA-E-3Y: 4 <span class="state-OutOfCompliance">OutOfCompliance</span>');
  expect(page.text).toContain('C9300-DNA-E-3Y: 3 <span class="state-Overage">Overage</span>');
}

describe('DEV_SMTP_LISTEN', () => {
  test('moves the stack’s own SMTP catcher; mail sent to the URL it gives arrives', async () => {
    const port = await freePort();
    const config = loadConfig({ ...process.env, DEV_SMTP_LISTEN: `127.0.0.1:${port}` });
    const dataDir = mkdtempSync(join(tmpdir(), 'dev-smtp-'));
    const smtp = await startDevSmtp(config, { dataDir, smtpUrlSet: false });
    try {
      expect(smtp).toMatchObject({ kind: 'catcher', smtpUrl: `smtp://127.0.0.1:${port}` });
      const transport = createTransport(smtp.smtpUrl);
      await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'moved', text: 'hello' });
      transport.close();
      expect(readdirSync(join(dataDir, 'mail')).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
    } finally {
      await smtp.stop?.();
    }
  });

  test('a set SMTP_URL is used instead, and a malformed DEV_SMTP_LISTEN is refused with its name', async () => {
    const config = loadConfig({ ...process.env, SMTP_URL: 'smtp://mail.example.com:2525' });
    expect(await startDevSmtp(config, { dataDir: tmpdir(), smtpUrlSet: true })).toMatchObject({
      kind: 'smtp-url',
      smtpUrl: 'smtp://mail.example.com:2525',
    });
    expect(() => loadConfig({ DEV_SMTP_LISTEN: '1025' })).toThrow(ConfigError);
    expect(() => loadConfig({ DEV_SMTP_LISTEN: '1025' })).toThrow(/DEV_SMTP_LISTEN: must be host:port/);
  });
});
