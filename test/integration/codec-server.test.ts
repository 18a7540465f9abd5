/**
 * R14: operators read the sealed payloads through the codec server, and nobody else does. The
 * real Temporal CLI (`temporal workflow show --codec-endpoint`) shows a delegated order's
 * contact only through it; the Temporal UI's origin gets CORS with credentials; the session
 * cookie the UI uses is signed, expires and dies with its key.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { revokeApiKey, createApiKey } from '../../src/api/auth';
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { book, directBooking, waitForPhase } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const run = promisify(execFile);
const stack = useTestStack(__filename);
const api = useTestApi(stack);

let world: TestWorld;
let operatorKey: string;
let workflowId: string;
let sealedInput: Payload[];
const contact = { email: '', fullName: '' };

const asJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  operatorKey = await api.keyFor('operator');
  Object.assign(contact, { email: `casey.codec-${world.suffix}@${world.domain}`, fullName: `Casey Codec ${world.suffix}` });
  const booked = await book(
    stack.client,
    stack.taskQueue,
    directBooking(world, { externalReference: `CODEC-${world.suffix}`, assignment: { kind: 'delegate' }, endCustomerContact: contact }),
  );
  workflowId = booked.workflowId;
  await waitForPhase(stack.client, workflowId, 'AwaitingSmartAccount');
  const connection = await Connection.connect({ address: stack.config.temporal.address });
  try {
    const raw = new Client({ connection, namespace: stack.config.temporal.namespace });
    const history = await raw.workflow.getHandle(workflowId).fetchHistory();
    sealedInput = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads as Payload[];
  } finally {
    await connection.close();
  }
});

const decode = (headers: Record<string, string>) =>
  fetch(`${api.baseUrl}/codec/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    body: JSON.stringify({ payloads: sealedInput.map(asJson) }),
  });

test('an operator key opens the sealed workflow input; it shows the contact', async () => {
  const res = await decode({ authorization: `Bearer ${operatorKey}` });
  expect(res.status).toBe(200);
  const { payloads } = (await res.json()) as { payloads: Array<{ data: string; metadata: Record<string, string> }> };
  const input = JSON.parse(Buffer.from(payloads[0].data, 'base64').toString('utf8'));
  expect(input.endCustomerContact).toEqual(contact);
  expect(Buffer.from(payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
});

test('encode then decode gives the payload back', async () => {
  const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"hello"').toString('base64') };
  const call = (op: string, payloads: unknown[]) =>
    fetch(`${api.baseUrl}/codec/${op}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${operatorKey}` },
      body: JSON.stringify({ payloads }),
    }).then((r) => r.json() as Promise<{ payloads: Array<{ metadata: Record<string, string>; data: string }> }>);
  const sealed = await call('encode', [plain]);
  expect(Buffer.from(sealed.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
  expect((await call('decode', sealed.payloads)).payloads).toEqual([plain]);

  // A large one (an activity's status document) is deflated before sealing; the UI opens it the same way.
  const status = { lines: Array.from({ length: 20 }, (_, i) => ({ sku: `SKU-${i}`, quantity: i, state: 'Placed' })) };
  const large = { metadata: plain.metadata, data: Buffer.from(JSON.stringify(status)).toString('base64') };
  const sealedLarge = await call('encode', [large]);
  expect(Buffer.from(sealedLarge.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted-deflate');
  expect((await call('decode', sealedLarge.payloads)).payloads).toEqual([large]);
});

test('a partner or distributor key is refused (403); no key 401; a malformed body 400', async () => {
  expect((await decode({ authorization: `Bearer ${await api.keyFor('partner', world.partnerId)}` })).status).toBe(403);
  expect((await decode({ authorization: `Bearer ${await api.keyFor('distributor', world.distributorId)}` })).status).toBe(403);
  expect((await decode({})).status).toBe(401);
  const bad = await fetch(`${api.baseUrl}/codec/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${operatorKey}` },
    body: JSON.stringify({ payloads: 'nope' }),
  });
  expect(bad.status).toBe(400);
});

test('CORS: the Temporal UI origin may call with credentials; another origin gets no CORS grant', async () => {
  const uiOrigin = new URL(stack.config.temporal.uiUrl).origin;
  const preflight = await fetch(`${api.baseUrl}/codec/decode`, {
    method: 'OPTIONS',
    headers: { origin: uiOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-origin')).toBe(uiOrigin);
  expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
  expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
  const other = await fetch(`${api.baseUrl}/codec/decode`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
  expect(other.headers.get('access-control-allow-origin')).toBeNull();
});

test('the UI session: an operator signs in once; the cookie opens payloads; tampered or revoked, it does not', async () => {
  const form = await fetch(`${api.baseUrl}/codec/session`);
  expect(form.status).toBe(200);
  expect(form.headers.get('content-security-policy')).toContain("default-src 'none'");
  expect(await form.text()).toContain('<label for="apiKey">');

  const signIn = (apiKey: string) =>
    fetch(`${api.baseUrl}/codec/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `apiKey=${encodeURIComponent(apiKey)}`,
      redirect: 'manual',
    });
  expect((await signIn('lfk_not-a-key')).status).toBe(401);
  expect((await signIn(await api.keyFor('partner', world.partnerId))).status).toBe(403);

  const { id, key } = await createApiKey(stack.db, { role: 'operator', label: 'codec session' });
  const ok = await signIn(key);
  expect(ok.status).toBe(200);
  const setCookie = ok.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/^lf_codec=[^;]+; Path=\/codec; HttpOnly; SameSite=Strict; Max-Age=28800$/);
  expect(setCookie).not.toContain(key.slice(4));
  const cookie = setCookie.split(';')[0];

  expect((await decode({ cookie })).status).toBe(200);
  const [keyId, expires, mac] = cookie.slice('lf_codec='.length).split('.');
  expect((await decode({ cookie: `lf_codec=${keyId}.${Number(expires) + 3600}.${mac}` })).status).toBe(401);
  expect((await decode({ cookie: `lf_codec=${keyId}.${expires}.${mac.slice(0, -2)}AA` })).status).toBe(401);
  await revokeApiKey(stack.db, id);
  expect((await decode({ cookie })).status).toBe(401);
});

test('the Temporal CLI shows the contact only through the codec server', async () => {
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('TEMPORAL_CLI is not set: run the tests with npm test (scripts/test.sh sets it)');
  const base = [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    '--address',
    stack.config.temporal.address,
    '--namespace',
    stack.config.temporal.namespace,
    '--output',
    'json',
  ];
  // The JSON output keeps each payload's data in base64: read them all as text.
  const payloadTexts = (stdout: string) =>
    [...stdout.matchAll(/"data": "([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], 'base64').toString('utf8')).join('\n');
  const sealed = await run(cli, base, { maxBuffer: 16 * 1024 * 1024 });
  expect(payloadTexts(sealed.stdout)).not.toContain(contact.email);
  const opened = await run(cli, [...base, '--codec-endpoint', `${api.baseUrl}/codec`, '--codec-auth', `Bearer ${operatorKey}`], {
    maxBuffer: 16 * 1024 * 1024,
  });
  expect(payloadTexts(opened.stdout)).toContain(contact.email);
  expect(payloadTexts(opened.stdout)).toContain(contact.fullName);
  // Without the operator's key the CLI gets nothing opened.
  await expect(run(cli, [...base, '--codec-endpoint', `${api.baseUrl}/codec`], { maxBuffer: 16 * 1024 * 1024 })).rejects.toThrow();
});
