/**
 * Device sessions (docs/DEVICES.md "Sessions") through the real API: a device signs with its
 * Ed25519 key once to open a session, then reports with an HMAC under the agreed key. A replayed
 * MAC is refused and counts nothing; a tampered ticket is refused; a session cannot open another;
 * revocation and removal reach a live session; an expired session, or one whose sealing key the
 * service no longer has, is reopened by the client without the caller noticing; `sessions: false`
 * stays on Ed25519; the sealing key rotates with the signing keys.
 */
import { DeviceClient, keysFromPublished } from '../../src/device-client';
import { generateSigningKey } from '../../src/licensing/signing';
import { startTestApi, type TestApi } from '../helpers/api';
import { createToken, newDevice, poolOf, provisionLicenses, refusal, smartLine } from '../helpers/devices';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
jest.setTimeout(120_000);
const SKU = 'C9300-DNA-A-SES';
const suffix = uniqueSuffix();
const oldKey = generateSigningKey(`old-${suffix}`);
const newKey = generateSigningKey(`new-${suffix}`);

let api: TestApi;
let world: TestWorld;
let token: string;
const apis: TestApi[] = [];

/** An API of this file's stack with the given signing keys (and session TTL). */
async function apiWith(licenseSigningKeys: string, deviceSessionTtlMs = 24 * 3_600_000): Promise<TestApi> {
  const started = await startTestApi(stack, { configure: (config) => ({ ...config, licenseSigningKeys, deviceSessionTtlMs }) });
  apis.push(started);
  return started;
}

beforeAll(async () => {
  api = await apiWith(oldKey);
  world = await createTestWorld(stack.db, suffix);
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 100)], `PO-${suffix}`);
  ({ token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' }));
});

afterAll(async () => {
  for (const started of apis) await started.close();
});

/** The Authorization scheme of every request a client sends (Device, DeviceSession, or none). */
function countingFetch(): { fetch: typeof fetch; schemes: string[] } {
  const schemes: string[] = [];
  const counting = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const authorization = new Headers(init?.headers).get('authorization');
    schemes.push(authorization ? authorization.split(' ')[0] : 'none');
    return fetch(input, init);
  }) as typeof fetch;
  return { fetch: counting, schemes };
}

/** A registered device on `on`, its requests' schemes counted. */
async function registeredDevice(name: string, on = api, options: { sessions?: boolean } = {}) {
  const counted = countingFetch();
  const device = newDevice(on, world, `${name}-${uniqueSuffix()}`);
  const client = new DeviceClient({ baseUrl: on.baseUrl, state: device.client.state, attempts: 1, fetch: counted.fetch, ...options });
  await client.register(token, device.identity);
  counted.schemes.length = 0;
  return { client, schemes: counted.schemes };
}

/** Sends a usage report with the given authentication headers, as a device would, and returns the status and error code. */
async function rawReport(on: TestApi, instanceId: string, body: string, headers: Record<string, string>) {
  const response = await fetch(`${on.baseUrl}/v1/devices/${instanceId}/usage-reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const payload = (await response.json()) as { error?: string; usage?: unknown };
  return { status: response.status, code: payload.error };
}

test('reports go through a session: one Ed25519-signed open, then HMACs; the answers verify; a replayed MAC is refused and counts once', async () => {
  const { client, schemes } = await registeredDevice('ses');
  const answers = [await client.report({ [SKU]: 1 }), await client.report({ [SKU]: 2 }), await client.report({ [SKU]: 3 })];
  expect(schemes.filter((s) => s !== 'none')).toEqual(['Device', 'DeviceSession', 'DeviceSession', 'DeviceSession']);
  expect(client.state.session).toEqual({
    ticket: expect.stringMatching(/^ses1\.old-/),
    key: expect.any(String),
    expiresAt: expect.any(String),
  });
  const keys = keysFromPublished((await api.call('GET', '/v1/license-signing-keys')).body);
  expect(answers.map((a) => client.verify(a, keys).ok)).toEqual([true, true, true]);
  expect(answers.map((a) => a.usage[0].count)).toEqual([1, 2, 3]);

  // The same MAC twice: the first is answered, the second refused; the use is counted once.
  const instanceId = client.state.instanceId!;
  const path = `/v1/devices/${instanceId}/usage-reports`;
  const body = JSON.stringify({ reportId: `r-replay-${suffix}`, usage: { [SKU]: 5 } });
  const headers = client.sessionHeaders('POST', path, body);
  const before = await poolOf(stack.db, world.smartAccountId, 'Finance', SKU);
  expect(await rawReport(api, instanceId, body, headers)).toEqual({ status: 200, code: undefined });
  expect(await rawReport(api, instanceId, body, headers)).toEqual({ status: 401, code: 'ReplayedRequest' });
  expect((await poolOf(stack.db, world.smartAccountId, 'Finance', SKU))!.authorized).toBe(before!.authorized + 2);
  const used = await stack.db('instance_usage').where({ instance_id: instanceId, sku: SKU }).first('count');
  expect(Number(used.count)).toBe(5);
});

test('a tampered ticket is InvalidSession; a session cannot open a session; a MAC under another key is InvalidSignature; a low-order X25519 key is a 400', async () => {
  const { client } = await registeredDevice('tamper');
  await client.report({ [SKU]: 1 });
  const instanceId = client.state.instanceId!;
  const body = JSON.stringify({ reportId: `r-t-${uniqueSuffix()}`, usage: { [SKU]: 1 } });
  const headers = client.sessionHeaders('POST', `/v1/devices/${instanceId}/usage-reports`, body);
  const ticket = client.state.session!.ticket;
  const flipped = `${ticket.slice(0, -2)}${ticket.endsWith('AA') ? 'AB' : 'AA'}`;
  expect(await rawReport(api, instanceId, body, { ...headers, authorization: `DeviceSession ${flipped}` })).toEqual({
    status: 401,
    code: 'InvalidSession',
  });
  const otherKey = { ...client.state.session!, key: Buffer.alloc(32).toString('base64url') };
  const forged = new DeviceClient({ baseUrl: api.baseUrl, state: { ...client.state, session: otherKey } });
  expect(await rawReport(api, instanceId, body, forged.sessionHeaders('POST', `/v1/devices/${instanceId}/usage-reports`, body))).toEqual({
    status: 401,
    code: 'InvalidSignature',
  });

  const sessionsPath = `/v1/devices/${instanceId}/sessions`;
  const open = JSON.stringify({ publicKey: 'A'.repeat(43) });
  const response = await fetch(`${api.baseUrl}${sessionsPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...client.sessionHeaders('POST', sessionsPath, open) },
    body: open,
  });
  expect(response.status).toBe(401);
  expect(((await response.json()) as { error: string }).error).toBe('InvalidCredential');
  // Signed with the device key, but an X25519 key of low order (no usable shared secret): 400, nothing opened.
  const lowOrder = await fetch(`${api.baseUrl}${sessionsPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...client.signedHeaders('POST', sessionsPath, open) },
    body: open,
  });
  expect(lowOrder.status).toBe(400);
  expect(await lowOrder.json()).toMatchObject({ errors: [{ field: 'publicKey', reason: 'must be a usable X25519 public key' }] });
});

test('a credential revoked, or an instance removed, is refused on a live session', async () => {
  const revoked = await registeredDevice('revoked');
  const removed = await registeredDevice('removed');
  await revoked.client.report({ [SKU]: 1 });
  await removed.client.report({ [SKU]: 1 });
  await stack
    .db('product_instances')
    .where({ id: revoked.client.state.instanceId })
    .update({ credential_serial: `revoked-${suffix}` });
  await stack.db('product_instances').where({ id: removed.client.state.instanceId }).update({ state: 'removed' });
  for (const { client } of [revoked, removed]) {
    const instanceId = client.state.instanceId!;
    const body = JSON.stringify({ reportId: `r-rv-${uniqueSuffix()}`, usage: { [SKU]: 2 } });
    const status = client === revoked.client ? { status: 401, code: 'InvalidCredential' } : { status: 403, code: 'InstanceRemoved' };
    expect(await rawReport(api, instanceId, body, client.sessionHeaders('POST', `/v1/devices/${instanceId}/usage-reports`, body))).toEqual(
      status,
    );
    // The client, refused on its session, tries a new one: its credential is refused there too.
    expect(await refusal(client.report({ [SKU]: 2 }))).toEqual(status);
  }
});

test('an expired session is refused SessionExpired and the client opens another without the caller noticing', async () => {
  const shortApi = await apiWith(oldKey, 1_500);
  const { client, schemes } = await registeredDevice('expiry', shortApi);
  await client.report({ [SKU]: 1 });
  // A device that believes its session lasts (a clock behind): the server's word decides.
  client.state.session!.expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  const expiredTicket = client.state.session!.ticket;
  await new Promise((resolve) => setTimeout(resolve, 1_600));
  expect((await client.report({ [SKU]: 2 })).usage[0].count).toBe(2);
  expect(client.state.session!.ticket).not.toBe(expiredTicket);
  expect(schemes.filter((s) => s !== 'none')).toEqual(['Device', 'DeviceSession', 'DeviceSession', 'Device', 'DeviceSession']);
  // Known to be near its end: the next report opens a session first, without a refused request.
  expect((await client.report({ [SKU]: 3 })).usage[0].count).toBe(3);
  expect(schemes.filter((s) => s !== 'none').slice(5)).toEqual(['Device', 'DeviceSession']);
});

test('sessions: false keeps every request on Ed25519; a renewal drops the session', async () => {
  const { client, schemes } = await registeredDevice('plain', api, { sessions: false });
  await client.report({ [SKU]: 1 });
  await client.report({ [SKU]: 2 });
  expect(schemes.filter((s) => s !== 'none')).toEqual(['Device', 'Device']);
  expect(client.state.session).toBeUndefined();

  const renewing = await registeredDevice('renew');
  await renewing.client.report({ [SKU]: 1 });
  await renewing.client.renew();
  expect(renewing.client.state.session).toBeUndefined();
  expect((await renewing.client.report({ [SKU]: 2 })).usage[0].count).toBe(2);
});

test('rotation: old tickets still work after [new, old]; a ticket sealed by a key the service no longer has is reopened', async () => {
  const { client } = await registeredDevice('rot');
  await client.report({ [SKU]: 1 });
  const rotatedApi = await apiWith(`${newKey},${oldKey}`);
  const counted = countingFetch();
  const rotated = new DeviceClient({ baseUrl: rotatedApi.baseUrl, state: client.state, attempts: 1, fetch: counted.fetch });
  expect((await rotated.report({ [SKU]: 2 })).keyId).toBe(`new-${suffix}`);
  expect(counted.schemes.filter((s) => s !== 'none')).toEqual(['DeviceSession']);

  // A session opened after the rotation is sealed by the new key; a service without it (a rotation
  // rolled back) refuses the ticket, and the client opens a session there with its credential.
  rotated.state.session = undefined;
  await rotated.report({ [SKU]: 3 });
  expect(rotated.state.session!.ticket.startsWith(`ses1.new-${suffix}.`)).toBe(true);
  const rolledBack = new DeviceClient({ baseUrl: api.baseUrl, state: rotated.state, attempts: 1, fetch: counted.fetch });
  counted.schemes.length = 0;
  expect((await rolledBack.report({ [SKU]: 4 })).usage[0].count).toBe(4);
  expect(counted.schemes.filter((s) => s !== 'none')).toEqual(['DeviceSession', 'Device', 'DeviceSession']);
  expect(rolledBack.state.session!.ticket.startsWith(`ses1.old-${suffix}.`)).toBe(true);
});
