/**
 * Rate limits (issue 18 item 2), on the real app over the real stack: per API key on /v1 (another
 * key unaffected), per device credential (another device unaffected; what was accepted is in
 * Postgres, what was refused is not), per client IP on device registration and on the sign-in
 * pages. Each test builds an API of its own with a small limit; the counters live in that app.
 */
import type { Config, RateLimit } from '../../src/config';
import { DeviceApiError } from '../../src/device-client';
import { startTestApi, type TestApi } from '../helpers/api';
import { createToken, depositElsewhere, newDevice } from '../helpers/devices';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
let world: TestWorld;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  // The SKU the devices report exists: a report of one no license exists of is refused.
  await depositElsewhere(stack, 'C9300-DNA-E-3Y');
});

/** An API whose limits are the stack's (generous) but for `limits`. */
async function apiWith(limits: Partial<Config['rateLimits']>): Promise<TestApi> {
  return startTestApi(stack, { configure: (config) => ({ ...config, rateLimits: { ...config.rateLimits, ...limits } }) });
}

const perMinute = (max: number): RateLimit => ({ max, timeWindowMs: 60_000 });

async function with429<T>(api: TestApi, work: (api: TestApi) => Promise<T>): Promise<T> {
  try {
    return await work(api);
  } finally {
    await api.close();
  }
}

test('per API key: the 4th request of a key in the window is 429 with Retry-After; another key is not counted with it', async () => {
  await with429(await apiWith({ perApiKey: perMinute(3) }), async (api) => {
    const [first, second] = [await api.keyFor('partner', world.partnerId), await api.keyFor('partner', world.partnerId)];
    for (let i = 1; i <= 3; i++) {
      const answer = await api.call('GET', '/v1/orders?limit=1', { key: first });
      expect({ i, status: answer.status }).toEqual({ i, status: 200 });
      expect(answer.headers.get('x-ratelimit-remaining')).toBe(String(3 - i));
    }
    const throttled = await api.call('GET', '/v1/orders?limit=1', { key: first });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(throttled.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(throttled.body).toEqual({
      error: 'TooManyRequests',
      message: expect.stringMatching(/^too many requests for this API key: at most 3 per 1 min on this API server; .* again in \d+/),
    });
    // A booking is refused the same way, before anything is done.
    const booking = await api.call('POST', '/v1/orders', { key: first, body: { externalReference: 'X' } });
    expect(booking.status).toBe(429);

    expect((await api.call('GET', '/v1/orders?limit=1', { key: second })).status).toBe(200);
    // Not a key's limit: health is never counted.
    expect((await api.call('GET', '/healthz')).status).toBe(200);
  });
});

test('per device credential: the 3rd report in the window is 429 (opening the session counted); a new session has no fresh allowance; the 2 accepted are in Postgres, the refused one is not; another device reports', async () => {
  await with429(await apiWith({ perDeviceCredential: perMinute(3) }), async (api) => {
    const operator = await api.keyFor('operator');
    const { token } = await createToken(api, operator, world.smartAccountId, { virtualAccountPath: 'Finance' });
    const [busy, quiet] = [newDevice(api, world, 'busy'), newDevice(api, world, 'quiet')];
    const { instanceId } = await busy.client.register(token, busy.identity);
    await quiet.client.register(token, quiet.identity);

    // The session's opening (signed with the credential), then two reports on it: three requests of one credential.
    await busy.client.report({ 'C9300-DNA-E-3Y': 1 }, { reportId: 'r-1' });
    await busy.client.report({ 'C9300-DNA-E-3Y': 2 }, { reportId: 'r-2' });
    const refused = await busy.client.report({ 'C9300-DNA-E-3Y': 3 }, { reportId: 'r-3' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DeviceApiError);
    expect(refused).toMatchObject({ status: 429, code: 'TooManyRequests', message: expect.stringContaining('this device credential') });
    expect((refused as DeviceApiError).retryAfterMs).toBeGreaterThan(0);
    // A session counts against the credential that opened it: opening another is refused the same.
    expect(await busy.client.openSession().catch((err: unknown) => err)).toMatchObject({ status: 429, code: 'TooManyRequests' });

    const stored = await stack.db('usage_reports').where({ instance_id: instanceId }).orderBy('report_id').pluck('report_id');
    expect(stored).toEqual(['r-1', 'r-2']);
    await expect(quiet.client.report({ 'C9300-DNA-E-3Y': 1 })).resolves.toMatchObject({ instanceId: expect.any(String) });
  });
});

test('per client IP on device registration: the 3rd attempt from one address is 429, whatever the token', async () => {
  await with429(await apiWith({ deviceRegistrationPerIp: perMinute(2) }), async (api) => {
    const guess = (n: number) =>
      api.call('POST', '/v1/devices/registrations', {
        body: {
          token: `lrt_${'A'.repeat(42)}${n}`,
          productId: 'C9300-48P',
          serialNumber: `GUESS-${n}`,
          hostname: 'guess.test',
          publicKey: 'A'.repeat(43),
        },
      });
    expect([(await guess(1)).status, (await guess(2)).status]).not.toContain(429);
    const throttled = await guess(3);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(throttled.body).toMatchObject({ error: 'TooManyRequests', message: expect.stringContaining('this client address') });
  });
});

test('per client IP on the sign-in pages: past the limit a 429 page with Retry-After, for sign-in and user registration alike', async () => {
  await with429(await apiWith({ signInPerIp: perMinute(2) }), async (api) => {
    for (let i = 1; i <= 2; i++) expect((await fetch(`${api.baseUrl}/sign-in`)).status).toBe(200);
    for (const path of ['/sign-in', '/people/register']) {
      const page = await fetch(`${api.baseUrl}${path}`);
      expect({ path, status: page.status }).toEqual({ path, status: 429 });
      expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await page.text()).toContain('Too many requests');
    }
  });
});
