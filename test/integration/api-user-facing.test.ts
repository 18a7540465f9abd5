/**
 * Part one as its users meet it: what the API answers where it used to surprise its callers.
 * A finished order refuses an assignment or a shipment with 409 and the reason (not a 404);
 * a re-sent reference with another body is a 409 naming what differs; a booking whose
 * assignment is refused at once says so in its 201; malformed or oversized bodies, a wrong key
 * and an upper-case domain get the documented error bodies.
 */
import { runCli } from '../../src/cli/main';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { apiBody, CLASSIC_LINE, directBooking, heldBooking, PERPETUAL_LINE, waitForPhase } from '../helpers/orders';
import { mailFor, mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

let world: TestWorld;
let partnerKey: string;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  partnerKey = await api.keyFor('partner', world.partnerId);
});

const body = apiBody;

async function fulfilledOrder(reference: string): Promise<{ orderId: string; workflowId: string }> {
  const booked = await api.call('POST', '/v1/orders', {
    key: partnerKey,
    body: body(directBooking(world, { externalReference: reference })),
  });
  expect(booked.status).toBe(201);
  for (const lineNumber of [1, 2]) {
    await api.call('POST', `/v1/orders/${booked.body.orderId}/shipments`, {
      key: partnerKey,
      body: { lineNumber, shippedOn: '2026-11-21' },
    });
  }
  await waitForPhase(stack.client, booked.body.workflowId, 'Fulfilled');
  return booked.body;
}

describe('a finished order answers 409 with the reason, not 404 (item 6)', () => {
  test('assignment and shipment on a fulfilled order; assignment on a cancelled one', async () => {
    const done = await fulfilledOrder(`UF-DONE-${world.suffix}`);
    expect((await api.call('GET', `/v1/orders/${done.orderId}`, { key: partnerKey })).status).toBe(200);
    const assign = await api.call('POST', `/v1/orders/${done.orderId}/assignment`, {
      key: partnerKey,
      body: { accountId: world.smartAccountId },
    });
    expect([assign.status, assign.body.error]).toEqual([409, 'InvalidState']);
    expect(assign.body.message).toMatch(/fulfilled/);
    const ship = await api.call('POST', `/v1/orders/${done.orderId}/shipments`, {
      key: partnerKey,
      body: { lineNumber: 1, shippedOn: '2026-11-22' },
    });
    expect([ship.status, ship.body.error]).toEqual([409, 'InvalidState']);
    expect(ship.body.message).toMatch(/fulfilled/);

    const held = await api.call('POST', '/v1/orders', {
      key: partnerKey,
      body: body(heldBooking(world, { externalReference: `UF-CANCELLED-${world.suffix}` })),
    });
    await waitForPhase(stack.client, held.body.workflowId, 'AwaitingSmartAccount');
    const cancelled = await api.call('POST', `/v1/orders/${held.body.orderId}/cancellation`, { key: partnerKey, body: {} });
    expect(cancelled.status).toBe(200);
    // The workflow closes after its cancellation; wait until it has.
    await stack.client.workflow.getHandle(held.body.workflowId).result();
    const late = await api.call('POST', `/v1/orders/${held.body.orderId}/assignment`, {
      key: partnerKey,
      body: { accountId: world.smartAccountId },
    });
    expect([late.status, late.body.error]).toEqual([409, 'InvalidState']);
    expect(late.body.message).toMatch(/cancelled/);
  });
});

describe('re-sending a reference with another body is a 409 naming what differs (item 7)', () => {
  test('same body: 200 alreadyBooked; other quantity and assignment: 409 with each field', async () => {
    const booking = directBooking(world, { externalReference: `UF-RESEND-${world.suffix}` });
    const first = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    expect(first.status).toBe(201);
    // Key order and an absent optional field do not count as a difference.
    const reordered = Object.fromEntries(Object.entries(body(booking)).reverse());
    const same = await api.call('POST', '/v1/orders', { key: partnerKey, body: reordered });
    expect([same.status, same.body.alreadyBooked]).toEqual([200, true]);

    const changed = {
      ...body(booking),
      assignment: { kind: 'holding_account', accountId: world.holdingAccountId },
      lines: [booking.lines[0], { ...booking.lines[1], quantity: booking.lines[1].quantity + 1 }],
    };
    const conflict = await api.call('POST', '/v1/orders', { key: partnerKey, body: changed });
    expect([conflict.status, conflict.body.error]).toEqual([409, 'BookingConflict']);
    expect(conflict.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(
      ['assignment.accountId', 'assignment.kind', 'lines[1].quantity'].sort(),
    );
    expect(conflict.body.message).toContain(booking.externalReference);
    // Nothing changed on the order.
    const status = await api.call('GET', `/v1/orders/${first.body.orderId}`, { key: partnerKey });
    expect(status.body.lines[1].quantity).toBe(booking.lines[1].quantity);
    expect(status.body.assignment).toEqual({ kind: 'smart_account', accountId: world.smartAccountId });
  });
});

describe('a booking whose assignment is refused at once says so in its 201 (item 8)', () => {
  test.each([
    ['an unknown account', () => ({ kind: 'smart_account', accountId: `sa-nowhere-${world.suffix}` }), 'UnknownAccount'],
    [
      'a holding account given as the Smart Account',
      () => ({ kind: 'smart_account', accountId: world.holdingAccountId }),
      'NotAConsumptionTarget',
    ],
    [
      'a Smart Account the partner has no role on',
      () => ({ kind: 'smart_account', accountId: `sa-norole-${world.suffix}` }),
      'NotAuthorized',
    ],
  ])('%s', async (_name, assignment, refusal) => {
    await stack
      .db('accounts')
      .insert({
        id: `sa-norole-${world.suffix}`,
        kind: 'smart_account',
        name: 'No role',
        domain: `norole-${world.suffix}.test`,
        status: 'active',
      })
      .onConflict('id')
      .ignore();
    const reference = `UF-REFUSED-${refusal}-${world.suffix}`;
    const res = await api.call('POST', '/v1/orders', {
      key: partnerKey,
      body: { ...body(directBooking(world, { externalReference: reference })), assignment: assignment() },
    });
    expect(res.status).toBe(201);
    expect(res.body.assignmentRefused).toEqual({ error: refusal, message: expect.any(String) });
    // The order is kept: it waits for a valid assignment, with the same reason.
    const status = await waitForPhase(stack.client, res.body.workflowId, 'AwaitingSmartAccount');
    expect(status.waitingFor).toBe('Assignment');
    // A good booking has no such field.
    const ok = await api.call('POST', '/v1/orders', {
      key: partnerKey,
      body: body(directBooking(world, { externalReference: `UF-OK-${refusal}-${world.suffix}` })),
    });
    expect(ok.status).toBe(201);
    expect(ok.body).not.toHaveProperty('assignmentRefused');
  });
});

describe('the documented error bodies (item 9)', () => {
  test('malformed JSON: 400 ValidationFailed naming (body); an oversized body: 413', async () => {
    const notJson = await api.call('POST', '/v1/orders', { key: partnerKey, body: '{"externalReference": ' });
    expect(notJson.status).toBe(400);
    expect(notJson.body).toEqual({
      error: 'ValidationFailed',
      message: expect.any(String),
      errors: [{ field: '(body)', reason: expect.stringMatching(/^must be valid JSON/) }],
    });
    const huge = await api.call('POST', '/v1/orders', { key: partnerKey, body: JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }) });
    expect(huge.status).toBe(413);
    expect(huge.body).toEqual({ error: 'PayloadTooLarge', message: expect.stringMatching(/1 MiB/) });
  });

  test('a wrong API key and a missing one: both 401, each with its own message', async () => {
    const missing = await api.call('GET', '/v1/orders');
    const wrong = await api.call('GET', '/v1/orders', { key: `lfk_${'A'.repeat(43)}` });
    const malformed = await api.call('GET', '/v1/orders', { key: 'not-a-key' });
    for (const res of [missing, wrong, malformed]) {
      expect([res.status, res.body.error]).toEqual([401, 'Unauthorized']);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect(missing.body.message).toMatch(/required/);
    expect(wrong.body.message).toMatch(/not valid/);
    expect(malformed.body.message).toMatch(/not valid/);
    expect(wrong.body.message).not.toBe(missing.body.message);
  });

  test('the Smart Account search lower-cases the domain: ACME.com finds acme.com; a malformed one is still a 400', async () => {
    const upper = await api.call('GET', `/v1/smart-accounts?domain=${world.domain.toUpperCase()}`, { key: partnerKey });
    const lower = await api.call('GET', `/v1/smart-accounts?domain=${world.domain}`, { key: partnerKey });
    expect(upper.status).toBe(200);
    expect(lower.status).toBe(200);
    expect(upper.body).toEqual(lower.body);
    expect(upper.body.smartAccounts.map((a: { accountId: string }) => a.accountId)).toContain(world.smartAccountId);
    const malformed = await api.call('GET', '/v1/smart-accounts?domain=not_a_domain', { key: partnerKey });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([{ field: 'domain', reason: 'must be a domain name such as acme.com (any case)' }]);
  });
});

/** `orders get <orderId>` through the CLI's entry function, with its output captured. */
async function cliOrderView(orderId: string, key: string): Promise<{ code: number; stdout: string }> {
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const saved = { env: process.env, out: process.stdout.write };
  let stdout = '';
  process.env = { ...process.env, LICENSE_API_URL: api.baseUrl, LICENSE_API_KEY: key };
  process.stdout.write = (chunk: string | Uint8Array) => ((stdout += chunk.toString()), true);
  try {
    return { code: await runCli(['node', 'license-fulfillment', 'orders', 'get', orderId]), stdout };
  } finally {
    process.env = saved.env;
    process.stdout.write = saved.out;
  }
}

describe("a classic line's license key is visible to those who may see the order (item 4)", () => {
  test('GET /v1/orders/{id}, the CLI order view and the fulfilled email show it; another partner and holding members do not get it', async () => {
    const booking = heldBooking(world, { externalReference: `UF-CLASSIC-${world.suffix}`, lines: [PERPETUAL_LINE, CLASSIC_LINE] });
    const booked = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    await waitForPhase(stack.client, booked.body.workflowId, 'AwaitingSmartAccount');
    const { orderId } = booked.body;
    const assigned = await api.call('POST', `/v1/orders/${orderId}/assignment`, {
      key: partnerKey,
      body: { accountId: world.smartAccountId },
    });
    expect(assigned.status).toBe(200);
    for (const lineNumber of [1, 3]) {
      await api.call('POST', `/v1/orders/${orderId}/shipments`, { key: partnerKey, body: { lineNumber, shippedOn: '2026-11-23' } });
    }
    await waitForPhase(stack.client, booked.body.workflowId, 'Fulfilled');
    const [record] = await stack
      .db('lrp_records as r')
      .join('order_lines as l', 'l.id', 'r.order_line_id')
      .where('l.order_id', orderId)
      .select('l.line_number', 'r.license_key');
    expect(record).toEqual({ line_number: 3, license_key: expect.stringMatching(/^LRP-/) });

    const seen = await api.call('GET', `/v1/orders/${orderId}`, { key: partnerKey });
    expect(seen.status).toBe(200);
    expect(seen.body.lines[1]).toMatchObject({
      lineNumber: 3,
      licenseType: 'classic',
      state: 'provisioned',
      licenseKey: record.license_key,
    });
    expect(seen.body.lines[0]).not.toHaveProperty('licenseKey');
    const otherKey = await api.keyFor('partner', world.otherPartnerId);
    const other = await api.call('GET', `/v1/orders/${orderId}`, { key: otherKey });
    expect(other.status).toBe(403);
    expect(JSON.stringify(other.body)).not.toContain(record.license_key);

    const view = await cliOrderView(orderId, partnerKey);
    expect(view.code).toBe(0);
    expect(view.stdout).toMatch(/LICENSE KEY/);
    expect(view.stdout).toMatch(new RegExp(`^\\s+3\\s+ASA5506-SEC-BUN\\s.*provisioned.*${record.license_key}$`, 'm'));

    const mails = await waitForMail(mailOf(orderId, 'order-fulfilled'), 3);
    const [customerMail] = mailFor(world.customerEmail, mails);
    expect(customerMail.text).toContain(
      `3. ASA5506-SEC-BUN x 1 (classic, perpetual), provisioned, shipped 2026-11-23, license key ${record.license_key}`,
    );
    expect(customerMail.html).toContain(record.license_key);
    expect(mailFor(world.partnerEmail, mails)[0].text).toContain(record.license_key);
    const [memberMail] = mailFor(world.holdingMemberEmail, mails);
    expect(memberMail.text).toContain('3. ASA5506-SEC-BUN x 1 (classic, perpetual), provisioned');
    expect(memberMail.text).not.toContain(record.license_key);
    expect(memberMail.html).not.toContain(record.license_key);
  });
});
