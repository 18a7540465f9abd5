/**
 * Load shedding (issue 18 item 2), on the real app over the real stack: past its bound an API
 * answers 503 Overloaded with Retry-After at once, before doing anything, while /healthz and
 * /readyz keep answering; and nothing it accepted is lost: every booking answered 201 under
 * overload is an order in Postgres, no shed one is, and a shed one sent again is booked. Each test
 * builds an API of its own with a low bound.
 */
import { request as httpRequest } from 'node:http';
import type { Config } from '../../src/config';
import { startTestApi, type TestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { apiBody, directBooking, pollUntil } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
let world: TestWorld;
let partnerKey: string;

function apiShedding(shedding: Partial<Config['loadShedding']>): Promise<TestApi> {
  return startTestApi(stack, {
    configure: (config) => ({
      ...config,
      loadShedding: { maxInFlight: 0, maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0, retryAfterS: 3, ...shedding },
    }),
  });
}

async function using<T>(api: TestApi, work: (api: TestApi) => Promise<T>): Promise<T> {
  try {
    return await work(api);
  } finally {
    await api.close();
  }
}

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  const api = await startTestApi(stack);
  partnerKey = await api.keyFor('partner', world.partnerId);
  await api.close();
});

const bookingOf = (reference: string) => apiBody(directBooking(world, { externalReference: reference }));

/**
 * A booking that holds a place in flight: its body's first bytes are sent and the rest waits for
 * `finish`, so the API counts it under way for as long as the test needs.
 */
function holdBooking(api: TestApi, reference: string): { finish: () => void; status: Promise<number> } {
  const body = JSON.stringify(bookingOf(reference));
  const request = httpRequest(`${api.baseUrl}/v1/orders`, {
    method: 'POST',
    headers: { authorization: `Bearer ${partnerKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const status = new Promise<number>((resolve, reject) => {
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
  request.write(body.slice(0, 10));
  return { finish: () => request.end(body.slice(10)), status };
}

async function ordersBooked(references: string[]): Promise<string[]> {
  return stack
    .db('orders')
    .where('booked_by_partner_id', world.partnerId)
    .whereIn('external_reference', references)
    .pluck('external_reference');
}

test('in flight: with one request under way the next is 503 Overloaded with Retry-After; health answers; the one under way completes', async () => {
  await using(await apiShedding({ maxInFlight: 1 }), async (api) => {
    // A booking whose body is still arriving holds the one place.
    const held = holdBooking(api, `SHED-HELD-${world.suffix}`);
    const shed = await pollUntil(
      () => api.call('GET', '/v1/orders?limit=1', { key: partnerKey }),
      (answer) => answer.status === 503,
      'a second request shed',
      5_000,
    );
    expect(shed.headers.get('retry-after')).toBe('3');
    expect(shed.body).toEqual({
      error: 'Overloaded',
      message: 'this API server is overloaded (1 requests in flight); nothing was done: send the same request again in 3 s',
    });
    expect((await api.call('GET', '/healthz')).status).toBe(200);
    expect((await api.call('GET', '/readyz')).status).toBe(200);

    held.finish();
    expect(await held.status).toBe(201);
    expect((await api.call('GET', '/v1/orders?limit=1', { key: partnerKey })).status).toBe(200);
  });
});

test('heap: above API_MAX_HEAP_USED every route but health is shed, the API as JSON, the pages as a page', async () => {
  await using(await apiShedding({ maxHeapUsedBytes: 1 }), async (api) => {
    // The heap is sampled once a second.
    const shed = await pollUntil(
      () => api.call('GET', '/v1/orders?limit=1', { key: partnerKey }),
      (answer) => answer.status === 503,
      'a request shed',
      5_000,
    );
    expect(shed.headers.get('retry-after')).toBe('3');
    expect(shed.body).toMatchObject({ error: 'Overloaded', message: expect.stringContaining('its memory is nearly used up') });
    const page = await fetch(`${api.baseUrl}/sign-in`);
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('3');
    expect(await page.text()).toContain('Please try again');
    expect((await api.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await api.call('GET', '/readyz')).status).toBe(200);
  });
});

test('nothing accepted is lost: 17 bookings at once while 3 are in flight; every 201 is an order in Postgres, no 503 is, and a 503 sent again is booked', async () => {
  await using(await apiShedding({ maxInFlight: 3 }), async (api) => {
    const references = Array.from({ length: 20 }, (_, i) => `SHED-${world.suffix}-${i}`);
    // Three bookings hold the three places (their bodies still arriving), so the overload does not
    // depend on how fast the others are answered.
    const held = references.slice(0, 3).map((reference) => holdBooking(api, reference));
    await pollUntil(
      () => api.call('GET', '/v1/orders?limit=1', { key: partnerKey }),
      (answer) => answer.status === 503,
      'the three places taken',
      5_000,
    );
    const answers = await Promise.all(
      references.slice(3).map(async (reference) => ({
        reference,
        status: (await api.call('POST', '/v1/orders', { key: partnerKey, body: bookingOf(reference) })).status,
      })),
    );
    for (const booking of held) booking.finish();
    const heldStatuses = await Promise.all(held.map((booking) => booking.status));
    expect(heldStatuses).toEqual([201, 201, 201]);
    const accepted = references.slice(0, 3);
    const shed = answers.filter((a) => a.status === 503).map((a) => a.reference);
    expect(shed).toEqual(references.slice(3));

    // The worker records each accepted booking shortly after its 201.
    await pollUntil(
      () => ordersBooked(accepted),
      (found) => found.length === accepted.length,
      'every accepted booking in Postgres',
      60_000,
    );
    expect(await ordersBooked(shed)).toEqual([]);
    const started = await stack.client.workflow.count(`WorkflowType = "orderFulfillment" AND TaskQueue = "${stack.taskQueue}"`);
    expect(started.count).toBeGreaterThanOrEqual(accepted.length);

    for (const reference of shed) {
      expect((await api.call('POST', '/v1/orders', { key: partnerKey, body: bookingOf(reference) })).status).toBe(201);
    }
    await pollUntil(
      () => ordersBooked(references),
      (found) => found.length === 20,
      'every booking in Postgres',
      60_000,
    );
  });
});
