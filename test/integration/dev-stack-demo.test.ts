/**
 * `npm start`'s demo logic (src/dev/demo-orders.ts) and its SMTP catcher (src/dev/dev-smtp.ts),
 * in-process against the real stack: a restart finds the demo orders it booked before instead of
 * piling up held orders that remind for ever, held demo orders of earlier versions' starts are
 * cancelled, and DEV_SMTP_LISTEN moves the catcher off :1025.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { ConfigError, loadConfig } from '../../src/config';
import { DEMO, demoHeldOrder, seedDemoData } from '../../src/dev/demo-data';
import { bookingBody, DEMO_HELD_REFERENCE, runDemo } from '../../src/dev/demo-orders';
import { startDevSmtp } from '../../src/dev/dev-smtp';
import { freePort } from '../../src/dev/free-port';
import type { OrderRow } from '../../src/db/rows';
import { useTestApi } from '../helpers/api';
import { useTestStack } from '../helpers/stack';

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

test('a restarted demo finds the orders it booked; a held demo order of an earlier start is cancelled', async () => {
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
}, 180_000);

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
