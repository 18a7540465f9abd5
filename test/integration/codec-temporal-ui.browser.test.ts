/**
 * Operators read payloads out of the box (R14). A Temporal dev server started as `npm start`
 * starts it (its UI's codec endpoint `<API>/codec/ui/<operator key>`) shows a sealed order's
 * input decoded in a real Chromium, with no sign-in; the endpoint answers the UI's origin only,
 * and only with a valid operator key. The README's CLI query through the codec endpoint prints
 * the order's status, not a sealed blob (the CLI sends `{}` for a query without arguments).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { Browser } from 'playwright-core';
import { createApiKey, revokeApiKey } from '../../src/api/auth';
import { buildApi } from '../../src/api/server';
import { launchChromium } from '../../src/dev/chromium';
import { freePort } from '../../src/dev/free-port';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/dev/temporal-dev-server';
import { createLogger } from '../../src/logging';
import { orderWorkflowId } from '../../src/orders/workflow-api';
import { dataConverterFor } from '../../src/temporal/connect';
import { createTestWorld } from '../helpers/fixtures';
import { book, directBooking, waitForPhase } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const run = promisify(execFile);
const stack = useTestStack(__filename);
const cli = () => {
  if (!process.env.TEMPORAL_CLI) throw new Error('TEMPORAL_CLI is not set: run the tests with npm test (scripts/test.sh sets it)');
  return process.env.TEMPORAL_CLI;
};

let server: TemporalDevServer;
let uiUrl: string;
let apiBase: string;
let uiKey: string;
let app: Awaited<ReturnType<typeof buildApi>>;

beforeAll(async () => {
  const [port, uiPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  uiUrl = `http://127.0.0.1:${uiPort}`;
  apiBase = `http://127.0.0.1:${apiPort}`;
  uiKey = (await createApiKey(stack.db, { role: 'operator', label: 'test Temporal UI codec key' })).key;
  server = await startTemporalDevServer({
    binary: cli(),
    port,
    uiPort,
    uiCodecEndpoint: `${apiBase}/codec/ui/${uiKey}`,
    logFile: join(process.env.TEST_MAIL_DIR ?? '/tmp', '..', `temporal-ui-${port}.log`),
  });
  const config = { ...stack.config, temporal: { ...stack.config.temporal, uiUrl }, publicBaseUrl: apiBase };
  app = await buildApi({ db: stack.db, client: stack.client, config, logger: createLogger('api-test', 'ERROR') });
  await app.listen({ host: '127.0.0.1', port: apiPort });
}, 90_000);

afterAll(async () => {
  await app?.close();
  await server?.stop();
});

const decodeVia = (path: string, headers: Record<string, string> = {}, body: unknown = { payloads: [] }) =>
  fetch(`${apiBase}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

test('the Temporal UI of the dev server shows a sealed order input decoded, with no sign-in', async () => {
  const reference = `UI-${uniqueSuffix()}`;
  // Started on a task queue nobody polls: the UI reads the input from the start event.
  const connection = await Connection.connect({ address: server.address });
  const workflowId = orderWorkflowId(`ui${uniqueSuffix()}`);
  try {
    const client = new Client({ connection, namespace: 'default', dataConverter: dataConverterFor(stack.config) });
    await client.workflow.start('orderFulfillment', {
      taskQueue: 'nobody-polls-this',
      workflowId,
      args: [{ externalReference: reference, bookedByPartnerId: 'ui-test-partner', assignment: { kind: 'delegate' }, lines: [] }],
    });
  } finally {
    await connection.close();
  }
  let browser: Browser | undefined;
  try {
    browser = await launchChromium('the Temporal UI codec test');
    const page = await browser.newPage();
    const decodes: number[] = [];
    page.on('response', (response) => {
      if (response.url().includes('/codec/ui/') && response.request().method() === 'POST') decodes.push(response.status());
    });
    await page.goto(`${uiUrl}/namespaces/default/workflows/${workflowId}`);
    await page.getByText(reference).first().waitFor({ timeout: 30_000 });
    expect(decodes.length).toBeGreaterThan(0);
    expect(decodes.every((status) => status === 200)).toBe(true);
    await expect(page.getByText(/Codec Server could not connect/i).count()).resolves.toBe(0);
  } finally {
    await browser?.close();
  }
}, 90_000);

test('the UI endpoint decodes only for the UI origin and a valid operator key', async () => {
  const partnerKey = (
    await createApiKey(stack.db, {
      role: 'partner',
      partnerId: (await createTestWorld(stack.db, uniqueSuffix())).partnerId,
      label: 'test partner',
    })
  ).key;
  const fromUi = { origin: uiUrl, 'x-namespace': 'default' };
  expect((await decodeVia(`/codec/ui/${uiKey}/decode`, fromUi)).status).toBe(200);
  // Another origin, or none (a script outside any browser), gets nothing even with the key.
  expect((await decodeVia(`/codec/ui/${uiKey}/decode`, { origin: 'http://evil.example' })).status).toBe(403);
  expect((await decodeVia(`/codec/ui/${uiKey}/decode`)).status).toBe(403);
  const cors = await decodeVia(`/codec/ui/${uiKey}/decode`, { origin: 'http://evil.example' });
  expect(cors.headers.get('access-control-allow-origin')).toBeNull();
  // From the UI's origin: no key, a wrong key, a partner's key.
  expect((await decodeVia(`/codec/ui/lfk_${'x'.repeat(43)}/decode`, fromUi)).status).toBe(401);
  expect((await decodeVia(`/codec/ui/${partnerKey}/decode`, fromUi)).status).toBe(403);
  expect((await decodeVia(`/codec/decode`, fromUi)).status).toBe(401);
  // A revoked key (npm start revokes its UI key when it stops) opens nothing any more.
  const revoked = await createApiKey(stack.db, { role: 'operator', label: 'test revoked UI key' });
  await revokeApiKey(stack.db, revoked.id);
  expect((await decodeVia(`/codec/ui/${revoked.key}/decode`, fromUi)).status).toBe(401);
});

test("the README's CLI query through the codec endpoint prints the order status; the codec takes {} as no payloads", async () => {
  const operatorKey = (await createApiKey(stack.db, { role: 'operator', label: 'test CLI codec' })).key;
  const empty = await decodeVia('/codec/decode', { authorization: `Bearer ${operatorKey}` }, {});
  expect(empty.status).toBe(200);
  expect(await empty.json()).toEqual({ payloads: [] });

  const world = await createTestWorld(stack.db, uniqueSuffix());
  const reference = `CLIQ-${world.suffix}`;
  const { workflowId } = await book(stack.client, stack.taskQueue, directBooking(world, { externalReference: reference }));
  await waitForPhase(stack.client, workflowId, 'AwaitingShipment');
  // As README prints it (plus --address: the test server is not on :7233).
  const args = ['workflow', 'query', '--workflow-id', workflowId, '--name', 'orderStatus'];
  const codec = ['--codec-endpoint', `${apiBase}/codec`, '--codec-auth', `Bearer ${operatorKey}`];
  const address = ['--address', stack.config.temporal.address];
  const sealed = await run(cli(), [...args, ...address]);
  expect(sealed.stdout).not.toContain(reference);
  const { stdout } = await run(cli(), [...args, ...codec, ...address]);
  expect(stdout).toContain(reference);
  expect(stdout).toContain('AwaitingShipment');
}, 60_000);
