/**
 * Orders through the API beyond the authorization matrix (authorization-matrix.test.ts): why a
 * refusal is refused (R10, R11), booking for whom, and keys (malformed, unknown, another scheme,
 * revoked, stored hashed, bound to their partner's kind).
 */
import { authenticate, createApiKey, revokeApiKey } from '../../src/api/auth';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { heldBooking, waitForPhase } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

type Who = 'partner' | 'distributor' | 'operator';

let world: TestWorld;
const keys = {} as Record<Who, string>;
let orderId: string;
let workflowId: string;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  keys.partner = await api.keyFor('partner', world.partnerId);
  keys.distributor = await api.keyFor('distributor', world.distributorId);
  keys.operator = await api.keyFor('operator');
  const { bookedByPartnerId: _b, ...booking } = heldBooking(world, { externalReference: `AUTHZ-${world.suffix}` });
  const res = await api.call('POST', '/v1/orders', { key: keys.partner, body: booking });
  expect(res.status).toBe(201);
  ({ orderId, workflowId } = res.body);
  await waitForPhase(stack.client, workflowId, 'AwaitingSmartAccount');
});

// Who reads, lists, assigns, ships and cancels an order is in authorization-matrix.test.ts (every route × every caller).
describe("acting on someone else's order", () => {
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

  test('a key revoked in this process stops working at once (elsewhere: security.test.ts, within VERIFIED_KEY_TTL_MS)', async () => {
    const { id, key } = await createApiKey(stack.db, { role: 'partner', partnerId: world.partnerId, label: 'to revoke' });
    expect((await api.call('GET', `/v1/orders/${orderId}`, { key })).status).toBe(200);
    expect(await revokeApiKey(stack.db, id)).toBe(true);
    expect((await api.call('GET', `/v1/orders/${orderId}`, { key })).status).toBe(401);
  });

  test('requests of one key that arrive together share one lookup; one after a revocation does not join it', async () => {
    const { id, key } = await createApiKey(stack.db, { role: 'partner', partnerId: world.partnerId, label: 'busy caller' });
    let statements = 0;
    const count = () => statements++;
    stack.db.on('query', count);
    try {
      // A new key: not remembered yet, so all ten miss at once.
      const principals = await Promise.all(Array.from({ length: 10 }, () => authenticate(stack.db, `Bearer ${key}`)));
      expect(principals.every((p) => p?.role === 'partner' && p.keyId === id)).toBe(true);
      expect(statements).toBe(1);
    } finally {
      stack.db.off('query', count);
    }

    const other = await createApiKey(stack.db, { role: 'partner', partnerId: world.partnerId, label: 'revoked while looked up' });
    const before = authenticate(stack.db, `Bearer ${other.key}`);
    expect(await revokeApiKey(stack.db, other.id)).toBe(true);
    expect(await authenticate(stack.db, `Bearer ${other.key}`)).toBeUndefined();
    await before;
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
