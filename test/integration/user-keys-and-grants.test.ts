/**
 * R24 through the API on the real stack: an API key scoped to one user acts with exactly that
 * user's roles (never a partner's: orders stay partner/operator business), mints and revokes its
 * own keys; the customer's admins grant and revoke roles themselves, decided by their own roles.
 */
import { useTestApi } from '../helpers/api';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { grantTo, seedLicenseUse, userKey, verifiedUser, type ViewUser } from '../helpers/license-view-fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);

let world: TestWorld;
let saAdmin: ViewUser;
let saUser: ViewUser;
let financeAdmin: ViewUser;
let newcomer: ViewUser;
const keys: Record<string, string> = {};

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  await seedLicenseUse(stack.db, world);
  saAdmin = await verifiedUser(stack.db, world, 'sam');
  saUser = await verifiedUser(stack.db, world, 'sue');
  financeAdmin = await verifiedUser(stack.db, world, 'fay');
  newcomer = await verifiedUser(stack.db, world, 'nel');
  await grantTo(stack.db, world.smartAccountId, saAdmin, 'sa_admin');
  await grantTo(stack.db, world.smartAccountId, saUser, 'sa_user');
  await grantTo(stack.db, world.smartAccountId, financeAdmin, 'va_admin', 'Finance');
  for (const [name, user] of Object.entries({ saAdmin, saUser, financeAdmin, newcomer })) keys[name] = await userKey(stack.db, user);
});

const grants = () => `/v1/accounts/${world.smartAccountId}/role-grants`;
const liveGrants = () => stack.db('role_grants').where({ account_id: world.smartAccountId }).whereNull('revoked_at').count({ n: '*' });

describe('API keys scoped to one user', () => {
  test("a user key sees what the user's roles cover", async () => {
    expect((await api.call('GET', `/v1/accounts/${world.smartAccountId}/licenses`, { key: keys.saUser })).body.licenses).toHaveLength(3);
    const finance = await api.call('GET', `/v1/accounts/${world.smartAccountId}/licenses`, { key: keys.financeAdmin });
    expect(finance.body.licenses.map((l: { virtualAccountPath: string }) => l.virtualAccountPath)).toEqual(['Finance']);
    const search = await api.call('GET', `/v1/smart-accounts?domain=${world.domain}`, { key: keys.saUser });
    expect(
      search.body.smartAccounts.find((a: { accountId: string }) => a.accountId === world.smartAccountId).virtualAccounts,
    ).toBeDefined();
  });

  test('GET /v1/me; a user mints and revokes its own keys (who else may: authorization-matrix.test.ts)', async () => {
    const me = await api.call('GET', '/v1/me', { key: keys.newcomer });
    expect(me.body).toMatchObject({ userId: newcomer.userId, registeredId: newcomer.registeredId, email: newcomer.email });
    const minted = await api.call('POST', '/v1/me/api-keys', { key: keys.newcomer, body: { label: 'ci' } });
    expect(minted.status).toBe(201);
    expect(minted.body.key).toMatch(/^lfk_[A-Za-z0-9_-]{43}$/);
    expect((await api.call('GET', '/v1/me', { key: minted.body.key })).body.userId).toBe(newcomer.userId);
    const row = await stack.db('api_keys').where({ id: minted.body.keyId }).first();
    expect(row).toMatchObject({ role: 'user', user_id: newcomer.userId, partner_id: null });
    expect(JSON.stringify(row)).not.toContain(minted.body.key);

    expect((await api.call('DELETE', `/v1/me/api-keys/${minted.body.keyId}`, { key: keys.newcomer })).status).toBe(204);
    expect((await api.call('DELETE', `/v1/me/api-keys/${minted.body.keyId}`, { key: keys.newcomer })).status).toBe(204);
    expect((await api.call('GET', '/v1/me', { key: minted.body.key })).status).toBe(401);

    const bad = await api.call('POST', '/v1/me/api-keys', { key: keys.newcomer, body: { label: '' } });
    expect(bad.status).toBe(400);
  });
});

describe('customers grant roles themselves', () => {
  test('an SA admin grants a user va_viewer and a partner va_user (201), again is 200, and revokes (204)', async () => {
    const before = await liveGrants();
    const toUser = await api.call('POST', grants(), {
      key: keys.saAdmin,
      body: { userId: newcomer.registeredId, role: 'va_viewer', virtualAccountPath: 'Region-US' },
    });
    expect(toUser.status).toBe(201);
    expect(toUser.body).toEqual({
      grantId: expect.any(String),
      userId: newcomer.registeredId,
      role: 'va_viewer',
      virtualAccountPath: 'Region-US',
      grantedAt: expect.any(String),
    });
    expect(await stack.db('role_grants').where({ id: toUser.body.grantId }).first('user_id', 'granted_by')).toEqual({
      user_id: newcomer.userId,
      granted_by: `user:${saAdmin.userId}`,
    });
    const again = await api.call('POST', grants(), {
      key: keys.saAdmin,
      body: { userId: newcomer.registeredId, role: 'va_viewer', virtualAccountPath: 'Region-US' },
    });
    expect(again).toMatchObject({ status: 200, body: toUser.body });
    // The grant takes effect at once: the newcomer now reads Region-US.
    expect((await api.call('GET', `/v1/accounts/${world.smartAccountId}/licenses`, { key: keys.newcomer })).body.licenses).toHaveLength(2);

    const toPartner = await api.call('POST', grants(), {
      key: keys.saAdmin,
      body: { partnerId: world.otherPartnerId, role: 'va_user', virtualAccountPath: 'Finance' },
    });
    expect(toPartner.status).toBe(201);
    expect(await liveGrants()).toEqual([{ n: String(Number(before[0].n) + 2) }]);

    expect((await api.call('DELETE', `${grants()}/${toUser.body.grantId}`, { key: keys.saAdmin })).status).toBe(204);
    expect((await api.call('GET', `/v1/accounts/${world.smartAccountId}/licenses`, { key: keys.newcomer })).status).toBe(403);
    expect((await api.call('DELETE', `${grants()}/${toPartner.body.grantId}`, { key: keys.saAdmin })).status).toBe(204);
    expect(await liveGrants()).toEqual(before);
  });

  test('a VA admin of Finance may not touch Region-US or the whole account; nothing changes', async () => {
    const before = await liveGrants();
    const elsewhere = await api.call('POST', grants(), {
      key: keys.financeAdmin,
      body: { userId: newcomer.registeredId, role: 'va_admin', virtualAccountPath: 'Region-US/Finance' },
    });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.message).toContain('va_admin on that virtual account or a parent of it');
    const wholeAccount = await api.call('POST', grants(), {
      key: keys.financeAdmin,
      body: { userId: newcomer.registeredId, role: 'sa_user' },
    });
    expect(wholeAccount.status).toBe(403);
    const [saUserGrantId] = await stack.db('role_grants').where({ account_id: world.smartAccountId, user_id: saUser.userId }).pluck('id');
    expect((await api.call('DELETE', `${grants()}/${saUserGrantId}`, { key: keys.financeAdmin })).status).toBe(403);
    expect(await liveGrants()).toEqual(before);
  });

  test('a VA admin of Finance grants and revokes within Finance; an unknown user ID is a 422', async () => {
    const granted = await api.call('POST', grants(), {
      key: keys.financeAdmin,
      body: { userId: newcomer.registeredId, role: 'va_user', virtualAccountPath: 'Finance' },
    });
    expect(granted.status).toBe(201);
    expect((await api.call('DELETE', `${grants()}/${granted.body.grantId}`, { key: keys.financeAdmin })).status).toBe(204);
    const unknown = await api.call('POST', grants(), { key: keys.saAdmin, body: { userId: `ghost-${world.suffix}`, role: 'sa_user' } });
    expect(unknown).toMatchObject({ status: 422, body: { error: 'UnknownUser' } });
  });

  test('the VA admin lists only grants it may see; the SA admin lists them all', async () => {
    const all = (await api.call('GET', grants(), { key: keys.saAdmin })).body.roleGrants;
    const finance = (await api.call('GET', grants(), { key: keys.financeAdmin })).body.roleGrants;
    expect(all.length).toBeGreaterThan(finance.length);
    expect(finance.every((g: { virtualAccountPath: string | null }) => g.virtualAccountPath === 'Finance')).toBe(true);
  });
});

test('a grant and its revocation are in the event log (R23), the actor named by registered user ID', async () => {
  const granted = await api.call('POST', grants(), {
    key: keys.saAdmin,
    body: { userId: newcomer.registeredId, role: 'va_viewer', virtualAccountPath: 'Finance' },
  });
  expect(granted.status).toBe(201);
  expect((await api.call('DELETE', `${grants()}/${granted.body.grantId}`, { key: keys.saAdmin })).status).toBe(204);
  const { events } = (await api.call('GET', `/v1/accounts/${world.smartAccountId}/events`, { key: keys.saAdmin })).body;
  const ofGrant = events.filter((e: { subject: string }) => e.subject === `grant:${granted.body.grantId}`);
  const expected = { virtualAccountPath: 'Finance', actor: `user:${saAdmin.registeredId}` };
  const details = { role: 'va_viewer', grantee: `user:${newcomer.registeredId}`, virtualAccountPath: 'Finance' };
  expect(ofGrant).toEqual([
    expect.objectContaining({ ...expected, type: 'role_revoked', details }),
    expect.objectContaining({ ...expected, type: 'role_granted', details }),
  ]);
  // Granting what is already granted changes nothing, and logs nothing.
  const before = ofGrant.length;
  await api.call('POST', grants(), { key: keys.saAdmin, body: { userId: saUser.registeredId, role: 'sa_user' } });
  const again = (await api.call('GET', `/v1/accounts/${world.smartAccountId}/events`, { key: keys.saAdmin })).body.events;
  expect(again.filter((e: { type: string }) => e.type === 'role_granted').length).toBe(
    events.filter((e: { type: string }) => e.type === 'role_granted').length,
  );
  expect(before).toBe(2);
  // A token a person made names them the same way.
  const token = await api.call('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, {
    key: keys.saAdmin,
    body: { virtualAccountPath: 'Finance', expiresInDays: 1, maxUses: 1, description: 'by a person' },
  });
  expect(token.body.createdBy).toBe(`user:${saAdmin.registeredId}`);
  const listed = (await api.call('GET', `/v1/accounts/${world.smartAccountId}/tokens`, { key: keys.saAdmin })).body.tokens;
  expect(listed.find((t: { tokenId: string }) => t.tokenId === token.body.tokenId).createdBy).toBe(`user:${saAdmin.registeredId}`);
});

describe('the last Smart Account admin', () => {
  const liveAdminGrant = (user: ViewUser) =>
    stack
      .db('role_grants')
      .where({ account_id: world.smartAccountId, user_id: user.userId, role: 'sa_admin' })
      .whereNull('revoked_at')
      .first('id');

  test('cannot be revoked, by itself or an operator (409 LastAccountAdmin, nothing changes); once another user is sa_admin it can', async () => {
    const own = (await liveAdminGrant(saAdmin)).id;
    const byItself = await api.call('DELETE', `${grants()}/${own}`, { key: keys.saAdmin });
    expect(byItself).toMatchObject({ status: 409, body: { error: 'LastAccountAdmin' } });
    expect(byItself.body.message).toContain('grant sa_admin to another user first');
    const operatorKey = await api.keyFor('operator');
    expect((await api.call('DELETE', `${grants()}/${own}`, { key: operatorKey })).status).toBe(409);
    expect(await liveAdminGrant(saAdmin)).toEqual({ id: own });

    const successor = await api.call('POST', grants(), { key: keys.saAdmin, body: { userId: newcomer.registeredId, role: 'sa_admin' } });
    expect(successor.status).toBe(201);
    expect((await api.call('DELETE', `${grants()}/${own}`, { key: keys.saAdmin })).status).toBe(204);
    // Now the successor is the last one.
    expect((await api.call('DELETE', `${grants()}/${successor.body.grantId}`, { key: keys.newcomer })).status).toBe(409);

    // As before, for any test after this one.
    await grantTo(stack.db, world.smartAccountId, saAdmin, 'sa_admin');
    expect((await api.call('DELETE', `${grants()}/${successor.body.grantId}`, { key: keys.saAdmin })).status).toBe(204);
  });
});
