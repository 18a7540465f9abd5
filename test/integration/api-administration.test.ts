/**
 * Administration without psql or seed data, through the real API: partners, the reseller link,
 * holding accounts and users, operator only, each idempotent (the same request: 200 and the same
 * resource; other values: 409 naming them; nothing written), with field-named 400s. Then the
 * FAQ's two-tier case end to end: a distributor created here books an order into its own
 * holding account with its own key, and the licenses are held there.
 */
import { useTestApi } from '../helpers/api';
import { waitForPhase, entitlementsOf } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

let suffix: string;
let operatorKey: string;

beforeAll(async () => {
  suffix = uniqueSuffix();
  operatorKey = await api.keyFor('operator');
});

const post = (path: string, body: unknown, key = operatorKey) => api.call('POST', path, { key, body });

test('partners: created (201), the same again (200, same body), other values (409 naming them), bad fields (400)', async () => {
  const partner = {
    partnerId: `adm-reseller-${suffix}`,
    name: 'Adm Reseller',
    kind: 'partner',
    notificationEmail: `ops@adm-${suffix}.test`,
  };
  const created = await post('/v1/partners', partner);
  expect([created.status, created.body]).toEqual([201, partner]);
  const again = await post('/v1/partners', partner);
  expect([again.status, again.body]).toEqual([200, partner]);
  const other = await post('/v1/partners', { ...partner, name: 'Renamed', kind: 'distributor' });
  expect([other.status, other.body.error]).toEqual([409, 'Conflict']);
  expect(other.body.errors.map((e: { field: string }) => e.field)).toEqual(['name', 'kind']);
  expect(await stack.db('partners').where({ id: partner.partnerId }).first()).toMatchObject({ name: 'Adm Reseller', kind: 'partner' });

  const bad = await post('/v1/partners', { partnerId: 'has space', name: '', kind: 'reseller', notificationEmail: 'nope' });
  expect(bad.status).toBe(400);
  expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['kind', 'name', 'notificationEmail', 'partnerId']);
});

test('only an operator administers: a partner key is refused (403) and nothing is written', async () => {
  await post('/v1/partners', { partnerId: `adm-own-${suffix}`, name: 'Own', kind: 'partner', notificationEmail: `ops@own-${suffix}.test` });
  const partnerKey = await api.keyFor('partner', `adm-own-${suffix}`);
  const attempts = [
    post('/v1/partners', { partnerId: `adm-x-${suffix}`, name: 'X', kind: 'partner', notificationEmail: 'x@x.test' }, partnerKey),
    post(`/v1/partners/adm-own-${suffix}/resellers`, { resellerId: `adm-own-${suffix}` }, partnerKey),
    post('/v1/holding-accounts', { accountId: `pha-x-${suffix}`, name: 'X', ownerPartnerId: `adm-own-${suffix}` }, partnerKey),
    post('/v1/users', { email: `x@x-${suffix}.test`, fullName: 'X' }, partnerKey),
  ];
  for (const res of await Promise.all(attempts)) expect([res.status, res.body.error]).toEqual([403, 'Forbidden']);
  expect(
    await stack
      .db('partners')
      .where({ id: `adm-x-${suffix}` })
      .first(),
  ).toBeUndefined();
  expect(
    await stack
      .db('accounts')
      .where({ id: `pha-x-${suffix}` })
      .first(),
  ).toBeUndefined();
  expect(
    await stack
      .db('users')
      .where({ email: `x@x-${suffix}.test` })
      .first(),
  ).toBeUndefined();
});

test('users: email and full name, no registered ID; the same email in other case is the same user; another name is a 409', async () => {
  const email = `Ida.Admin@acme-${suffix}.test`;
  const created = await post('/v1/users', { email, fullName: 'Ida Admin' });
  expect(created.status).toBe(201);
  expect(created.body).toEqual({ userId: expect.any(String), email, fullName: 'Ida Admin', registeredId: null });
  const again = await post('/v1/users', { email: email.toLowerCase(), fullName: 'Ida Admin' });
  expect([again.status, again.body]).toEqual([200, created.body]);
  const other = await post('/v1/users', { email, fullName: 'Someone Else' });
  expect([other.status, other.body.errors]).toEqual([409, [{ field: 'fullName', reason: expect.stringContaining('Ida Admin') }]]);
  const withId = await post('/v1/users', { email: `z@acme-${suffix}.test`, fullName: 'Z', registeredId: 'z-1' });
  expect([withId.status, withId.body.errors]).toEqual([400, [{ field: 'registeredId', reason: 'is not a known field' }]]);
  expect(await stack.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).count({ n: '*' })).toEqual([{ n: '1' }]);
});

test('two-tier end to end: a distributor, its reseller and its own holding account, created here; the distributor books into it', async () => {
  const distributor = {
    partnerId: `adm-dist-${suffix}`,
    name: 'Adm Distributor',
    kind: 'distributor',
    notificationEmail: `ops@dist-${suffix}.test`,
  };
  const reseller = { partnerId: `adm-res-${suffix}`, name: 'Adm Reseller 2', kind: 'partner', notificationEmail: `ops@res-${suffix}.test` };
  expect((await post('/v1/partners', distributor)).status).toBe(201);
  expect((await post('/v1/partners', reseller)).status).toBe(201);

  // The link: only a distributor above, only a partner below; the same link again is a 200.
  const wrongWay = await post(`/v1/partners/${reseller.partnerId}/resellers`, { resellerId: distributor.partnerId });
  expect([wrongWay.status, wrongWay.body.error]).toEqual([422, 'NotADistributor']);
  const unknown = await post(`/v1/partners/${distributor.partnerId}/resellers`, { resellerId: `nobody-${suffix}` });
  expect([unknown.status, unknown.body.error]).toEqual([422, 'UnknownPartner']);
  const link = await post(`/v1/partners/${distributor.partnerId}/resellers`, { resellerId: reseller.partnerId });
  expect([link.status, link.body]).toEqual([201, { distributorId: distributor.partnerId, resellerId: reseller.partnerId }]);
  expect((await post(`/v1/partners/${distributor.partnerId}/resellers`, { resellerId: reseller.partnerId })).status).toBe(200);

  // The distributor's own holding account; the same again is a 200, another owner a 409.
  const holding = { accountId: `pha-dist-${suffix}`, name: 'Distributor stock', ownerPartnerId: distributor.partnerId };
  const created = await post('/v1/holding-accounts', holding);
  expect([created.status, created.body]).toEqual([201, { ...holding, status: 'active' }]);
  expect((await post('/v1/holding-accounts', holding)).status).toBe(200);
  const otherOwner = await post('/v1/holding-accounts', { ...holding, ownerPartnerId: reseller.partnerId });
  expect([otherOwner.status, otherOwner.body.errors.map((e: { field: string }) => e.field)]).toEqual([409, ['ownerPartnerId']]);
  const noOwner = await post('/v1/holding-accounts', { ...holding, accountId: `pha-none-${suffix}`, ownerPartnerId: `nobody-${suffix}` });
  expect([noOwner.status, noOwner.body.error]).toEqual([422, 'UnknownPartner']);

  // The distributor, with its own key, makes a virtual account there (the existing route's rules)...
  const distributorKey = await api.keyFor('distributor', distributor.partnerId);
  const va = await post(`/v1/accounts/${holding.accountId}/virtual-accounts`, { path: 'EMEA' }, distributorKey);
  expect(va.status).toBe(201);
  // ...and books an order for its reseller into it.
  const booked = await post(
    '/v1/orders',
    {
      externalReference: `ADM-TWO-TIER-${suffix}`,
      partnerId: reseller.partnerId,
      assignment: { kind: 'holding_account', accountId: holding.accountId, virtualAccountPath: 'EMEA' },
      lines: [{ lineNumber: 1, sku: 'C9300-DNA-E-24-3Y', quantity: 2, licenseType: 'smart', termMonths: 36, smartAccountMandatory: true }],
    },
    distributorKey,
  );
  expect(booked.status).toBe(201);
  expect(booked.body).not.toHaveProperty('assignmentRefused');
  await waitForPhase(stack.client, booked.body.workflowId, 'AwaitingSmartAccount');
  expect(await entitlementsOf(stack.db, booked.body.orderId)).toEqual([
    expect.objectContaining({ account_id: holding.accountId, path: 'EMEA', status: 'held', quantity: 2 }),
  ]);
  const seen = await api.call('GET', `/v1/orders/${booked.body.orderId}`, { key: distributorKey });
  expect(seen.body).toMatchObject({
    partnerId: reseller.partnerId,
    bookedByPartnerId: distributor.partnerId,
    holdingAccountId: holding.accountId,
  });
});
