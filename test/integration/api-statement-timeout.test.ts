/**
 * A request never hangs inside Postgres: the API's connections carry statement_timeout
 * (API_DATABASE_STATEMENT_TIMEOUT), so a usage report that waits on a row another session holds
 * locked is answered 503 DatabaseBusy with Retry-After once the timeout passes, having written
 * nothing; once the lock is gone, the same report ID is answered and counted once. Workers'
 * connections carry no such bound.
 */
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/api/errors';
import { buildApi } from '../../src/api/server';
import { loadConfig } from '../../src/config';
import { createDb } from '../../src/db/knex';
import { DeviceApiError, DeviceClient } from '../../src/device-client';
import { createLogger } from '../../src/logging';
import { useTestApi } from '../helpers/api';
import { createToken, newDevice, poolOf, provisionLicenses, smartLine } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-TIMEOUT';
const STATEMENT_TIMEOUT = '500ms';

/** The API as workers/api.ts builds it: its own knex, with the session timeouts read from the environment. */
async function apiWithStatementTimeout() {
  const timeouts = loadConfig({ API_DATABASE_STATEMENT_TIMEOUT: STATEMENT_TIMEOUT }).apiDatabaseTimeouts;
  const db = createDb(stack.config.databaseUrl, 2, undefined, timeouts);
  const app = await buildApi({ db, client: stack.client, config: stack.config, logger: createLogger('api-test', 'ERROR') });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { db, baseUrl, close: async () => (await app.close(), await db.destroy()) };
}

test('a report waiting on a locked instance gets 503 DatabaseBusy within the timeout, writes nothing, and counts once when sent again', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 5)], `PO-${world.suffix}`);
  const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
  const device = newDevice(api, world, 'locked');
  await device.client.register(token, device.identity);
  await device.client.signingKeys();
  const instanceId = device.client.state.instanceId!;
  const poolBefore = await poolOf(stack.db, world.smartAccountId, 'Finance', SKU);

  const busy = await apiWithStatementTimeout();
  const holder = createDb(stack.config.databaseUrl, 1);
  try {
    expect((await busy.db.raw('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: STATEMENT_TIMEOUT }]);
    expect((await busy.db.raw('SHOW idle_in_transaction_session_timeout')).rows).toEqual([{ idle_in_transaction_session_timeout: '30s' }]);
    const reporter = new DeviceClient({ baseUrl: busy.baseUrl, state: device.client.state, attempts: 1 });

    // Another session (a stuck transaction) holds the instance's row.
    const lock = await holder.transaction();
    try {
      await lock.raw('SELECT id FROM product_instances WHERE id = ? FOR UPDATE', [instanceId]);
      const sentAt = Date.now();
      const failed = await reporter.report({ [SKU]: 3 }).catch((err: unknown) => err);
      const waitedMs = Date.now() - sentAt;
      expect(failed).toBeInstanceOf(DeviceApiError);
      expect(failed).toMatchObject({ status: 503, code: 'DatabaseBusy', retryAfterMs: DATABASE_RETRY_AFTER_SECONDS * 1000 });
      expect(waitedMs).toBeGreaterThanOrEqual(450);
      expect(waitedMs).toBeLessThan(1_500);
      expect(await stack.db('usage_reports').where({ instance_id: instanceId }).count({ n: '*' })).toEqual([{ n: '0' }]);
      expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual(poolBefore);
    } finally {
      await lock.rollback();
    }

    // The lock is gone: the pending report goes again under its ID, and is counted once.
    const pendingId = device.client.state.pendingReport!.reportId;
    const answer = await reporter.report({ [SKU]: 3 });
    expect(answer.reportId).toBe(pendingId);
    expect(await reporter.report({ [SKU]: 3 }, { reportId: pendingId })).toEqual(answer);
    expect(await stack.db('usage_reports').where({ instance_id: instanceId }).pluck('report_id')).toEqual([pendingId]);
    expect(await poolOf(stack.db, world.smartAccountId, 'Finance', SKU)).toEqual({ purchased: 5, authorized: 3, overage: 0, unserved: 0 });
  } finally {
    await holder.destroy();
    await busy.close();
  }
});

test("a worker's knex (createDb without timeouts) has no statement or idle-in-transaction timeout", async () => {
  const worker = createDb(stack.config.databaseUrl, 1);
  try {
    expect((await worker.raw('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: '0' }]);
    expect((await worker.raw('SHOW idle_in_transaction_session_timeout')).rows).toEqual([{ idle_in_transaction_session_timeout: '0' }]);
  } finally {
    await worker.destroy();
  }
});
