/**
 * U9 Bad input and abuse (R16, R17): an invalid SKU, negative or huge counts, malformed or
 * oversized bodies, another instance's ID, a replayed, stale or forged signature, a forged
 * credential, another account's token -> a 4xx naming the field or the reason, and nothing changed:
 * pools, use, stored answers and tokens as before.
 */
import { DeviceClient } from '../../src/device-client';
import type { Db } from '../../src/db/knex';
import { useTestApi } from '../helpers/api';
import { createToken, depositElsewhere, newDevice, provisionLicenses, smartLine } from '../helpers/devices';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';
import { tokenUses } from '../helpers/token-uses';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-U9';

/** Everything a report could change, for the account. */
async function snapshot(db: Db, world: TestWorld) {
  return {
    pools: await db('license_pools')
      .where({ account_id: world.smartAccountId })
      .orderBy('sku')
      .select('sku', 'purchased', 'authorized', 'overage', 'unserved'),
    usage: await db('instance_usage as u')
      .join('product_instances as i', 'i.id', 'u.instance_id')
      .where('i.account_id', world.smartAccountId)
      .orderBy(['u.instance_id', 'u.sku'])
      .select('u.instance_id', 'u.sku', 'u.count', 'u.state'),
    reports: await db('usage_reports as r')
      .join('product_instances as i', 'i.id', 'r.instance_id')
      .where('i.account_id', world.smartAccountId)
      .count({ n: '*' }),
    tokens: await db('registration_tokens').where({ account_id: world.smartAccountId }).orderBy('id').select('id', 'revoked_at'),
    tokenUses: await tokenUses(db, { account_id: world.smartAccountId }),
    instances: await db('product_instances').where({ account_id: world.smartAccountId }).orderBy('id').select('id', 'state'),
  };
}

/** A request signed by `device` (or with `headers` overriding), its body sent exactly as `body`. */
async function signedPost(device: DeviceClient, path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...device.signedHeaders('POST', path, body), ...headers },
    body,
  });
  const text = await response.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed };
}

const fields = (body: { errors?: Array<{ field: string }> }) => (body.errors ?? []).map((e) => e.field).sort();

describe('U9', () => {
  const world = {} as TestWorld;
  let device: DeviceClient;
  let other: DeviceClient;
  let reportPath: string;

  beforeAll(async () => {
    Object.assign(world, await createTestWorld(stack.db, uniqueSuffix()));
    await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 5)], `PO-${world.suffix}`);
    const { token } = await createToken(api, await api.keyFor('operator'), world.smartAccountId, { virtualAccountPath: 'Finance' });
    const a = newDevice(api, world, 'a');
    const b = newDevice(api, world, 'b');
    device = a.client;
    other = b.client;
    await device.register(token, a.identity);
    await other.register(token, b.identity);
    await device.report({ [SKU]: 3 });
    await other.report({ [SKU]: 1 });
    reportPath = `/v1/devices/${device.state.instanceId}/usage-reports`;
  });

  test('bad reports are 400s naming the field, and change nothing', async () => {
    const before = await snapshot(stack.db, world);
    const cases: Array<[string, string, string[]]> = [
      ['invalid SKU', JSON.stringify({ reportId: 'x1', usage: { 'bad sku!': 1 } }), ['usage.bad sku!']],
      ['negative count', JSON.stringify({ reportId: 'x2', usage: { [SKU]: -1 } }), [`usage.${SKU}`]],
      ['huge count', JSON.stringify({ reportId: 'x3', usage: { [SKU]: 1_000_000_001 } }), [`usage.${SKU}`]],
      ['fractional count', JSON.stringify({ reportId: 'x4', usage: { [SKU]: 1.5 } }), [`usage.${SKU}`]],
      ['count as text', JSON.stringify({ reportId: 'x5', usage: { [SKU]: '2' } }), [`usage.${SKU}`]],
      ['no report ID', JSON.stringify({ usage: { [SKU]: 2 } }), ['reportId']],
      ['bad report ID', JSON.stringify({ reportId: '../x', usage: {} }), ['reportId']],
      ['unknown field', JSON.stringify({ reportId: 'x6', usage: {}, instanceId: 'pi-x' }), ['instanceId']],
      [
        'too many SKUs',
        JSON.stringify({ reportId: 'x7', usage: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`SKU-${i}`, 1])) }),
        ['usage'],
      ],
      ['an array', JSON.stringify([1, 2]), ['(body)']],
    ];
    for (const [name, body, expected] of cases) {
      const answer = await signedPost(device, reportPath, body);
      expect({ name, status: answer.status, error: answer.body.error, fields: fields(answer.body) }).toEqual({
        name,
        status: 400,
        error: 'ValidationFailed',
        fields: expected,
      });
    }
    const malformed = await signedPost(device, reportPath, '{"reportId": "x8", "usage": {');
    expect(malformed.status).toBe(400);
    const oversized = await signedPost(device, reportPath, JSON.stringify({ reportId: 'x9', usage: {}, pad: 'x'.repeat(70_000) }));
    expect(oversized.status).toBe(413);
    expect(await snapshot(stack.db, world)).toEqual(before);
  });

  test('a SKU no license exists of is a 422 naming it, nothing changed and nothing spent; one that exists elsewhere is OutOfCompliance', async () => {
    const before = await snapshot(stack.db, world);
    const unknownSku = `NEVER-SOLD-${world.suffix}`;
    const body = JSON.stringify({ reportId: 'unknown-sku', usage: { [SKU]: 3, [unknownSku]: 1 } });
    const headers = device.signedHeaders('POST', reportPath, body);
    const refused = await signedPost(device, reportPath, body, headers);
    expect({ status: refused.status, error: refused.body.error, errors: refused.body.errors }).toEqual({
      status: 422,
      error: 'UnknownSku',
      errors: [{ field: `usage.${unknownSku}`, reason: 'unknown SKU: no license of it exists' }],
    });
    // The signature was not spent: the same request is refused the same way, not as a replay.
    expect((await signedPost(device, reportPath, body, headers)).status).toBe(422);
    expect(await snapshot(stack.db, world)).toEqual(before);

    // Deposited in another account only: it exists, this VA does not hold it (R18).
    const elsewhere = `ELSEWHERE-${world.suffix}`;
    await depositElsewhere(stack, elsewhere);
    const fixed = await device.report({ [SKU]: 3, [elsewhere]: 1 }, { reportId: 'unknown-sku' });
    expect([...fixed.usage].sort((a, b) => a.sku.localeCompare(b.sku))).toEqual([
      { sku: SKU, count: 3, state: 'Authorized' },
      { sku: elsewhere, count: 1, state: 'OutOfCompliance' },
    ]);
    // The device's use as the other tests expect it.
    await device.report({ [SKU]: 3 });
  });

  test("another instance's ID, a replayed, stale, tampered or forged request, a forged credential: refused, nothing changed", async () => {
    const before = await snapshot(stack.db, world);
    const body = JSON.stringify({ reportId: 'abuse-1', usage: { [SKU]: 5 } });

    const otherPath = `/v1/devices/${other.state.instanceId}/usage-reports`;
    expect(await signedPost(device, otherPath, body)).toMatchObject({ status: 403, body: { error: 'NotThisInstance' } });

    const stale = device.signedHeaders('POST', reportPath, body, Date.now() - 6 * 60_000);
    expect(await signedPost(device, reportPath, body, stale)).toMatchObject({ status: 401, body: { error: 'StaleRequest' } });

    const tampered = device.signedHeaders('POST', reportPath, JSON.stringify({ reportId: 'abuse-1', usage: { [SKU]: 1 } }));
    expect(await signedPost(device, reportPath, body, tampered)).toMatchObject({ status: 401, body: { error: 'InvalidSignature' } });

    // The device's credential with another key's signature: the credential alone is worth nothing.
    const thief = new DeviceClient({
      baseUrl: api.baseUrl,
      state: { ...DeviceClient.create(api.baseUrl).state, credential: device.state.credential },
    });
    expect(await signedPost(thief, reportPath, body)).toMatchObject({ status: 401, body: { error: 'InvalidSignature' } });

    // A credential whose claims were edited (another instance) no longer carries the server's signature.
    const [prefix, claims, signature] = device.state.credential!.split('.');
    const edited = JSON.parse(Buffer.from(claims, 'base64url').toString());
    edited.instanceId = other.state.instanceId;
    const forgedCredential = `${prefix}.${Buffer.from(JSON.stringify(edited)).toString('base64url')}.${signature}`;
    const forger = new DeviceClient({ baseUrl: api.baseUrl, state: { ...device.state, credential: forgedCredential } });
    expect(await signedPost(forger, otherPath, body)).toMatchObject({ status: 401, body: { error: 'InvalidCredential' } });

    expect(await signedPost(device, reportPath, body, { authorization: '' })).toMatchObject({
      status: 401,
      body: { error: 'InvalidCredential' },
    });
    expect(await snapshot(stack.db, world)).toEqual(before);

    // A good request is answered once; the same signed request again is a replay.
    const headers = device.signedHeaders('POST', reportPath, JSON.stringify({ reportId: 'once', usage: { [SKU]: 3 } }));
    const once = JSON.stringify({ reportId: 'once', usage: { [SKU]: 3 } });
    expect((await signedPost(device, reportPath, once, headers)).status).toBe(200);
    const afterOnce = await snapshot(stack.db, world);
    expect(await signedPost(device, reportPath, once, headers)).toMatchObject({ status: 401, body: { error: 'ReplayedRequest' } });
    expect(await snapshot(stack.db, world)).toEqual(afterOnce);
    expect(afterOnce.pools).toEqual(before.pools);
  });

  test("another account's token and tokens: refused, nothing spent", async () => {
    const stranger = await createTestWorld(stack.db, uniqueSuffix());
    const strangerToken = await createToken(api, await api.keyFor('operator'), stranger.smartAccountId, { virtualAccountPath: 'Finance' });
    const before = await snapshot(stack.db, world);
    // The world's partner holds a role on its customer's account, none on the stranger's.
    const partnerKey = await api.keyFor('partner', world.partnerId);
    const create = await api.call('POST', `/v1/accounts/${stranger.smartAccountId}/registration-tokens`, {
      key: partnerKey,
      body: { virtualAccountPath: 'Finance', expiresInDays: 1, maxUses: 1 },
    });
    expect(create.status).toBe(403);
    expect((await api.call('GET', `/v1/accounts/${stranger.smartAccountId}/registration-tokens`, { key: partnerKey })).status).toBe(403);
    expect(
      (
        await api.call('DELETE', `/v1/accounts/${stranger.smartAccountId}/registration-tokens/${strangerToken.tokenId}`, {
          key: partnerKey,
        })
      ).status,
    ).toBe(403);
    // Without a role, a token ID that does not exist is refused the same way: nothing learnt of which exist.
    expect(
      (await api.call('DELETE', `/v1/accounts/${stranger.smartAccountId}/registration-tokens/999999999999`, { key: partnerKey })).status,
    ).toBe(403);
    // Its token named under this account's URL does not exist here.
    expect(
      (await api.call('DELETE', `/v1/accounts/${world.smartAccountId}/registration-tokens/${strangerToken.tokenId}`, { key: partnerKey }))
        .status,
    ).toBe(404);
    // A device already registered here cannot use the stranger's token to re-register into it.
    const registration = await api.call('POST', '/v1/devices/registrations', {
      body: {
        token: strangerToken.token,
        productId: 'C9300-48P',
        serialNumber: `FOC-${world.suffix}-a`,
        hostname: 'a',
        publicKey: device.state.publicKey,
      },
    });
    expect(registration).toMatchObject({ status: 409, body: { error: 'UdiRegisteredElsewhere' } });
    // Malformed registrations name the field.
    const bad = await api.call('POST', '/v1/devices/registrations', {
      body: { token: 'nope', productId: '', serialNumber: 'ok-1', hostname: 'h', publicKey: 'short' },
    });
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual(['productId', 'publicKey', 'token']);
    expect(await snapshot(stack.db, world)).toEqual(before);
    expect(await tokenUses(stack.db, { id: strangerToken.tokenId })).toEqual([0]);
    expect((await stack.db('registration_tokens').where({ id: strangerToken.tokenId }).first('revoked_at')).revoked_at).toBeNull();
  });
});
