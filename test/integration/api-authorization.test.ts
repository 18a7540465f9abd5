/**
 * Who may do what to an order through the API, as a matrix (R10, R11): the order's partner, its
 * distributor, an unrelated partner, an unrelated distributor, an operator; no key, a malformed
 * key, an unknown key and a revoked key. Each cell is a real request against the real stack; a
 * refused request changes nothing.
 */
import { createApiKey, revokeApiKey } from '../../src/api/auth';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { entitlementsOf, heldBooking, waitForPhase } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

type Who = 'partner' | 'distributor' | 'otherPartner' | 'otherDistributor' | 'operator';
const WHO: Who[] = ['partner', 'distributor', 'otherPartner', 'otherDistributor', 'operator'];

let world: TestWorld;
const keys = {} as Record<Who, string>;
let orderId: string;
let workflowId: string;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  const otherDistributorId = `other-distributor-${world.suffix}`;
  await stack.db('partners').insert({
    id: otherDistributorId,
    name: 'Other distributor',
    kind: 'distributor',
    notification_email: `ops@${otherDistributorId}.test`,
  });
  keys.partner = await api.keyFor('partner', world.partnerId);
  keys.distributor = await api.keyFor('distributor', world.distributorId);
  keys.otherPartner = await api.keyFor('partner', world.otherPartnerId);
  keys.otherDistributor = await api.keyFor('distributor', otherDistributorId);
  keys.operator = await api.keyFor('operator');
  const { bookedByPartnerId: _b, ...booking } = heldBooking(world, { externalReference: `AUTHZ-${world.suffix}` });
  const res = await api.call('POST', '/v1/orders', { key: keys.partner, body: booking });
  expect(res.status).toBe(201);
  ({ orderId, workflowId } = res.body);
  await waitForPhase(stack.client, workflowId, 'AwaitingSmartAccount');
});

describe('reading an order', () => {
  const expected: Record<Who, number> = { partner: 200, distributor: 200, otherPartner: 403, otherDistributor: 403, operator: 200 };
  test.each(WHO)('GET /v1/orders/:id as %s', async (who) => {
    const res = await api.call('GET', `/v1/orders/${orderId}`, { key: keys[who] });
    expect(res.status).toBe(expected[who]);
    if (res.status === 403) expect(res.body).toEqual({ error: 'Forbidden', message: expect.stringContaining('another partner') });
    else expect(res.body.orderId).toBe(orderId);
  });

  const listed: Record<Who, boolean> = { partner: true, distributor: true, otherPartner: false, otherDistributor: false, operator: true };
  test.each(WHO)('GET /v1/orders lists it as %s: only if visible', async (who) => {
    const res = await api.call('GET', `/v1/orders?holdingAccountId=${world.holdingAccountId}`, { key: keys[who] });
    expect(res.status).toBe(200);
    expect(res.body.orders.some((o: { orderId: string }) => o.orderId === orderId)).toBe(listed[who]);
  });
});

describe("the order's emails (GET /v1/emails, POST /v1/emails/{id}/resend)", () => {
  beforeAll(async () => {
    // The transfer-needed email goes out with the step that held the order: wait until it is sent.
    const deadline = Date.now() + 20_000;
    while (!(await stack.db('email_outbox').where({ order_id: orderId, status: 'sent' }).first('id')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  const listed: Record<Who, boolean> = { partner: true, distributor: true, otherPartner: false, otherDistributor: false, operator: true };
  test.each(WHO)('GET /v1/emails?orderId lists them as %s: only if the order is visible', async (who) => {
    const res = await api.call('GET', `/v1/emails?status=sent&orderId=${orderId}`, { key: keys[who] });
    expect(res.status).toBe(200);
    expect(res.body.emails.length > 0).toBe(listed[who]);
  });

  // A sent email: who may act gets 409 (only a failed one is resent), an outsider 403 before that.
  const resend: Record<Who, number> = { partner: 409, distributor: 409, otherPartner: 403, otherDistributor: 403, operator: 409 };
  test.each(WHO)('POST /v1/emails/{id}/resend as %s', async (who) => {
    const email = await stack.db('email_outbox').where({ order_id: orderId, status: 'sent' }).first('id');
    const res = await api.call('POST', `/v1/emails/${email.id}/resend`, { key: keys[who], body: {} });
    expect(res.status).toBe(resend[who]);
  });
});

describe("acting on someone else's order is refused and changes nothing", () => {
  test.each(['otherPartner', 'otherDistributor'] as Who[])('%s: assign, ship and cancel are 403', async (who) => {
    const assign = await api.call('POST', `/v1/orders/${orderId}/assignment`, {
      key: keys[who],
      body: { accountId: world.smartAccountId },
    });
    const ship = await api.call('POST', `/v1/orders/${orderId}/shipments`, {
      key: keys[who],
      body: { lineNumber: 1, shippedOn: '2026-11-20' },
    });
    const cancel = await api.call('POST', `/v1/orders/${orderId}/cancellation`, { key: keys[who], body: {} });
    expect([assign.status, ship.status, cancel.status]).toEqual([403, 403, 403]);
    const status = await api.call('GET', `/v1/orders/${orderId}`, { key: keys.operator });
    expect(status.body.phase).toBe('AwaitingSmartAccount');
    expect(status.body.lines.map((l: { state: string }) => l.state)).toEqual(['held', 'held']);
    expect((await entitlementsOf(stack.db, orderId)).map((e) => e.account_id)).toEqual([world.holdingAccountId, world.holdingAccountId]);
  });

  test("the distributor may act on its reseller's order, but needs its own role on the customer account (R11)", async () => {
    const res = await api.call('POST', `/v1/orders/${orderId}/assignment`, {
      key: keys.distributor,
      body: { accountId: world.smartAccountId },
    });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('NotAuthorized');
    expect(res.body.message).toContain(world.distributorId);
  });

  test('a partner key cannot act as another partner', async () => {
    const res = await api.call('POST', `/v1/orders/${orderId}/assignment`, {
      key: keys.partner,
      body: { accountId: world.smartAccountId, actingPartnerId: world.distributorId },
    });
    expect(res.status).toBe(403);
  });
});

describe('booking for whom', () => {
  const booking = (ref: string, extra: Record<string, unknown> = {}) => {
    const { bookedByPartnerId: _b, ...rest } = heldBooking(world, { externalReference: ref });
    return { ...rest, ...extra };
  };

  test('a partner books for itself only', async () => {
    const asOther = await api.call('POST', '/v1/orders', {
      key: keys.partner,
      body: booking(`AUTHZ-P1-${world.suffix}`, { bookedByPartnerId: world.otherPartnerId }),
    });
    expect(asOther.status).toBe(403);
    const forOther = await api.call('POST', '/v1/orders', {
      key: keys.partner,
      body: booking(`AUTHZ-P2-${world.suffix}`, { partnerId: world.otherPartnerId }),
    });
    expect(forOther.status).toBe(403);
  });

  test('a distributor books for its reseller, not for another partner (R10)', async () => {
    const forReseller = await api.call('POST', '/v1/orders', {
      key: keys.distributor,
      body: booking(`AUTHZ-D1-${world.suffix}`, { partnerId: world.partnerId }),
    });
    expect(forReseller.status).toBe(201);
    const status = await waitForPhase(stack.client, forReseller.body.workflowId, 'AwaitingSmartAccount');
    expect(status).toMatchObject({ partnerId: world.partnerId, bookedByPartnerId: world.distributorId });
    const forStranger = await api.call('POST', '/v1/orders', {
      key: keys.distributor,
      body: booking(`AUTHZ-D2-${world.suffix}`, { partnerId: world.otherPartnerId }),
    });
    expect(forStranger.status).toBe(403);
    // The reseller sees the order its distributor booked for it.
    expect((await api.call('GET', `/v1/orders/${forReseller.body.orderId}`, { key: keys.partner })).status).toBe(200);
  });

  test('an operator must say who books', async () => {
    const res = await api.call('POST', '/v1/orders', { key: keys.operator, body: booking(`AUTHZ-O1-${world.suffix}`) });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'bookedByPartnerId', reason: 'is required with an operator key' }]);
  });
});

describe('keys', () => {
  test.each([
    ['no Authorization header', undefined],
    ['a malformed key', 'Bearer not-a-key'],
    ['an unknown key', `Bearer lfk_${'A'.repeat(43)}`],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
  ])('%s is a 401 with WWW-Authenticate', async (_name, authorization) => {
    const res = await fetch(`${api.baseUrl}/v1/orders/${orderId}`, { headers: authorization ? { authorization } : {} });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.json()).toMatchObject({ error: 'Unauthorized' });
  });

  test('a revoked key stops working at once', async () => {
    const { id, key } = await createApiKey(stack.db, { role: 'partner', partnerId: world.partnerId, label: 'to revoke' });
    expect((await api.call('GET', `/v1/orders/${orderId}`, { key })).status).toBe(200);
    expect(await revokeApiKey(stack.db, id)).toBe(true);
    expect((await api.call('GET', `/v1/orders/${orderId}`, { key })).status).toBe(401);
  });

  test('keys are stored hashed: the database holds no key in clear', async () => {
    const { id, key } = await createApiKey(stack.db, { role: 'operator', label: 'hash check' });
    const row = await stack.db('api_keys').where({ id }).first();
    expect(JSON.stringify(row)).not.toContain(key.slice(4));
    expect(Buffer.isBuffer(row.key_hash) && row.key_hash.length).toBe(32);
  });

  test("a key's role must match its partner's kind", async () => {
    await expect(createApiKey(stack.db, { role: 'distributor', partnerId: world.partnerId, label: 'x' })).rejects.toThrow(/role/);
    await expect(createApiKey(stack.db, { role: 'operator', partnerId: world.partnerId, label: 'x' })).rejects.toThrow(/partnerId/);
    await expect(createApiKey(stack.db, { role: 'partner', partnerId: `nobody-${world.suffix}`, label: 'x' })).rejects.toThrow(
      /does not exist/,
    );
  });
});
