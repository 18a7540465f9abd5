/**
 * R17 from the device maker's side: the device trusts an answer only when it is signed by a
 * published key, about this instance, and to the report it just sent. A genuine signed answer to
 * an earlier report, replayed by whoever sits between device and service, is refused. After the
 * service rotates its signing key, a running device fetches the published keys again.
 */
import { DeviceApiError, DeviceClient, generateDeviceKeys } from '../../src/device-client/client';
import { signAnswer, type UsageAnswerBody } from '../../src/device-client/answers';
import { generateSigningKey, parseSigningKeys, type SigningKeys } from '../../src/licensing/signing';

const keys = parseSigningKeys(generateSigningKey('k1'));

function answerTo(reportId: string, by: SigningKeys = keys): string {
  const body: UsageAnswerBody = {
    v: 1,
    instanceId: 'pi-device',
    reportId,
    instanceState: 'active',
    usage: [{ sku: 'SKU-1', count: 2, state: 'Authorized' }],
    compliant: true,
    issuedAt: '2026-12-06T00:00:00.000Z',
  };
  return JSON.stringify(signAnswer(body, by.current.id, by.current.privateKey));
}

/** A registered device whose every report is answered with `answer` (given the report ID it sent). */
function deviceAnsweredWith(answer: (sentReportId: string) => string): DeviceClient {
  const fetchFn = (async (_url: string, init: { body: string }) =>
    new Response(answer((JSON.parse(init.body) as { reportId: string }).reportId), { status: 200 })) as unknown as typeof fetch;
  return new DeviceClient({
    baseUrl: 'http://service.test',
    state: { ...generateDeviceKeys(), instanceId: 'pi-device', credential: 'lic1.x.y' },
    fetch: fetchFn,
    attempts: 1,
    // Answers are checked the same on a session; this fake service answers reports only.
    sessions: false,
  });
}

test('the answer to the report sent is trusted', async () => {
  const device = deviceAnsweredWith((sent) => answerTo(sent));
  await expect(device.report({ 'SKU-1': 2 }, { reportId: 'r-now', keys: keys.verifiers })).resolves.toMatchObject({
    reportId: 'r-now',
    compliant: true,
  });
});

test('a signed answer to an earlier report, replayed, is refused and the report stays pending', async () => {
  const device = deviceAnsweredWith(() => answerTo('r-earlier'));
  const refused = await device.report({ 'SKU-1': 9 }, { reportId: 'r-now', keys: keys.verifiers }).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(DeviceApiError);
  expect((refused as DeviceApiError).code).toBe('UnverifiedAnswer');
  expect((refused as DeviceApiError).message).toContain('r-earlier');
  expect(device.state.pendingReport).toEqual({ reportId: 'r-now', usage: { 'SKU-1': 9 } });
});

test('a signed answer to this report ID that counts other use than reported is refused', async () => {
  const other = (counts: UsageAnswerBody['usage']) => (sent: string) => {
    const body: UsageAnswerBody = {
      v: 1,
      instanceId: 'pi-device',
      reportId: sent,
      instanceState: 'active',
      usage: counts,
      compliant: true,
      issuedAt: '2026-12-06T00:00:00.000Z',
    };
    return JSON.stringify(signAnswer(body, keys.current.id, keys.current.privateKey));
  };
  for (const counts of [
    [{ sku: 'SKU-1', count: 3, state: 'Authorized' as const }],
    [],
    [
      { sku: 'SKU-1', count: 2, state: 'Authorized' as const },
      { sku: 'SKU-2', count: 1, state: 'Authorized' as const },
    ],
  ]) {
    const refused = await deviceAnsweredWith(other(counts))
      .report({ 'SKU-1': 2 }, { keys: keys.verifiers })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DeviceApiError);
    expect((refused as DeviceApiError).message).toContain('not the use reported');
  }
});

test('after the service rotates its signing key, a running device fetches the published keys again and trusts the answer', async () => {
  const before = parseSigningKeys(generateSigningKey('k-old'));
  const after = parseSigningKeys(`${generateSigningKey('k-new')},${generateSigningKey('k-old')}`);
  let service = before;
  const fetchFn = (async (url: string, init?: { body?: string }) => {
    if (url.endsWith('/v1/license-signing-keys')) return new Response(JSON.stringify(service.published), { status: 200 });
    return new Response(answerTo((JSON.parse(init!.body!) as { reportId: string }).reportId, service), { status: 200 });
  }) as unknown as typeof fetch;
  const device = new DeviceClient({
    baseUrl: 'http://service.test',
    state: { ...generateDeviceKeys(), instanceId: 'pi-device', credential: 'lic1.x.y' },
    fetch: fetchFn,
    attempts: 1,
    // Answers are checked the same on a session; this fake service answers reports only.
    sessions: false,
  });
  await expect(device.report({ 'SKU-1': 2 }, { reportId: 'r-1' })).resolves.toMatchObject({ keyId: 'k-old' });
  service = after;
  await expect(device.report({ 'SKU-1': 2 }, { reportId: 'r-2' })).resolves.toMatchObject({ keyId: 'k-new' });
});

test('a service without the sessions route (404) is reported to with the device key, and asked once', async () => {
  const schemes: string[] = [];
  const fetchFn = (async (url: string, init: { body: string; headers: Record<string, string> }) => {
    schemes.push(init.headers.authorization.split(' ')[0]);
    if (url.endsWith('/sessions')) return new Response(JSON.stringify({ error: 'NotFound', message: 'no route' }), { status: 404 });
    return new Response(answerTo((JSON.parse(init.body) as { reportId: string }).reportId), { status: 200 });
  }) as unknown as typeof fetch;
  const device = new DeviceClient({
    baseUrl: 'http://service.test',
    state: { ...generateDeviceKeys(), instanceId: 'pi-device', credential: 'lic1.x.y' },
    fetch: fetchFn,
    attempts: 1,
  });
  await expect(device.report({ 'SKU-1': 2 }, { reportId: 'r-1', keys: keys.verifiers })).resolves.toMatchObject({ reportId: 'r-1' });
  await expect(device.report({ 'SKU-1': 2 }, { reportId: 'r-2', keys: keys.verifiers })).resolves.toMatchObject({ reportId: 'r-2' });
  expect(schemes).toEqual(['Device', 'Device', 'Device']);
  expect(device.state.session).toBeUndefined();
});
