/**
 * smtp-stop, license use: while SMTP is down, an account's licenses become insufficient (a device
 * reports more than the pool holds), a product instance is found silent past FAILED_TO_CONNECT_AFTER,
 * and licenses come within TERM_ALERT_DAYS of their end (an order of a term that ends in 20 days
 * ships). The license clock raises the alerts and tries to email them during the outage; when SMTP
 * returns, each alert must reach each of its recipients exactly once (through the outbox).
 */
import { randomBytes } from 'node:crypto';
import { addMonths, isoDateOf } from '../../src/common/dates';
import { DeviceClient } from '../../src/device-client';
import { createRegistrationToken } from '../../src/licensing/tokens';
import { bookOrder } from '../../src/orders/book-order';
import { reportShipment } from '../../src/orders/order-actions';
import { createTestWorld, type TestWorld } from '../../test/helpers/fixtures';
import {
  checkSentOnce,
  copiesByKey,
  retrying,
  startFaultApi,
  type LicenseUseContext,
  type LicenseUsePart,
  type LicenseUseResult,
} from './license-use';

const TERM_SKU = 'ALERT-FAULT-1Y';
const DAY_MS = 86_400_000;
const EXPECTED_KINDS = ['insufficient_licenses', 'failed_to_connect', 'licenses_expiring'] as const;

interface AlertWorld {
  world: TestWorld;
  vaId: string;
  device: DeviceClient;
  orderId: string;
  recipients: string[];
}

export function alertPart(ctx: LicenseUseContext): LicenseUsePart {
  let w: AlertWorld;
  const window = { downAt: 0, upAt: 0 };
  const notes: string[] = [];

  return {
    async prepare() {
      w = await prepareAlertWorld(ctx);
    },

    async drive({ cleared }) {
      window.upAt = await cleared;
    },

    beforeFault: async () => undefined,

    async duringFault() {
      window.downAt = Date.now();
      await raiseDuringOutage(ctx, w);
    },

    async verify({ received }): Promise<LicenseUseResult> {
      const copies = copiesByKey(received);
      const problems: string[] = [];
      const alerts: Array<{ id: string; kind: string; created_at: Date; emailed_at: Date | null }> = await ctx
        .db('license_alerts')
        .where({ account_id: w.world.smartAccountId })
        .select('id', 'kind', 'created_at', 'emailed_at');
      for (const kind of EXPECTED_KINDS) {
        const ofKind = alerts.filter((a) => a.kind === kind);
        if (ofKind.length !== 1) problems.push(`${kind}: ${ofKind.length} alerts, not one`);
      }
      const keys = alerts.flatMap((a) => w.recipients.map((r) => `license-alert:${a.id}:${r.toLowerCase()}`));
      for (const a of alerts) if (!a.emailed_at) problems.push(`${a.kind} alert ${a.id}: never marked emailed`);
      problems.push(...(await checkSentOnce(ctx.db, keys, copies, 'alert email')));
      const duringOutage = alerts.filter((a) => a.created_at.getTime() >= window.downAt && a.created_at.getTime() <= window.upAt);
      notes.push(
        `${duringOutage.length} of ${alerts.length} alerts (${alerts.map((a) => a.kind).join(', ')}) were raised while SMTP was down; ` +
          `${keys.length} alert emails, each received ${[...new Set(keys.map((k) => copies.get(k) ?? 0))].join(' or ')} time(s)`,
      );
      return { checked: `${alerts.length} alerts to ${w.recipients.length} people, each once`, problems, notes };
    },
  };
}

/** The account, its admin and a subscriber, a registered device, and a one-year term deposited and awaiting shipment. */
async function prepareAlertWorld(ctx: LicenseUseContext): Promise<AlertWorld> {
  const world = await createTestWorld(ctx.db, 'al0000');
  const va = await ctx.db('virtual_accounts').where({ account_id: world.smartAccountId, path: 'Finance' }).first<{ id: string }>('id');
  const vaId = String(va.id);
  // Who is told (R25): the Smart Account's admin and a user subscribed to its alerts.
  await ctx.db('role_grants').insert({ account_id: world.smartAccountId, user_id: world.customerContactId, role: 'sa_admin' });
  const [watcher] = await ctx
    .db('users')
    .insert({ email: `watcher@${world.domain}`, full_name: 'Wes Watcher' })
    .returning<Array<{ id: string }>>('id');
  // A user of the account: an alert reaches only someone a live role lets see it.
  await ctx.db('role_grants').insert({ account_id: world.smartAccountId, user_id: watcher.id, role: 'sa_user' });
  await ctx.db('alert_subscriptions').insert({ account_id: world.smartAccountId, user_id: watcher.id });

  const baseUrl = await startFaultApi(ctx);
  const { token } = await createRegistrationToken(
    ctx.db,
    { accountId: world.smartAccountId, virtualAccountId: vaId },
    { expiresInDays: 1, maxUses: 1, description: 'fault run alerts', exportControlled: false },
    'faults',
  );
  const device = DeviceClient.create(baseUrl);
  await device.register(token, { productId: 'C9300-48P', serialNumber: 'FOC-ALERT-0', hostname: 'switch-alert.faults.test' });
  // A one-year term, deposited now and shipped during the outage (R7: its term starts on the ship date).
  const booked = await bookOrder(ctx.client, ctx.taskQueue, {
    externalReference: `PO-ALERT-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
    lines: [{ lineNumber: 1, sku: TERM_SKU, quantity: 5, licenseType: 'smart', termMonths: 12, smartAccountMandatory: true }],
  });
  await retrying(async () => {
    const row = await ctx.db('orders').where({ id: booked.orderId }).first<{ status: string } | undefined>('status');
    if (row?.status !== 'AwaitingShipment') throw new Error(`the alert order is ${row?.status}`);
  }, Date.now() + 120_000);
  return { world, vaId, device, orderId: booked.orderId, recipients: [world.customerEmail, `watcher@${world.domain}`] };
}

/** While SMTP is down: more use than purchased, a silent instance, and a term that ends within the alert days. */
async function raiseDuringOutage(ctx: LicenseUseContext, w: AlertWorld): Promise<void> {
  // Insufficient: 6 used of the term's 5, none yet active (the report itself never waits on SMTP).
  await w.device.report({ [TERM_SKU]: 6 });
  // Failed to connect: an instance silent for 31 days (FAILED_TO_CONNECT_AFTER is 30 d).
  const id = `pi-fault-${randomBytes(4).toString('hex')}`;
  await ctx.db('product_instances').insert({
    id,
    account_id: w.world.smartAccountId,
    virtual_account_id: w.vaId,
    product_id: 'C9300-48P',
    serial_number: `FOC-SILENT-${id}`,
    hostname: `silent-${id}.faults.test`,
    public_key: 'fault-run',
    state: 'active',
    credential_serial: randomBytes(8).toString('hex'),
    credential_expires_at: new Date(Date.now() + 300 * DAY_MS),
    last_contact_at: new Date(Date.now() - 31 * DAY_MS),
  });
  // Expiring: the term shipped 11 months and 10 days ago ends in about 20 days (the 30-day alert).
  const shippedOn = isoDateOf(Date.parse(`${addMonths(isoDateOf(Date.now()), -12)}T00:00:00Z`) + 20 * DAY_MS);
  await reportShipment(ctx.client, w.orderId, { lineNumber: 1, shippedOn });
}
