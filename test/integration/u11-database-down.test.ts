/**
 * A device reporting while Postgres cannot be reached (R17): the API answers 503 with Retry-After
 * and a clear error, the device client waits as told (bounded) and retries; once the database is
 * back, the same report ID is counted once.
 */
import { buildApi } from '../../src/api/server';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/api/errors';
import { createDb } from '../../src/db/knex';
import { freePort } from '../../src/dev/free-port';
import { DeviceApiError, DeviceClient } from '../../src/device-client';
import { createLogger } from '../../src/logging';
import { useTestApi } from '../helpers/api';
import { createToken, newDevice, poolOf, provisionLicenses, smartLine } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-E-PERP';

/** The same API, whose database is a port where nothing listens: Postgres stopped. */
async function apiWithoutDatabase() {
  const db = createDb(`postgres://postgres@127.0.0.1:${await freePort()}/gone`, 2, { warn: () => undefined, error: () => undefined });
  const app = await buildApi({ db, client: stack.client, config: stack.config, logger: createLogger('api-test', 'ERROR') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { baseUrl, close: async () => (await app.close(), await db.destroy()) };
}

test('Postgres unreachable: a usage report gets 503 DatabaseUnavailable with Retry-After; the retry after it returns counts once', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 5)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const device = newDevice(api, world, 'outage');
  await device.client.register(token, device.identity);
  await device.client.signingKeys();
  const down = await apiWithoutDatabase();
  try {
    // What the device is told, as the service answers it.
    const raw = await fetch(`${down.baseUrl}/v1/devices/${device.client.state.instanceId}/usage-reports`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...device.client.signedHeaders(
          'POST',
          `/v1/devices/${device.client.state.instanceId}/usage-reports`,
          '{"reportId":"raw-1","usage":{}}',
        ),
      },
      body: '{"reportId":"raw-1","usage":{}}',
    });
    expect(raw.status).toBe(503);
    expect(raw.headers.get('retry-after')).toBe(String(DATABASE_RETRY_AFTER_SECONDS));
    expect(await raw.json()).toEqual({
      error: 'DatabaseUnavailable',
      message: expect.stringMatching(/database cannot be reached.*again in 5 s/),
    });

    // The device client waits as told, capped by its own bound, then gives up after its attempts.
    const sentAt: number[] = [];
    const outage = new DeviceClient({
      baseUrl: down.baseUrl,
      state: device.client.state,
      attempts: 2,
      maxRetryAfterMs: 400,
      fetch: (input, init) => (sentAt.push(Date.now()), fetch(input, init)),
    });
    const failed = await outage.report({ [SKU]: 3 }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(DeviceApiError);
    expect(failed).toMatchObject({ status: 503, code: 'DatabaseUnavailable', retryAfterMs: DATABASE_RETRY_AFTER_SECONDS * 1000 });
    expect(sentAt).toHaveLength(2);
    expect(sentAt[1] - sentAt[0]).toBeGreaterThanOrEqual(390);
    expect(await stack.db('usage_reports').where({ instance_id: device.client.state.instanceId }).count({ n: '*' })).toEqual([{ n: '0' }]);
  } finally {
    await down.close();
  }

  // The database is back: the pending report goes again under its ID, and is counted once.
  const pendingId = device.client.state.pendingReport!.reportId;
  const answer = await device.client.report({ [SKU]: 3 });
  expect(answer.reportId).toBe(pendingId);
  expect(await device.client.report({ [SKU]: 3 }, { reportId: pendingId })).toEqual(answer);
  expect(await stack.db('usage_reports').where({ instance_id: device.client.state.instanceId }).pluck('report_id')).toEqual([pendingId]);
  expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 5, authorized: 3, overage: 0, unserved: 0 });
});
