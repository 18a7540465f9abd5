/**
 * U1 Tokens (R15, R16): a VA admin creates a token (30 days, 2 uses); two devices register; the
 * third is refused "used up"; an expired, a revoked, and a holding account's token are refused;
 * the same UDI registering twice is one instance. Through the real API and the device client.
 */
import { createHash } from 'node:crypto';
import { DeviceApiError, DeviceClient } from '../../src/device-client';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { useTestApi } from '../helpers/api';
import { createToken, newDevice, vaIdOf } from '../helpers/devices';
import { uniqueSuffix, useTestStack } from '../helpers/stack';
import { tokenUses } from '../helpers/token-uses';

const stack = useTestStack(__filename);
const api = useTestApi(stack);

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DeviceApiError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

/** A partner holding va_admin on Finance only (the world's "other" partner), and its key. */
async function financeAdmin(world: TestWorld): Promise<string> {
  await stack.db('role_grants').insert({
    account_id: world.smartAccountId,
    virtual_account_id: await vaIdOf(stack.db, world.smartAccountId, 'Finance'),
    partner_id: world.otherPartnerId,
    role: 'va_admin',
  });
  return api.keyFor('partner', world.otherPartnerId);
}

test('U1: a VA admin creates a token of 30 days and 2 uses; two devices register, the third is refused "used up"', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const key = await financeAdmin(world);
  const created = await api.call('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, {
    key,
    body: { virtualAccountPath: 'Finance', expiresInDays: 30, maxUses: 2, description: 'Finance switches', exportControlled: true },
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({
    virtualAccountPath: 'Finance',
    maxUses: 2,
    uses: 0,
    status: 'active',
    exportControlled: true,
    createdBy: `partner:${world.otherPartnerId}`,
  });
  expect(created.body.token).toMatch(/^lrt_[A-Za-z0-9_-]{43}$/);
  const days = (Date.parse(created.body.expiresAt) - Date.now()) / 86_400_000;
  expect(days).toBeGreaterThan(29.99);
  expect(days).toBeLessThanOrEqual(30);
  // Stored only as its SHA-256; listed without the token.
  const row = await stack.db('registration_tokens').where({ id: created.body.tokenId }).first();
  expect(Buffer.compare(row.token_hash, createHash('sha256').update(created.body.token).digest())).toBe(0);
  const listed = await api.call('GET', `/v1/accounts/${world.smartAccountId}/registration-tokens`, { key });
  expect(listed.body.tokens.map((t: { tokenId: string }) => t.tokenId)).toEqual([created.body.tokenId]);
  expect(JSON.stringify(listed.body)).not.toContain(created.body.token);

  const [a, b, c] = ['a', 'b', 'c'].map((name) => newDevice(api, world, name));
  const first = await a.client.register(created.body.token, a.identity);
  const second = await b.client.register(created.body.token, b.identity);
  expect(first).toMatchObject({ accountId: world.smartAccountId, virtualAccountPath: 'Finance', alreadyRegistered: false });
  expect(second.instanceId).not.toBe(first.instanceId);
  expect(await refusal(c.client.register(created.body.token, c.identity))).toMatchObject({ status: 409, code: 'TokenUsedUp' });

  // The same UDI again with the same key: the same instance, no use spent (a retry after a lost answer).
  const again = await a.client.register(created.body.token, a.identity);
  expect(again).toMatchObject({ instanceId: first.instanceId, alreadyRegistered: true });
  // The same UDI with another key is not that instance.
  const impostor = new DeviceClient({ baseUrl: api.baseUrl, state: DeviceClient.create(api.baseUrl).state, attempts: 1 });
  expect(await refusal(impostor.register(created.body.token, a.identity))).toMatchObject({
    status: 409,
    code: 'UdiRegisteredWithAnotherKey',
  });

  const instances = await stack.db('product_instances').where({ account_id: world.smartAccountId }).orderBy('registered_at');
  expect(instances.map((i) => [i.id, i.serial_number, i.state, String(i.registration_token_id)])).toEqual([
    [first.instanceId, a.identity.serialNumber, 'active', created.body.tokenId],
    [second.instanceId, b.identity.serialNumber, 'active', created.body.tokenId],
  ]);
  expect(await tokenUses(stack.db, { id: created.body.tokenId })).toEqual([2]);
  const afterUse = await api.call('GET', `/v1/accounts/${world.smartAccountId}/registration-tokens?virtualAccountPath=Finance`, { key });
  expect(afterUse.body).toMatchObject({ accountId: world.smartAccountId, tokens: [{ uses: 2, status: 'used_up' }] });
  // The complete view's tokens route answers the same, from the same query.
  const viewed = await api.call('GET', `/v1/accounts/${world.smartAccountId}/tokens?virtualAccountPath=Finance`, { key });
  expect(viewed).toMatchObject({ status: 200, body: afterUse.body });

  // The credential is the instance's own: it reports and gets a verified answer.
  const answer = await a.client.report({});
  expect(answer).toMatchObject({ instanceId: first.instanceId, usage: [], compliant: true, instanceState: 'active' });
  expect(await stack.db('license_events').where({ account_id: world.smartAccountId }).orderBy('id').pluck('type')).toEqual([
    'token_created',
    'instance_registered',
    'instance_registered',
  ]);
});

test('U1: an expired, a revoked, an unknown and a holding account token are refused with the reason', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const key = await financeAdmin(world);
  const expired = await createToken(api, key, world.smartAccountId, { virtualAccountPath: 'Finance', maxUses: 5 });
  await stack
    .db('registration_tokens')
    .where({ id: expired.tokenId })
    .update({ expires_at: stack.db.raw(`now() - interval '1 second'`) });
  const revoked = await createToken(api, key, world.smartAccountId, { virtualAccountPath: 'Finance', maxUses: 5 });
  const revocation = await api.call('DELETE', `/v1/accounts/${world.smartAccountId}/registration-tokens/${revoked.tokenId}`, { key });
  expect(revocation).toMatchObject({ status: 200, body: { status: 'revoked' } });
  // Revoking again changes nothing and says the same.
  expect(
    (await api.call('DELETE', `/v1/accounts/${world.smartAccountId}/registration-tokens/${revoked.tokenId}`, { key })).body.revokedAt,
  ).toBe(revocation.body.revokedAt);

  const device = newDevice(api, world, 'x');
  expect(await refusal(device.client.register(expired.token, device.identity))).toMatchObject({
    status: 403,
    code: 'TokenExpired',
    message: expect.stringContaining('token: expired at'),
  });
  expect(await refusal(device.client.register(revoked.token, device.identity))).toMatchObject({ status: 403, code: 'TokenRevoked' });
  expect(await refusal(device.client.register(`lrt_${'A'.repeat(43)}`, device.identity))).toMatchObject({
    status: 401,
    code: 'UnknownToken',
  });

  // A holding account's VA has no tokens: the API refuses to create one...
  const operator = await api.keyFor('operator');
  const held = await api.call('POST', `/v1/accounts/${world.holdingAccountId}/registration-tokens`, {
    key: operator,
    body: { virtualAccountPath: 'EMEA', expiresInDays: 30, maxUses: 2 },
  });
  expect(held).toMatchObject({ status: 422, body: { error: 'NotASmartAccount' } });
  // ...and one that got there anyway registers nothing.
  const smuggled = `lrt_${'h'.repeat(39)}${world.suffix.slice(0, 4)}`;
  await stack.db('registration_tokens').insert({
    token_hash: createHash('sha256').update(smuggled).digest(),
    account_id: world.holdingAccountId,
    virtual_account_id: await vaIdOf(stack.db, world.holdingAccountId, 'EMEA'),
    max_uses: 5,
    expires_at: stack.db.raw(`now() + interval '1 day'`),
    created_by: 'test',
  });
  expect(await refusal(device.client.register(smuggled, device.identity))).toMatchObject({ status: 403, code: 'HoldingAccountToken' });

  expect(await stack.db('product_instances').where({ serial_number: device.identity.serialNumber }).count({ n: '*' })).toEqual([
    { n: '0' },
  ]);
  expect([...(await tokenUses(stack.db, { id: expired.tokenId })), ...(await tokenUses(stack.db, { id: revoked.tokenId }))]).toEqual([
    0, 0,
  ]);
});

test('R15: tokens are for who may use the VA: a VA admin of Finance not of Sacramento, a viewer or a stranger not at all', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const key = await financeAdmin(world);
  const body = { virtualAccountPath: 'Region-US/Finance/Sacramento', expiresInDays: 1, maxUses: 1 };
  const outside = await api.call('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, { key, body });
  expect(outside).toMatchObject({ status: 403, body: { error: 'Forbidden' } });
  // The world's partner holds sa_user: every VA of the account.
  const saUser = await api.keyFor('partner', world.partnerId);
  expect((await api.call('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, { key: saUser, body })).status).toBe(201);
  // A viewer reads but does not use; a distributor with no role on the account does nothing.
  await stack.db('role_grants').insert({
    account_id: world.smartAccountId,
    virtual_account_id: await vaIdOf(stack.db, world.smartAccountId, 'Finance'),
    partner_id: world.distributorId,
    role: 'va_viewer',
  });
  const viewer = await api.keyFor('distributor', world.distributorId);
  const asViewer = await api.call('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, {
    key: viewer,
    body: { ...body, virtualAccountPath: 'Finance' },
  });
  expect(asViewer.status).toBe(403);
  expect((await api.call('GET', `/v1/accounts/${world.smartAccountId}/registration-tokens`, { key: viewer })).status).toBe(403);
  // Bad input names the field.
  const bad = await api.call('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, {
    key: saUser,
    body: { virtualAccountPath: 'Finance', expiresInDays: 366, maxUses: 0 },
  });
  expect(bad.status).toBe(400);
  expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['expiresInDays', 'maxUses']);
  const unknownVa = await api.call('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, {
    key: saUser,
    body: { virtualAccountPath: 'Nowhere', expiresInDays: 1, maxUses: 1 },
  });
  expect(unknownVa).toMatchObject({ status: 422, body: { error: 'UnknownVirtualAccount' } });
  expect(await stack.db('registration_tokens').where({ account_id: world.smartAccountId }).count({ n: '*' })).toEqual([{ n: '1' }]);
});

test('R15: revoking a token of a VA the caller cannot see answers as an unknown token does; one it sees but may not use, 403', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const financeKey = await financeAdmin(world);
  const saUser = await api.keyFor('partner', world.partnerId);
  const hidden = await createToken(api, saUser, world.smartAccountId, { virtualAccountPath: 'Region-US/Finance/Sacramento' });
  const url = (id: string) => `/v1/accounts/${world.smartAccountId}/registration-tokens/${id}`;
  const refused = await api.call('DELETE', url(hidden.tokenId), { key: financeKey });
  const unknown = await api.call('DELETE', url('999999999'), { key: financeKey });
  expect(refused.status).toBe(404);
  expect({ ...refused.body, message: refused.body.message.replace(hidden.tokenId, 'ID') }).toEqual({
    ...unknown.body,
    message: unknown.body.message.replace('999999999', 'ID'),
  });
  // Once a role shows it the VA (a viewer of Region-US), the token is there, and not the caller's to revoke.
  await stack.db('role_grants').insert({
    account_id: world.smartAccountId,
    virtual_account_id: await vaIdOf(stack.db, world.smartAccountId, 'Region-US'),
    partner_id: world.otherPartnerId,
    role: 'va_viewer',
  });
  expect((await api.call('DELETE', url(hidden.tokenId), { key: financeKey })).status).toBe(403);
  expect(await stack.db('registration_tokens').where({ id: hidden.tokenId }).first('revoked_at')).toEqual({ revoked_at: null });
});
