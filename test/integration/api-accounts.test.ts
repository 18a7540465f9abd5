/**
 * The accounts API on the real stack (Postgres, Temporal, SMTP): Smart Account search and
 * requests (R2), virtual accounts, holding-account members (R9) and role grants (R11). Every
 * endpoint is called as an operator, the owning partner, its distributor, an unrelated partner
 * and a partner without a role; every malformed request is a 400 naming the field, with nothing
 * written; every write repeated gives the same answer and no second row or email.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { activateSmartAccount } from '../../src/accounts/customer-links';
import { requestedAccountId } from '../../src/accounts/account-admin';
import { activationStatusQuery, activationWorkflowId } from '../../src/orders/workflow-api';
import { useTestApi } from '../helpers/api';
import { createTestWorld, registerContact, type TestWorld } from '../helpers/fixtures';
import { activationToken, isActivationMail, isFirstRequest } from '../helpers/links';
import { pollUntil } from '../helpers/orders';
import { uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

// Reminders far away: one activation request per account is what these tests count.
const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

type Who = 'operator' | 'partner' | 'distributor' | 'otherPartner';
const WHO: Who[] = ['operator', 'partner', 'distributor', 'otherPartner'];

/**
 * A world and a key for each kind of caller. In createTestWorld the partner holds sa_user on the
 * Smart Account and owns the holding account; the distributor resells for the partner and holds
 * no role; the other partner has nothing to do with either account.
 */
async function worldWithKeys(): Promise<{ world: TestWorld; keys: Record<Who, string> }> {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const keys: Record<Who, string> = {
    operator: await api.keyFor('operator'),
    partner: await api.keyFor('partner', world.partnerId),
    distributor: await api.keyFor('distributor', world.distributorId),
    otherPartner: await api.keyFor('partner', world.otherPartnerId),
  };
  return { world, keys };
}

/** The activation workflows these tests start; terminated at the end so nothing keeps reminding. */
const activationWorkflows = new Set<string>();
afterAll(async () => {
  for (const workflowId of activationWorkflows) {
    await stack.client.workflow
      .getHandle(workflowId)
      .terminate('test done')
      .catch(() => undefined);
  }
});

async function contactIdOf(email: string): Promise<number> {
  const row = await stack.db('users').whereRaw('lower(email) = lower(?)', [email]).first('id');
  return Number(row.id);
}

const fields = (body: { errors?: Array<{ field: string; reason: string }> }) => body.errors ?? [];

describe('authentication', () => {
  const ROUTES: Array<[string, string]> = [
    ['GET', '/v1/smart-accounts?domain=acme.com'],
    ['POST', '/v1/smart-account-requests'],
    ['GET', '/v1/accounts/sa-x/virtual-accounts'],
    ['POST', '/v1/accounts/sa-x/virtual-accounts'],
    ['GET', '/v1/holding-accounts/pha-x/members'],
    ['POST', '/v1/holding-accounts/pha-x/members'],
    ['DELETE', '/v1/holding-accounts/pha-x/members/a%40b.test'],
    ['GET', '/v1/accounts/sa-x/role-grants'],
    ['POST', '/v1/accounts/sa-x/role-grants'],
    ['DELETE', '/v1/accounts/sa-x/role-grants/1'],
  ];
  test.each(ROUTES)('%s %s without a key is 401', async (method, path) => {
    const res = await api.call(method, path, method === 'POST' ? { body: {} } : {});
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('Unauthorized');
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
  });

  test('the OpenAPI document describes every accounts operation, tagged, secured, with its error responses', async () => {
    const res = await api.call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const operations = Object.values(res.body.paths as Record<string, Record<string, any>>).flatMap((methods) => Object.values(methods));
    const byId = new Map(operations.map((op) => [op.operationId, op]));
    for (const operationId of [
      'searchSmartAccounts',
      'requestSmartAccount',
      'listVirtualAccounts',
      'createVirtualAccount',
      'listHoldingAccountMembers',
      'addHoldingAccountMember',
      'removeHoldingAccountMember',
      'listRoleGrants',
      'grantRole',
      'revokeRole',
    ]) {
      const op = byId.get(operationId);
      expect(op).toBeDefined();
      expect(op.tags).toEqual(['accounts']);
      expect(op.security).toEqual([{ apiKey: [] }]);
      expect(op.summary).toEqual(expect.any(String));
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '401']));
    }
    expect(Object.keys(byId.get('requestSmartAccount').responses)).toEqual(expect.arrayContaining(['200', '202', '403', '422']));
    expect(Object.keys(byId.get('removeHoldingAccountMember').responses)).toEqual(expect.arrayContaining(['204', '404', '422']));
  });
});

describe('GET /v1/smart-accounts (search by domain)', () => {
  let world: TestWorld;
  let keys: Record<Who, string>;
  beforeAll(async () => ({ world, keys } = await worldWithKeys()));

  test("any key finds the domain's accounts; virtual accounts only for an operator or a role holder on that account", async () => {
    const seen: Record<string, unknown> = {};
    for (const who of WHO) {
      const res = await api.call('GET', `/v1/smart-accounts?domain=${world.domain}`, { key: keys[who] });
      expect(res.status).toBe(200);
      seen[who] = res.body.smartAccounts;
    }
    const active = { accountId: world.smartAccountId, name: world.smartAccountName, domain: world.domain, status: 'active' };
    const pending = {
      accountId: world.pendingSmartAccountId,
      name: `Pending ${world.suffix}`,
      domain: world.domain,
      status: 'pending_activation',
    };
    const vas = ['Finance', 'Region-US', 'Region-US/Finance', 'Region-US/Finance/Sacramento'];
    expect(seen.operator).toEqual([
      { ...active, virtualAccounts: vas },
      { ...pending, virtualAccounts: [] },
    ]);
    // The partner holds sa_user on the active account only.
    expect(seen.partner).toEqual([{ ...active, virtualAccounts: vas }, pending]);
    expect(seen.distributor).toEqual([active, pending]);
    expect(seen.otherPartner).toEqual([active, pending]);
  });

  test('a revoked role no longer shows the virtual accounts; an unknown domain finds nothing', async () => {
    await stack
      .db('role_grants')
      .where({ account_id: world.smartAccountId, partner_id: world.partnerId })
      .update({ revoked_at: stack.db.fn.now() });
    const res = await api.call('GET', `/v1/smart-accounts?domain=${world.domain}`, { key: keys.partner });
    expect(res.body.smartAccounts[0]).not.toHaveProperty('virtualAccounts');
    const none = await api.call('GET', `/v1/smart-accounts?domain=nobody-${world.suffix}.test`, { key: keys.partner });
    expect(none).toMatchObject({ status: 200, body: { smartAccounts: [] } });
  });

  test.each([
    ['', 'domain', 'is required'],
    ['?domain=acme', 'domain', 'must be a domain name such as acme.com (any case)'],
    ['?domain=acme_corp.com', 'domain', 'must be a domain name such as acme.com (any case)'],
    ['?domain=acme.com&limit=5', 'limit', 'is not a known field'],
  ])('GET /v1/smart-accounts%s is 400 naming %s', async (query, field, reason) => {
    const res = await api.call('GET', `/v1/smart-accounts${query}`, { key: keys.partner });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('ValidationFailed');
    expect(fields(res.body)).toContainEqual({ field, reason });
  });
});

describe('POST /v1/smart-account-requests (R2)', () => {
  let world: TestWorld;
  let keys: Record<Who, string>;
  beforeAll(async () => ({ world, keys } = await worldWithKeys()));

  test('a valid request creates the account pending activation and emails the contact an activation link; a repeat writes and mails nothing', async () => {
    const domain = `newco-${world.suffix}.test`;
    const contact = { email: `it@${domain}`, fullName: 'Ines IT', registeredId: `ines-${world.suffix}` };
    const contactId = await registerContact(stack.db, contact);
    const accountId = requestedAccountId(domain, contactId);
    activationWorkflows.add(activationWorkflowId(accountId));

    const res = await api.call('POST', '/v1/smart-account-requests', { key: keys.partner, body: { domain, contact } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accountId, domain, status: 'pending_activation', alreadyRequested: false });

    expect(await stack.db('accounts').where({ domain })).toEqual([
      expect.objectContaining({
        id: accountId,
        kind: 'smart_account',
        status: 'pending_activation',
        name: domain,
        primary_contact_id: String(contactId),
      }),
    ]);
    expect(await stack.db('smart_account_requests').where({ domain })).toEqual([
      expect.objectContaining({
        contact_id: String(contactId),
        requested_by_partner_id: world.partnerId,
        account_id: accountId,
        status: 'pending_activation',
        refusal_reason: null,
      }),
    ]);
    // The activation workflow of the account runs and the contact receives the activation email.
    const [mail] = await waitForMail(isFirstRequest(contact.email));
    expect(mail).toBeDefined();
    expect(mail.to).toEqual([contact.email]);
    expect(mail.text).toContain(domain);
    const token = activationToken(stack, mail);
    expect((await stack.client.workflow.getHandle(activationWorkflowId(accountId)).describe()).status.name).toBe('RUNNING');

    // The same request again (even with the domain's own key and other casing of the email): same account, nothing new.
    const again = await api.call('POST', '/v1/smart-account-requests', {
      key: keys.partner,
      body: { domain, contact: { ...contact, email: contact.email.toUpperCase() } },
    });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ accountId, domain, status: 'pending_activation', alreadyRequested: true });
    expect(await stack.db('accounts').where({ domain }).count({ n: '*' })).toEqual([{ n: '1' }]);
    expect(await stack.db('smart_account_requests').where({ domain }).count({ n: '*' })).toEqual([{ n: '1' }]);
    expect(await stack.db('email_outbox').where({ to_address: contact.email, template: 'activation-request' }).count({ n: '*' })).toEqual([
      { n: '1' },
    ]);
    expect(await waitForMail(isActivationMail(contact.email), 2, 1_500)).toHaveLength(1);
    expect(await stack.db('users').whereRaw('lower(email) = ?', [contact.email]).count({ n: '*' })).toEqual([{ n: '1' }]);

    // The contact activates it through the emailed link; asking again reports it active.
    await activateSmartAccount({ db: stack.db, client: stack.client, taskQueue: stack.taskQueue }, token);
    await stack.client.workflow.getHandle(activationWorkflowId(accountId)).result();
    const afterActivation = await api.call('POST', '/v1/smart-account-requests', { key: keys.partner, body: { domain, contact } });
    expect(afterActivation.status).toBe(200);
    expect(afterActivation.body).toEqual({ accountId, domain, status: 'active', alreadyRequested: true });
    expect(await stack.db('smart_account_requests').where({ domain }).pluck('status')).toEqual(['activated']);
    expect(await waitForMail(isActivationMail(contact.email), 2, 1_000)).toHaveLength(1);
  });

  test('an operator must name the requesting partner; a partner may not request for another one', async () => {
    const domain = `opco-${world.suffix}.test`;
    const contact = { email: `buyer@${domain}`, registeredId: `buyer-${world.suffix}` };
    await registerContact(stack.db, contact);

    const unnamed = await api.call('POST', '/v1/smart-account-requests', { key: keys.operator, body: { domain, contact } });
    expect(unnamed.status).toBe(400);
    expect(fields(unnamed.body)).toEqual([{ field: 'requestedByPartnerId', reason: 'is required with an operator key' }]);

    const forOther = await api.call('POST', '/v1/smart-account-requests', {
      key: keys.partner,
      body: { domain, contact, requestedByPartnerId: world.otherPartnerId },
    });
    expect(forOther.status).toBe(403);
    expect(forOther.body.message).toContain('requestedByPartnerId');

    const unknownPartner = await api.call('POST', '/v1/smart-account-requests', {
      key: keys.operator,
      body: { domain, contact, requestedByPartnerId: `ghost-${world.suffix}` },
    });
    expect(unknownPartner.status).toBe(422);
    expect(unknownPartner.body.error).toBe('UnknownPartner');
    expect(await stack.db('smart_account_requests').where({ domain })).toEqual([]);

    const named = await api.call('POST', '/v1/smart-account-requests', {
      key: keys.operator,
      body: { domain, contact, requestedByPartnerId: world.otherPartnerId },
    });
    expect(named.status).toBe(202);
    activationWorkflows.add(activationWorkflowId(named.body.accountId));
    expect(await stack.db('smart_account_requests').where({ domain }).pluck('requested_by_partner_id')).toEqual([world.otherPartnerId]);
    expect(await waitForMail(isFirstRequest(contact.email))).toHaveLength(1);

    // The distributor, an unrelated partner: any key may request for itself.
    const byDistributor = await api.call('POST', '/v1/smart-account-requests', { key: keys.distributor, body: { domain, contact } });
    expect(byDistributor).toMatchObject({ status: 200, body: { accountId: named.body.accountId, alreadyRequested: true } });
  });

  /** A refused request: 422 with the reason, recorded as refused; no account, no workflow, no mail. */
  async function expectRefused(res: { status: number; body: any }, domain: string, contactEmail: string, reason: string) {
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ error: 'SmartAccountRequestRefused', message: `Smart Account request for ${domain} refused: ${reason}` });
    const contactId = await contactIdOf(contactEmail);
    expect(await stack.db('smart_account_requests').where({ contact_id: contactId })).toEqual([
      expect.objectContaining({
        domain,
        status: 'refused',
        refusal_reason: reason,
        account_id: null,
        requested_by_partner_id: world.partnerId,
      }),
    ]);
    expect(await stack.db('accounts').where({ primary_contact_id: contactId })).toEqual([]);
    await expect(
      stack.client.workflow.getHandle(activationWorkflowId(requestedAccountId(domain, contactId))).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await waitForMail((m) => m.to.includes(contactEmail.toLowerCase()), 1, 500)).toEqual([]);
  }

  test('R2: a contact of another domain is refused (422) with both domains named; repeated, still one refusal', async () => {
    const domain = `mismatch-${world.suffix}.test`;
    const contact = { email: `buyer@elsewhere-${world.suffix}.test`, registeredId: `bea-${world.suffix}` };
    await registerContact(stack.db, contact);
    const reason = `the contact's email domain "elsewhere-${world.suffix}.test" does not match the requested domain "${domain}"`;
    await expectRefused(
      await api.call('POST', '/v1/smart-account-requests', { key: keys.partner, body: { domain, contact } }),
      domain,
      contact.email,
      reason,
    );
    await expectRefused(
      await api.call('POST', '/v1/smart-account-requests', { key: keys.partner, body: { domain, contact } }),
      domain,
      contact.email,
      reason,
    );
  });

  test('R2: a contact without a registered user ID is refused, even when the request types one', async () => {
    const domain = `noid-${world.suffix}.test`;
    const email = `new@${domain}`;
    const res = await api.call('POST', '/v1/smart-account-requests', {
      key: keys.partner,
      body: { domain, contact: { email, fullName: 'Nat New', registeredId: 'made-up-id' } },
    });
    await expectRefused(res, domain, email, 'the contact has no registered user ID; they must register one first');
    expect(await stack.db('users').whereRaw('lower(email) = ?', [email]).first('registered_id', 'full_name')).toEqual({
      registered_id: null,
      full_name: 'Nat New',
    });
  });

  test("R2: a registered user ID that is not the contact's is refused", async () => {
    const domain = `wrongid-${world.suffix}.test`;
    const contact = { email: `it@${domain}`, registeredId: `real-${world.suffix}` };
    await registerContact(stack.db, contact);
    const res = await api.call('POST', '/v1/smart-account-requests', {
      key: keys.partner,
      body: { domain, contact: { ...contact, registeredId: 'someone-else' } },
    });
    await expectRefused(res, domain, contact.email, "the registered user ID given for the contact is not the contact's");
  });

  test.each([
    ['no body', undefined, [{ field: '(body)', reason: 'must be a JSON object: domain and contact' }]],
    [
      'nothing in it',
      {},
      [
        { field: 'domain', reason: 'is required' },
        { field: 'contact', reason: 'is required' },
      ],
    ],
    [
      'bad values',
      { domain: 'Not A Domain', contact: { email: 'not-an-email', registeredId: '-x' } },
      [
        { field: 'domain', reason: 'must be a lower-case domain name such as acme.com' },
        { field: 'contact.email', reason: 'must be an email address' },
        { field: 'contact.registeredId', reason: expect.stringMatching(/^must be the contact's registered user ID/) },
      ],
    ],
    [
      'an unknown field',
      { domain: 'ok.test', contact: { email: 'a@ok.test', phone: '1' }, priority: 'high' },
      [
        { field: 'contact.phone', reason: 'is not a known field' },
        { field: 'priority', reason: 'is not a known field' },
      ],
    ],
    [
      'a two-line name',
      { domain: 'ok.test', contact: { email: 'a@ok.test', fullName: 'A\nB' } },
      [{ field: 'contact.fullName', reason: 'must be one line of 1-200 characters' }],
    ],
  ])('400 with %s, naming every field; nothing written', async (_what, body, expected) => {
    const res = await api.call('POST', '/v1/smart-account-requests', { key: keys.partner, ...(body === undefined ? {} : { body }) });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('ValidationFailed');
    expect(fields(res.body)).toEqual(expect.arrayContaining(expected));
    expect(fields(res.body)).toHaveLength(expected.length);
    // Other test files share the database: look only at what these bodies name.
    expect(await stack.db('users').whereRaw('lower(email) = ?', ['a@ok.test'])).toEqual([]);
    expect(await stack.db('smart_account_requests').whereIn('domain', ['ok.test', 'Not A Domain'])).toEqual([]);
  });
});

describe('virtual accounts', () => {
  let world: TestWorld;
  let keys: Record<Who, string>;
  beforeAll(async () => ({ world, keys } = await worldWithKeys()));

  const SA_TREE = [
    { path: 'Finance', name: 'Finance', parentPath: null },
    { path: 'Region-US', name: 'Region-US', parentPath: null },
    { path: 'Region-US/Finance', name: 'Finance', parentPath: 'Region-US' },
    { path: 'Region-US/Finance/Sacramento', name: 'Sacramento', parentPath: 'Region-US/Finance' },
  ];

  test.each([
    ['operator', 200],
    ['partner', 200], // sa_user on the Smart Account
    ['distributor', 403], // resells for the partner but holds no role on the customer's account
    ['otherPartner', 403],
  ] as Array<[Who, number]>)("GET a Smart Account's virtual accounts as %s: %d", async (who, status) => {
    const res = await api.call('GET', `/v1/accounts/${world.smartAccountId}/virtual-accounts`, { key: keys[who] });
    expect(res.status).toBe(status);
    if (status === 200) expect(res.body).toEqual({ virtualAccounts: SA_TREE });
    else expect(res.body).toEqual({ error: 'Forbidden', message: expect.stringContaining('has no role on Smart Account') });
  });

  test.each([
    ['operator', 200],
    ['partner', 200], // owner
    ['distributor', 200], // the owner's distributor (R10)
    ['otherPartner', 403],
  ] as Array<[Who, number]>)("GET a holding account's virtual accounts as %s: %d", async (who, status) => {
    const res = await api.call('GET', `/v1/accounts/${world.holdingAccountId}/virtual-accounts`, { key: keys[who] });
    expect(res.status).toBe(status);
    if (status === 200) expect(res.body).toEqual({ virtualAccounts: [{ path: 'EMEA', name: 'EMEA', parentPath: null }] });
  });

  test('an unknown account is 404, a malformed account ID 400', async () => {
    const unknown = await api.call('GET', `/v1/accounts/sa-nothing-${world.suffix}/virtual-accounts`, { key: keys.operator });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'NotFound' } });
    const bad = await api.call('POST', `/v1/accounts/${encodeURIComponent('-bad id')}/virtual-accounts`, {
      key: keys.operator,
      body: { path: 'X' },
    });
    expect(bad.status).toBe(400);
    expect(fields(bad.body)).toEqual([{ field: 'accountId', reason: expect.stringMatching(/^must be an account ID/) }]);
  });

  test('the operator creates a nested path: missing parents are created (201); again, 200 created:false and no second row', async () => {
    const path = 'Region-EU/France/Paris';
    const first = await api.call('POST', `/v1/accounts/${world.smartAccountId}/virtual-accounts`, { key: keys.operator, body: { path } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ path, name: 'Paris', parentPath: 'Region-EU/France', created: true });
    const again = await api.call('POST', `/v1/accounts/${world.smartAccountId}/virtual-accounts`, { key: keys.operator, body: { path } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ path, name: 'Paris', parentPath: 'Region-EU/France', created: false });

    const rows = await stack
      .db('virtual_accounts as va')
      .leftJoin('virtual_accounts as p', 'p.id', 'va.parent_id')
      .where('va.account_id', world.smartAccountId)
      .where('va.path', 'like', 'Region-EU%')
      .orderBy('va.path')
      .select('va.path', 'va.name', 'p.path as parent');
    expect(rows).toEqual([
      { path: 'Region-EU', name: 'Region-EU', parent: null },
      { path: 'Region-EU/France', name: 'France', parent: 'Region-EU' },
      { path: 'Region-EU/France/Paris', name: 'Paris', parent: 'Region-EU/France' },
    ]);
    // A parent that existed already is reported as existing.
    const parent = await api.call('POST', `/v1/accounts/${world.smartAccountId}/virtual-accounts`, {
      key: keys.operator,
      body: { path: 'Region-EU' },
    });
    expect(parent).toMatchObject({ status: 200, body: { created: false, parentPath: null } });
  });

  test('in a Smart Account a partner needs sa_admin, or va_admin on a parent of the path (R11)', async () => {
    const create = (who: Who, path: string) =>
      api.call('POST', `/v1/accounts/${world.smartAccountId}/virtual-accounts`, { key: keys[who], body: { path } });
    // sa_user is not enough; the distributor and the unrelated partner hold nothing.
    for (const who of ['partner', 'distributor', 'otherPartner'] as Who[]) {
      const res = await create(who, 'Marketing');
      expect(res.status).toBe(403);
      expect(res.body.message).toContain('sa_admin');
    }
    expect(await stack.db('virtual_accounts').where({ account_id: world.smartAccountId, path: 'Marketing' })).toEqual([]);

    // The customer grants the unrelated partner va_admin on Finance, the partner sa_admin.
    const vaAdmin = await api.call('POST', `/v1/accounts/${world.smartAccountId}/role-grants`, {
      key: keys.operator,
      body: { partnerId: world.otherPartnerId, role: 'va_admin', virtualAccountPath: 'Finance' },
    });
    expect(vaAdmin.status).toBe(201);
    expect((await create('otherPartner', 'Finance/Payroll')).status).toBe(201);
    expect((await create('otherPartner', 'Finance/Payroll/2027')).status).toBe(201);
    expect((await create('otherPartner', 'Marketing')).status).toBe(403);
    expect((await create('otherPartner', 'Region-US/Finance/Fresno')).status).toBe(403); // another "Finance"
    expect((await create('otherPartner', 'Finance')).status).toBe(403); // the granted one itself is not below it

    const saAdmin = await api.call('POST', `/v1/accounts/${world.smartAccountId}/role-grants`, {
      key: keys.operator,
      body: { partnerId: world.partnerId, role: 'sa_admin' },
    });
    expect(saAdmin.status).toBe(201);
    expect(await create('partner', 'Marketing')).toMatchObject({ status: 201, body: { path: 'Marketing', created: true } });

    // Revoked, the role no longer allows it.
    expect(
      (await api.call('DELETE', `/v1/accounts/${world.smartAccountId}/role-grants/${vaAdmin.body.grantId}`, { key: keys.operator })).status,
    ).toBe(204);
    expect((await create('otherPartner', 'Finance/Audit')).status).toBe(403);
  });

  test.each([
    ['partner', 201], // owner
    ['distributor', 201], // the owner's distributor (R10)
    ['otherPartner', 403],
    ['operator', 201],
  ] as Array<[Who, number]>)('in a holding account %s creates: %d', async (who, status) => {
    const path = `EMEA/${who}`;
    const res = await api.call('POST', `/v1/accounts/${world.holdingAccountId}/virtual-accounts`, { key: keys[who], body: { path } });
    expect(res.status).toBe(status);
    expect(await stack.db('virtual_accounts').where({ account_id: world.holdingAccountId, path }).count({ n: '*' })).toEqual([
      { n: status === 201 ? '1' : '0' },
    ]);
  });

  test.each([
    ['no body', undefined, '(body)', 'must be a JSON object with the path'],
    ['no path', {}, 'path', 'is required'],
    ['a leading slash', { path: '/Finance' }, 'path', expect.stringMatching(/^must be names of 1-80 characters/)],
    ['an empty name', { path: 'Finance//Payroll' }, 'path', expect.stringMatching(/^must be names of 1-80 characters/)],
    ['a trailing space', { path: 'Finance ' }, 'path', expect.stringMatching(/^must be names of 1-80 characters/)],
    ['a number', { path: 7 }, 'path', expect.stringMatching(/^must be names of 1-80 characters/)],
    ['an unknown field', { path: 'X', parent: 'Y' }, 'parent', 'is not a known field'],
  ])('400 for %s, naming the field; nothing written', async (_what, body, field, reason) => {
    const before = await stack.db('virtual_accounts').where({ account_id: world.smartAccountId }).count({ n: '*' });
    const res = await api.call('POST', `/v1/accounts/${world.smartAccountId}/virtual-accounts`, {
      key: keys.operator,
      ...(body === undefined ? {} : { body }),
    });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual([{ field, reason }]);
    expect(await stack.db('virtual_accounts').where({ account_id: world.smartAccountId }).count({ n: '*' })).toEqual(before);
  });

  test('a closed account takes no new virtual account (422)', async () => {
    const closedId = `sa-closed-${world.suffix}`;
    await stack.db('accounts').insert({ id: closedId, kind: 'smart_account', name: 'Closed', domain: world.domain, status: 'closed' });
    const res = await api.call('POST', `/v1/accounts/${closedId}/virtual-accounts`, { key: keys.operator, body: { path: 'X' } });
    expect(res).toMatchObject({ status: 422, body: { error: 'AccountNotActive' } });
    expect(await stack.db('virtual_accounts').where({ account_id: closedId })).toEqual([]);
  });
});

describe('holding-account members (R9)', () => {
  let world: TestWorld;
  let keys: Record<Who, string>;
  beforeAll(async () => ({ world, keys } = await worldWithKeys()));
  const membersPath = () => `/v1/holding-accounts/${world.holdingAccountId}/members`;

  test.each([
    ['operator', 200],
    ['partner', 200],
    ['distributor', 200],
    ['otherPartner', 403],
  ] as Array<[Who, number]>)('GET members as %s: %d', async (who, status) => {
    const res = await api.call('GET', membersPath(), { key: keys[who] });
    expect(res.status).toBe(status);
    if (status === 200) {
      expect(res.body).toEqual({
        members: [{ email: world.holdingMemberEmail, fullName: 'Morgan Member', subscribedAt: expect.any(String) }],
      });
      expect(Number.isNaN(Date.parse(res.body.members[0].subscribedAt))).toBe(false);
    } else {
      expect(res.body).toEqual({ error: 'Forbidden', message: `holding account ${world.holdingAccountId} belongs to another partner` });
    }
  });

  test('a Smart Account has no members (422); an unknown account is 404', async () => {
    for (const [method, path, body] of [
      ['GET', `/v1/holding-accounts/${world.smartAccountId}/members`, undefined],
      ['POST', `/v1/holding-accounts/${world.smartAccountId}/members`, { email: `x@partner-${world.suffix}.test` }],
      ['DELETE', `/v1/holding-accounts/${world.smartAccountId}/members/${encodeURIComponent(world.customerEmail)}`, undefined],
    ] as Array<[string, string, unknown]>) {
      const res = await api.call(method, path, { key: keys.operator, ...(body ? { body } : {}) });
      expect(res).toMatchObject({ status: 422, body: { error: 'NotAHoldingAccount' } });
    }
    expect(await stack.db('holding_account_subscriptions').where({ account_id: world.smartAccountId })).toEqual([]);
    const unknown = await api.call('GET', `/v1/holding-accounts/pha-nothing-${world.suffix}/members`, { key: keys.partner });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'NotFound' } });
  });

  test('the owner signs a member up (201); again, 200 with the same sign-up and no second row; the list shows it', async () => {
    const email = `new.member@partner-${world.suffix}.test`;
    const first = await api.call('POST', membersPath(), { key: keys.partner, body: { email, fullName: 'Nico New' } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ email, fullName: 'Nico New', subscribedAt: expect.any(String) });
    const again = await api.call('POST', membersPath(), { key: keys.partner, body: { email: email.toUpperCase() } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const userIds = await stack.db('users').whereRaw('lower(email) = ?', [email]).pluck('id');
    expect(userIds).toHaveLength(1);
    expect(
      await stack.db('holding_account_subscriptions').where({ account_id: world.holdingAccountId, user_id: userIds[0] }).count({ n: '*' }),
    ).toEqual([{ n: '1' }]);
    const list = await api.call('GET', membersPath(), { key: keys.partner });
    expect(list.body.members.map((m: { email: string }) => m.email)).toEqual([world.holdingMemberEmail, email]);
  });

  test.each([
    ['distributor', 201],
    ['operator', 201],
    ['otherPartner', 403],
  ] as Array<[Who, number]>)('%s signs a member up: %d', async (who, status) => {
    const email = `by-${who.toLowerCase()}@partner-${world.suffix}.test`;
    const res = await api.call('POST', membersPath(), { key: keys[who], body: { email } });
    expect(res.status).toBe(status);
    const subscribed = await stack
      .db('holding_account_subscriptions as s')
      .join('users as u', 'u.id', 's.user_id')
      .where('s.account_id', world.holdingAccountId)
      .where('u.email', email);
    expect(subscribed).toHaveLength(status === 201 ? 1 : 0);
  });

  test('removing a member: 204, then 404 (not a member any more); the user stays known; others may not', async () => {
    const email = `leaving@partner-${world.suffix}.test`;
    expect((await api.call('POST', membersPath(), { key: keys.operator, body: { email } })).status).toBe(201);

    const refused = await api.call('DELETE', `${membersPath()}/${encodeURIComponent(email)}`, { key: keys.otherPartner });
    expect(refused.status).toBe(403);
    const byDistributor = await api.call('DELETE', `${membersPath()}/${encodeURIComponent(email.toUpperCase())}`, {
      key: keys.distributor,
    });
    expect(byDistributor.status).toBe(204);
    expect(byDistributor.body).toBeUndefined();
    const again = await api.call('DELETE', `${membersPath()}/${encodeURIComponent(email)}`, { key: keys.partner });
    expect(again).toMatchObject({
      status: 404,
      body: { error: 'NotFound', message: `member ${email} of holding account ${world.holdingAccountId} does not exist` },
    });

    const list = await api.call('GET', membersPath(), { key: keys.partner });
    expect(list.body.members.map((m: { email: string }) => m.email)).not.toContain(email);
    expect(await stack.db('users').where({ email }).count({ n: '*' })).toEqual([{ n: '1' }]);
  });

  test.each([
    ['no email', {}, 'email', 'is required'],
    ['a bad email', { email: 'no at sign' }, 'email', 'must be an email address'],
    ['a two-line name', { email: 'ok@partner.test', fullName: 'A\r\nB' }, 'fullName', 'must be one line of 1-200 characters'],
    ['an unknown field', { email: 'ok@partner.test', role: 'admin' }, 'role', 'is not a known field'],
  ])('POST a member with %s is 400 naming the field; nothing written', async (_what, body, field, reason) => {
    const before = await stack.db('holding_account_subscriptions').where({ account_id: world.holdingAccountId }).count({ n: '*' });
    const res = await api.call('POST', membersPath(), { key: keys.partner, body });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual([{ field, reason }]);
    expect(await stack.db('users').whereRaw('lower(email) = ?', ['ok@partner.test'])).toEqual([]);
    expect(await stack.db('holding_account_subscriptions').where({ account_id: world.holdingAccountId }).count({ n: '*' })).toEqual(before);
  });

  test('DELETE with a malformed email is 400 naming email', async () => {
    const res = await api.call('DELETE', `${membersPath()}/not-an-email`, { key: keys.partner });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual([{ field: 'email', reason: 'must be an email address' }]);
  });
});

describe('role grants (R11)', () => {
  let world: TestWorld;
  let keys: Record<Who, string>;
  beforeAll(async () => ({ world, keys } = await worldWithKeys()));
  const grantsPath = () => `/v1/accounts/${world.smartAccountId}/role-grants`;

  test('the operator sees every live grant; a partner or distributor sees its own only', async () => {
    const operator = await api.call('GET', grantsPath(), { key: keys.operator });
    expect(operator.status).toBe(200);
    const partnerGrant = {
      grantId: expect.stringMatching(/^\d+$/),
      partnerId: world.partnerId,
      role: 'sa_user',
      virtualAccountPath: null,
      grantedAt: expect.any(String),
    };
    expect(operator.body).toEqual({ roleGrants: [partnerGrant] });
    expect(await api.call('GET', grantsPath(), { key: keys.partner })).toMatchObject({ status: 200, body: { roleGrants: [partnerGrant] } });
    expect(await api.call('GET', grantsPath(), { key: keys.distributor })).toMatchObject({ status: 200, body: { roleGrants: [] } });
    expect(await api.call('GET', grantsPath(), { key: keys.otherPartner })).toMatchObject({ status: 200, body: { roleGrants: [] } });
  });

  test('the operator grants a virtual-account role (201); the same grant again is 200 with the same grant and no second row', async () => {
    const body = { partnerId: world.otherPartnerId, role: 'va_user', virtualAccountPath: 'Region-US/Finance' };
    const first = await api.call('POST', grantsPath(), { key: keys.operator, body });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ grantId: expect.stringMatching(/^\d+$/), ...body, grantedAt: expect.any(String) });
    expect(first.headers.get('location')).toBe(`${grantsPath()}/${first.body.grantId}`);
    const again = await api.call('POST', grantsPath(), { key: keys.operator, body });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(
      await stack
        .db('role_grants')
        .where({ account_id: world.smartAccountId, partner_id: world.otherPartnerId })
        .whereNull('revoked_at')
        .count({ n: '*' }),
    ).toEqual([{ n: '1' }]);
    // The grantee now sees its grant, and the account's virtual accounts.
    expect((await api.call('GET', grantsPath(), { key: keys.otherPartner })).body.roleGrants).toEqual([first.body]);
    expect((await api.call('GET', `/v1/accounts/${world.smartAccountId}/virtual-accounts`, { key: keys.otherPartner })).status).toBe(200);
  });

  test.each(['partner', 'distributor', 'otherPartner'] as Who[])(
    '%s (no sa_admin) may not grant or revoke (403); nothing changes',
    async (who) => {
      const grant = await api.call('POST', grantsPath(), { key: keys[who], body: { partnerId: world.distributorId, role: 'sa_admin' } });
      expect(grant).toMatchObject({
        status: 403,
        body: {
          error: 'Forbidden',
          message: expect.stringMatching(/may not grant sa_admin in Smart Account .*: that needs the sa_admin role$/),
        },
      });
      const [existing] = await stack.db('role_grants').where({ account_id: world.smartAccountId, partner_id: world.partnerId }).pluck('id');
      const revoke = await api.call('DELETE', `${grantsPath()}/${existing}`, { key: keys[who] });
      expect(revoke.status).toBe(403);
      expect(await stack.db('role_grants').where({ account_id: world.smartAccountId, partner_id: world.distributorId })).toEqual([]);
      expect(await stack.db('role_grants').where({ id: existing }).first('revoked_at')).toEqual({ revoked_at: null });
    },
  );

  test('revoking: 204, again 204 (already revoked), a grant of another account or none at all 404', async () => {
    const granted = await api.call('POST', grantsPath(), {
      key: keys.operator,
      body: { partnerId: world.distributorId, role: 'sa_admin' },
    });
    expect(granted.status).toBe(201);
    const path = `${grantsPath()}/${granted.body.grantId}`;
    expect((await api.call('DELETE', path, { key: keys.operator })).status).toBe(204);
    expect(await stack.db('role_grants').where({ id: granted.body.grantId }).first('revoked_at')).toEqual({ revoked_at: expect.any(Date) });
    const revokedAt = (await stack.db('role_grants').where({ id: granted.body.grantId }).first('revoked_at')).revoked_at;
    expect((await api.call('DELETE', path, { key: keys.operator })).status).toBe(204);
    expect((await stack.db('role_grants').where({ id: granted.body.grantId }).first('revoked_at')).revoked_at).toEqual(revokedAt);
    expect((await api.call('GET', grantsPath(), { key: keys.distributor })).body.roleGrants).toEqual([]);

    // Granting it again after the revocation is a new grant.
    const regranted = await api.call('POST', grantsPath(), {
      key: keys.operator,
      body: { partnerId: world.distributorId, role: 'sa_admin' },
    });
    expect(regranted.status).toBe(201);
    expect(regranted.body.grantId).not.toBe(granted.body.grantId);

    const elsewhere = await api.call('DELETE', `/v1/accounts/${world.pendingSmartAccountId}/role-grants/${granted.body.grantId}`, {
      key: keys.operator,
    });
    expect(elsewhere).toMatchObject({ status: 404, body: { error: 'NotFound' } });
    expect((await api.call('DELETE', `${grantsPath()}/999999999999`, { key: keys.operator })).status).toBe(404);
    expect((await api.call('DELETE', `/v1/accounts/sa-nothing-${world.suffix}/role-grants/1`, { key: keys.operator })).status).toBe(404);
  });

  test.each([
    [
      'a va role without a virtual account',
      { partnerId: 'p', role: 'va_admin' },
      [{ field: 'virtualAccountPath', reason: 'is required for a va_admin role' }],
    ],
    [
      'an sa role with a virtual account',
      { partnerId: 'p', role: 'sa_user', virtualAccountPath: 'Finance' },
      [{ field: 'virtualAccountPath', reason: 'must be absent for an sa_user role: it covers the whole Smart Account' }],
    ],
    [
      'an unknown role',
      { partnerId: 'p', role: 'owner' },
      [{ field: 'role', reason: 'must be one of sa_admin, sa_user, va_admin, va_user, va_viewer' }],
    ],
    ['nothing', {}, [{ field: 'role', reason: 'is required' }]],
    [
      'no grantee',
      { role: 'sa_user' },
      [{ field: 'partnerId', reason: 'give exactly one of partnerId (a partner) and userId (a registered user ID)' }],
    ],
    [
      'two grantees',
      { role: 'sa_user', partnerId: 'p', userId: 'u' },
      [{ field: 'partnerId', reason: 'give exactly one of partnerId (a partner) and userId (a registered user ID)' }],
    ],
    [
      'an unknown field',
      { partnerId: 'p', role: 'sa_user', expires: '2027-01-01' },
      [{ field: 'expires', reason: 'is not a known field' }],
    ],
  ])('400 for %s, naming the field; nothing written', async (_what, body, expected) => {
    const before = await stack.db('role_grants').where({ account_id: world.smartAccountId }).count({ n: '*' });
    const res = await api.call('POST', grantsPath(), { key: keys.operator, body });
    expect(res.status).toBe(400);
    expect(fields(res.body)).toEqual(expected);
    expect(await stack.db('role_grants').where({ account_id: world.smartAccountId }).count({ n: '*' })).toEqual(before);
  });

  test('422 for an unknown partner, an unknown virtual account or a holding account; 404 for an unknown account; 400 for a bad grant ID', async () => {
    const unknownPartner = await api.call('POST', grantsPath(), {
      key: keys.operator,
      body: { partnerId: `ghost-${world.suffix}`, role: 'sa_user' },
    });
    expect(unknownPartner).toMatchObject({ status: 422, body: { error: 'UnknownPartner' } });
    const unknownVa = await api.call('POST', grantsPath(), {
      key: keys.operator,
      body: { partnerId: world.otherPartnerId, role: 'va_admin', virtualAccountPath: 'Nowhere' },
    });
    expect(unknownVa).toMatchObject({
      status: 422,
      body: { error: 'UnknownVirtualAccount', message: expect.stringContaining('"Nowhere"') },
    });
    const holding = await api.call('POST', `/v1/accounts/${world.holdingAccountId}/role-grants`, {
      key: keys.operator,
      body: { partnerId: world.otherPartnerId, role: 'sa_user' },
    });
    expect(holding).toMatchObject({ status: 422, body: { message: expect.stringContaining('roles are granted on Smart Accounts only') } });
    expect((await api.call('GET', `/v1/accounts/${world.holdingAccountId}/role-grants`, { key: keys.operator })).status).toBe(422);
    expect(
      await stack
        .db('role_grants')
        .whereIn('partner_id', [`ghost-${world.suffix}`])
        .orWhere({ account_id: world.holdingAccountId }),
    ).toEqual([]);

    const unknownAccount = await api.call('POST', `/v1/accounts/sa-nothing-${world.suffix}/role-grants`, {
      key: keys.operator,
      body: { partnerId: world.partnerId, role: 'sa_user' },
    });
    expect(unknownAccount).toMatchObject({ status: 404, body: { error: 'NotFound' } });
    const badId = await api.call('DELETE', `${grantsPath()}/abc`, { key: keys.operator });
    expect(badId.status).toBe(400);
    expect(fields(badId.body)).toEqual([{ field: 'grantId', reason: 'must be a grant ID (a whole number)' }]);
  });
});

test('the activation workflow a request started is the one an order for the same contact joins (one request, one email)', async () => {
  const { world, keys } = await worldWithKeys();
  const domain = `shared-${world.suffix}.test`;
  const contact = { email: `it@${domain}`, registeredId: `sam-${world.suffix}` };
  const contactId = await registerContact(stack.db, contact);
  const res = await api.call('POST', '/v1/smart-account-requests', { key: keys.partner, body: { domain, contact } });
  expect(res.status).toBe(202);
  const workflowId = activationWorkflowId(requestedAccountId(domain, contactId));
  activationWorkflows.add(workflowId);
  await waitForMail(isFirstRequest(contact.email));

  const { bookedByPartnerId: _b, ...booking } = {
    externalReference: `REQ-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'request_smart_account', domain },
    endCustomerContact: contact,
    lines: [{ lineNumber: 1, sku: 'ISR4K-SEC-PERP', quantity: 1, licenseType: 'smart', smartAccountMandatory: true }],
  };
  const order = await api.call('POST', '/v1/orders', { key: keys.partner, body: booking });
  expect(order.status).toBe(201);
  const status = await pollUntil(
    () => stack.client.workflow.getHandle(workflowId).query(activationStatusQuery),
    (s) => s.waitingOrders.includes(order.body.workflowId),
    'the order joining the activation workflow',
  );
  expect(status).toMatchObject({ accountId: res.body.accountId, activated: false });
  expect(await waitForMail(isActivationMail(contact.email), 2, 1_500)).toHaveLength(1);
  await stack.client.workflow.getHandle(order.body.workflowId).terminate('test done');
});
