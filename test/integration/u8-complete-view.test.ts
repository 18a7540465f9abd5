/**
 * U8 (R23, R24): one Smart Account with nested virtual accounts shown through the API, the CLI
 * and the pages in a real browser (signed in through the emailed link), every number equal to
 * the rows; a VA viewer reads only its subtree and cannot change anything; a partner without a
 * role sees nothing. The license-use rows are seeded by test/helpers/license-view-fixtures.ts.
 */
import type { Grantee } from '../../src/accounts/roles';
import type { Db } from '../../src/db/knex';
import { viewScopeOf } from '../../src/licensing/views-access';
import { instancesOf } from '../../src/licensing/views-licenses';
import { useLinkedStackAndApi, withBrowser } from '../helpers/browser';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { grantTo, seedLicenseUse, SEEDED_POOLS, userKey, verifiedUser, type ViewUser } from '../helpers/license-view-fixtures';
import { PageClient, tokenOfLink } from '../helpers/pages';
import { receivedNow, uniqueSuffix, waitForMail } from '../helpers/stack';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import { runCliInProcess, type CliRun } from '../helpers/cli';

const { stack, api } = useLinkedStackAndApi(__filename);
jest.setTimeout(120_000);

let world: TestWorld;
let admin: ViewUser;
let viewer: ViewUser;
let adminKey: string;
let viewerKey: string;
let noRolePartnerKey: string;
let operatorKey: string;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  await seedLicenseUse(stack.db, world);
  admin = await verifiedUser(stack.db, world, 'ada');
  viewer = await verifiedUser(stack.db, world, 'viewer');
  await grantTo(stack.db, world.smartAccountId, admin, 'sa_admin');
  await grantTo(stack.db, world.smartAccountId, viewer, 'va_viewer', 'Region-US');
  adminKey = await userKey(stack.db, admin);
  viewerKey = await userKey(stack.db, viewer);
  noRolePartnerKey = await api.keyFor('partner', world.otherPartnerId);
  operatorKey = await api.keyFor('operator');
});

/** What the pools hold, straight from the rows: the figure every door must show (bigint counters read as numbers). */
async function poolRows(db: Db, accountId: string) {
  const rows: Array<{ path: string; sku: string; purchased: string; authorized: string; overage: string; unserved: string }> = await db(
    'license_pools as p',
  )
    .join('virtual_accounts as va', 'va.id', 'p.virtual_account_id')
    .where('p.account_id', accountId)
    .orderBy([{ column: 'va.path' }, { column: 'p.sku' }])
    .select('va.path', 'p.sku', 'p.purchased', 'p.authorized', 'p.overage', 'p.unserved');
  return rows.map((r) => ({
    path: r.path,
    sku: r.sku,
    purchased: Number(r.purchased),
    authorized: Number(r.authorized),
    overage: Number(r.overage),
    unserved: Number(r.unserved),
  }));
}

const path = (suffix: string) => `/v1/accounts/${world.smartAccountId}/${suffix}`;

describe('the API', () => {
  test('an SA admin sees every VA: licenses equal the pool rows; instances, tokens, alerts, events, chart data', async () => {
    const rows = await poolRows(stack.db, world.smartAccountId);
    expect(rows).toHaveLength(SEEDED_POOLS.length);
    const licenses = await api.call('GET', path('licenses'), { key: adminKey });
    expect(licenses.status).toBe(200);
    expect(licenses.body.licenses).toEqual(
      rows.map((r) => {
        const inUse = r.authorized + r.overage + r.unserved;
        const seeded = SEEDED_POOLS.find((p) => p.path === r.path)!;
        return {
          virtualAccountPath: r.path,
          sku: r.sku,
          purchased: r.purchased,
          inUse,
          balance: r.purchased - inUse,
          overage: r.overage,
          unserved: r.unserved,
          nextExpiryOn: seeded.nextExpiryOn,
          insufficientSince: null,
        };
      }),
    );
    expect(licenses.body.licenses.find((l: { virtualAccountPath: string }) => l.virtualAccountPath === 'Region-US/Finance')).toMatchObject({
      inUse: 7,
      balance: -2,
    });

    const instances = (await api.call('GET', path('instances'), { key: adminKey })).body.instances;
    const instanceRows = await stack.db('product_instances').where({ account_id: world.smartAccountId });
    expect(instances).toHaveLength(instanceRows.length);
    // Use per VA and SKU adds up to the pool's counters.
    for (const r of rows) {
      const used = instances
        .filter((i: { virtualAccountPath: string }) => i.virtualAccountPath === r.path)
        .flatMap((i: { uses: Array<{ sku: string; count: number }> }) => i.uses)
        .filter((u: { sku: string }) => u.sku === r.sku)
        .reduce((n: number, u: { count: number }) => n + u.count, 0);
      expect(used).toBe(r.authorized + r.overage + r.unserved);
    }

    const tokens = (await api.call('GET', path('tokens'), { key: adminKey })).body.tokens;
    expect(tokens).toHaveLength(3);
    expect(JSON.stringify(tokens)).not.toMatch(/hash/i);
    expect(tokens[0]).toMatchObject({ uses: 2, maxUses: 10, status: 'active' });
    expect((await api.call('GET', path('alerts'), { key: adminKey })).body.alerts).toHaveLength(2);
    const events = (await api.call('GET', path('events'), { key: adminKey })).body.events;
    expect(events.map((e: { type: string }) => e.type)).toEqual(['agreement_changed', 'usage_reported', 'instance_registered']);
    const chart = (await api.call('GET', `${path('daily-use')}?virtualAccountPath=Finance`, { key: adminKey })).body.series;
    expect(chart).toEqual([{ virtualAccountPath: 'Finance', sku: 'C9300-DNA-E-3Y', points: expect.any(Array) }]);
    expect(chart[0].points).toHaveLength(5);
    expect(chart[0].points[4]).toEqual({ day: expect.any(String), purchased: 10, inUse: 6 });
  });

  test('instances page through with a cursor: every instance once, in the same order; a bad cursor or limit names its field', async () => {
    const all = (await api.call('GET', path('instances'), { key: adminKey })).body;
    expect(all.nextCursor).toBeNull();
    expect(all.instances.length).toBeGreaterThanOrEqual(3);
    const paged: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages === 0 || after; pages++) {
      expect(pages).toBeLessThan(all.instances.length);
      const page: { status: number; body: { instances: Array<{ instanceId: string }>; nextCursor: string | null } } = await api.call(
        'GET',
        `${path('instances')}?limit=2${after ? `&after=${after}` : ''}`,
        { key: adminKey },
      );
      expect(page.status).toBe(200);
      expect(page.body.instances.length).toBeLessThanOrEqual(2);
      paged.push(...page.body.instances.map((i) => i.instanceId));
      after = page.body.nextCursor;
    }
    expect(paged).toEqual(all.instances.map((i: { instanceId: string }) => i.instanceId));

    const forged = Buffer.from(JSON.stringify(['not a time', 'x'])).toString('base64url');
    for (const [query, field] of [
      [`after=${forged}`, 'after'],
      ['after=***', 'after'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
    ]) {
      const res = await api.call('GET', `${path('instances')}?${query}`, { key: adminKey });
      expect({ query, status: res.status, fields: res.body.errors.map((e: { field: string }) => e.field) }).toEqual({
        query,
        status: 400,
        fields: [field],
      });
    }
  });

  test('the instances answer judges the scope in its own statement: every page at limits 1, 7, 100 and 1000 is what viewScopeOf and instancesOf give, refusals alike', async () => {
    const partnerKey = await api.keyFor('partner', world.partnerId);
    const callers: Array<[string, Grantee]> = [
      [adminKey, { kind: 'user', userId: admin.userId }],
      [viewerKey, { kind: 'user', userId: viewer.userId }],
      [operatorKey, { kind: 'operator' }],
      [partnerKey, { kind: 'partner', partnerId: world.partnerId }],
      [noRolePartnerKey, { kind: 'partner', partnerId: world.otherPartnerId }],
    ];
    const refusals = { 'unknown-account': 404, 'no-role': 403, 'unknown-virtual-account': 404 };
    let compared = 0;
    for (const [key, grantee] of callers) {
      for (const accountId of [world.smartAccountId, world.holdingAccountId, `nothing-${world.suffix}`]) {
        for (const virtualAccountPath of [undefined, 'Region-US', 'Region-US/Finance', 'Finance', 'Nope']) {
          const scope = await viewScopeOf(stack.db, grantee, accountId, virtualAccountPath);
          for (const includeRemoved of [false, true]) {
            for (const limit of [1, 7, 100, 1000]) {
              let after: string | null = null;
              do {
                const query = new URLSearchParams({ limit: String(limit), includeRemoved: String(includeRemoved) });
                if (virtualAccountPath) query.set('virtualAccountPath', virtualAccountPath);
                if (after) query.set('after', after);
                const res = await fetch(`${api.baseUrl}/v1/accounts/${encodeURIComponent(accountId)}/instances?${query.toString()}`, {
                  headers: { authorization: `Bearer ${key}` },
                });
                const text = await res.text();
                const context = { grantee, accountId, virtualAccountPath, includeRemoved, limit, after };
                if (!scope.ok) {
                  expect({ ...context, status: res.status }).toEqual({ ...context, status: refusals[scope.reason] });
                  break;
                }
                const page = await instancesOf(stack.db, scope.scope, { includeRemoved, limit, after: after ?? undefined });
                expect({ ...context, text }).toEqual({ ...context, text: JSON.stringify({ accountId, ...page }) });
                compared++;
                after = page.nextCursor;
              } while (after);
            }
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  test('the event log as CSV: quoted, formula-safe, one line per event', async () => {
    const res = await fetch(`${api.baseUrl}${path('events.csv')}`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const csv = await res.text();
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('eventId,at,virtualAccountPath,type,subject,actor,details');
    expect(csv).toContain(`"'=HYPERLINK(""http://evil.test"",""x"")"`);
    expect(csv).toContain(`"device:pi-region, ""quoted"""`);
    expect(csv).toContain('"{""note"":""a, b\\nc""}"');
    expect(csv.endsWith('\r\n')).toBe(true);
  });

  test('a VA viewer of Region-US sees that subtree only; the API refuses every change', async () => {
    const licenses = (await api.call('GET', path('licenses'), { key: viewerKey })).body.licenses;
    expect(licenses.map((l: { virtualAccountPath: string }) => l.virtualAccountPath)).toEqual([
      'Region-US/Finance',
      'Region-US/Finance/Sacramento',
    ]);
    const alerts = (await api.call('GET', path('alerts'), { key: viewerKey })).body.alerts;
    expect(alerts.map((a: { kind: string }) => a.kind)).toEqual(['insufficient_licenses']);
    expect((await api.call('GET', path('events'), { key: viewerKey })).body.events.map((e: { type: string }) => e.type)).toEqual([
      'usage_reported',
    ]);
    expect((await api.call('GET', `${path('licenses')}?virtualAccountPath=Finance`, { key: viewerKey })).status).toBe(404);

    const before = await stack.db('role_grants').where({ account_id: world.smartAccountId }).count({ n: '*' });
    const grant = await api.call('POST', path('role-grants'), {
      key: viewerKey,
      body: { userId: viewer.registeredId, role: 'va_admin', virtualAccountPath: 'Region-US' },
    });
    expect(grant.status).toBe(403);
    expect((await api.call('POST', path('virtual-accounts'), { key: viewerKey, body: { path: 'Region-US/New' } })).status).toBe(403);
    expect(await stack.db('role_grants').where({ account_id: world.smartAccountId }).count({ n: '*' })).toEqual(before);
  });

  test('a partner without a role sees nothing (403 everywhere); an operator sees everything', async () => {
    for (const view of ['licenses', 'instances', 'tokens', 'alerts', 'events', 'events.csv', 'daily-use']) {
      const res = await api.call('GET', path(view), { key: noRolePartnerKey });
      expect({ view, status: res.status }).toEqual({ view, status: 403 });
    }
    expect((await api.call('GET', path('role-grants'), { key: noRolePartnerKey })).body.roleGrants).toEqual([]);
    expect((await api.call('GET', path('licenses'), { key: operatorKey })).body.licenses).toHaveLength(SEEDED_POOLS.length);
    expect((await api.call('GET', `/v1/accounts/nothing-${world.suffix}/licenses`, { key: operatorKey })).status).toBe(404);
  });
});

describe('the CLI (in process, against the real API)', () => {
  const cli = (args: string[], key: string): Promise<CliRun> => runCliInProcess(args, { apiUrl: api.baseUrl, apiKey: key });

  test('licenses, instances and events --csv show the same rows; --json parses; a partner without a role is refused', async () => {
    const table = await cli(['licenses', world.smartAccountId], adminKey);
    expect(table.code).toBe(0);
    for (const pool of SEEDED_POOLS) {
      const inUse = pool.authorized + pool.overage + pool.unserved;
      expect(table.stdout).toMatch(
        new RegExp(`${pool.path}\\s+${pool.sku}\\s+${pool.purchased}\\s+${inUse}\\s+${pool.purchased - inUse}\\s`),
      );
    }
    const json = await cli(['--json', 'licenses', world.smartAccountId, '--va', 'Region-US'], viewerKey);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).licenses).toHaveLength(2);
    const instances = await cli(['instances', world.smartAccountId], adminKey);
    expect(instances.stdout).toContain('switch-finance');
    const csv = await cli(['events', world.smartAccountId, '--csv'], adminKey);
    expect(csv.code).toBe(0);
    expect(csv.stdout.split('\r\n')[0]).toBe('eventId,at,virtualAccountPath,type,subject,actor,details');
    expect(csv.stdout).toContain(`"'=HYPERLINK(`);
    const refused = await cli(['licenses', world.smartAccountId], noRolePartnerKey);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('no role on Smart Account');
  });
});

/** Signs `user` in over HTTP (the emailed link, opened and posted), for the no-browser checks. */
async function signedInClient(user: ViewUser): Promise<PageClient> {
  const client = new PageClient(api.baseUrl);
  const isSignIn = (m: CaughtMail) => m.to.includes(user.email.toLowerCase()) && m.headers['x-email-template'] === 'sign-in';
  const earlier = receivedNow(isSignIn).length;
  await client.submit('/sign-in', { email: user.email });
  const mails = await waitForMail(isSignIn, earlier + 1);
  expect(mails).toHaveLength(earlier + 1);
  expect((await client.submit(`/sign-in/${tokenOfLink(mails[earlier], api.baseUrl, 'sign-in')}`, {})).status).toBe(303);
  return client;
}

describe('the pages', () => {
  test('in Chromium: sign in through the emailed link, then the overview, a VA (chart, instances), people, events and the CSV', async () => {
    await withBrowser(async ({ page, context, cspViolations }) => {
      await page.goto(`${api.baseUrl}/sign-in`);
      await page.getByLabel('Email address').fill(admin.email);
      await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
      await page.getByRole('heading', { name: 'Check your email' }).waitFor();
      const [mail] = await waitForMail((m) => m.to.includes(admin.email.toLowerCase()) && m.headers['x-email-template'] === 'sign-in');
      await page.goto(`${api.baseUrl}/sign-in/${tokenOfLink(mail, api.baseUrl, 'sign-in')}`);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Your Smart Accounts' }).waitFor();
      await page.getByRole('link', { name: world.smartAccountName }).click();

      await page.getByRole('heading', { name: world.smartAccountName }).waitFor();
      const licenseTable = page.getByRole('table', { name: 'Licenses per virtual account and SKU' });
      const rows = await licenseTable.locator('tbody tr').allInnerTexts();
      const dbRows = await poolRows(stack.db, world.smartAccountId);
      expect(rows).toHaveLength(dbRows.length);
      for (const [i, r] of dbRows.entries()) {
        const inUse = r.authorized + r.overage + r.unserved;
        expect(rows[i].split('\t').slice(0, 7)).toEqual([
          r.path,
          r.sku,
          String(r.purchased),
          String(inUse),
          String(r.purchased - inUse),
          String(r.overage),
          String(r.unserved),
        ]);
      }

      await page.getByRole('link', { name: 'Region-US/Finance', exact: true }).first().click();
      await page.getByRole('heading', { name: 'Virtual account Region-US/Finance' }).waitFor();
      expect(await page.getByRole('img', { name: /C9300-DNA-E-3Y in Region-US\/Finance: use against purchase/ }).count()).toBe(1);
      const instanceRows = await page.getByRole('table', { name: 'Product instances' }).locator('tbody tr').count();
      expect(instanceRows).toBe(
        await stack
          .db('product_instances as i')
          .join('virtual_accounts as va', 'va.id', 'i.virtual_account_id')
          .where('va.path', 'like', 'Region-US/Finance%')
          .where('i.account_id', world.smartAccountId)
          .count({ n: '*' })
          .then(([{ n }]) => Number(n)),
      );

      await page.getByRole('link', { name: 'Tokens' }).click();
      expect(await page.getByRole('table', { name: 'Registration tokens' }).locator('tbody tr').count()).toBe(
        Number((await stack.db('registration_tokens').where({ account_id: world.smartAccountId }).count({ n: '*' }))[0].n),
      );
      await page.getByRole('link', { name: 'Alerts' }).click();
      expect(await page.getByRole('table', { name: 'Alerts, newest first' }).locator('tbody tr').count()).toBe(
        Number((await stack.db('license_alerts').where({ account_id: world.smartAccountId }).count({ n: '*' }))[0].n),
      );
      await page.getByRole('link', { name: 'Users and roles' }).click();
      expect(await page.getByRole('button', { name: 'Grant' }).count()).toBe(1);
      await page.getByRole('link', { name: 'Event log' }).click();
      expect(await page.getByRole('table', { name: 'Events, newest first' }).locator('tbody tr').count()).toBe(3);
      const csv = await context.request.get(`${api.baseUrl}/accounts/${world.smartAccountId}/events.csv`);
      expect(csv.status()).toBe(200);
      expect((await csv.text()).split('\r\n')[0]).toBe('eventId,at,virtualAccountPath,type,subject,actor,details');
      expect(cspViolations).toEqual([]);
    });
  });

  test('a VA viewer sees its subtree and no change buttons; its POST is refused and changes nothing', async () => {
    const client = await signedInClient(viewer);
    const overview = await client.get(`/accounts/${world.smartAccountId}`);
    expect(overview.status).toBe(200);
    expect(overview.text).toContain('Region-US/Finance/Sacramento');
    expect(overview.text).not.toContain('>Finance<');
    const people = await client.get(`/accounts/${world.smartAccountId}/people`);
    expect(people.status).toBe(200);
    expect(people.text).not.toContain('<button type="submit">Grant</button>');
    expect(people.text).not.toContain('Revoke');
    const before = await stack.db('role_grants').where({ account_id: world.smartAccountId }).count({ n: '*' });
    const posted = await client.submit(
      `/accounts/${world.smartAccountId}/people`,
      { grantee: viewer.registeredId, granteeKind: 'user', role: 'va_admin', virtualAccountPath: 'Region-US' },
      `/accounts/${world.smartAccountId}/people/grants`,
    );
    expect(posted.status).toBe(403);
    expect(await stack.db('role_grants').where({ account_id: world.smartAccountId }).count({ n: '*' })).toEqual(before);
  });

  test('an SA admin grants and revokes a role on the page; their own API key is made and revoked on the profile page', async () => {
    const client = await signedInClient(admin);
    const people = `/accounts/${world.smartAccountId}/people`;
    const granted = await client.submit(
      people,
      { grantee: world.otherPartnerId, granteeKind: 'partner', role: 'va_viewer', virtualAccountPath: 'Finance' },
      `${people}/grants`,
    );
    expect(granted.status).toBe(200);
    expect(granted.text).toContain(`Granted va_viewer to ${world.otherPartnerId}.`);
    const row = await stack
      .db('role_grants')
      .where({ account_id: world.smartAccountId, partner_id: world.otherPartnerId, role: 'va_viewer' })
      .whereNull('revoked_at')
      .first();
    expect(row).toMatchObject({ granted_by: `user:${admin.userId}` });
    const revoked = await client.submit(people, {}, `${people}/grants/${row.id}/revoke`);
    expect(revoked.status).toBe(303);
    expect((await stack.db('role_grants').where({ id: row.id }).first('revoked_at')).revoked_at).toEqual(expect.any(Date));
    // The account's only admin cannot revoke their own sa_admin: the page says why, nothing changes.
    const own = await stack
      .db('role_grants')
      .where({ account_id: world.smartAccountId, user_id: admin.userId, role: 'sa_admin' })
      .whereNull('revoked_at')
      .first('id');
    const last = await client.submit(people, {}, `${people}/grants/${own.id}/revoke`);
    expect(last.status).toBe(409);
    expect(last.text).toContain('the last Smart Account admin');
    expect((await stack.db('role_grants').where({ id: own.id }).first('revoked_at')).revoked_at).toBeNull();
    const badRole = await client.submit(people, { grantee: viewer.registeredId, granteeKind: 'user', role: 'owner' }, `${people}/grants`);
    expect(badRole.status).toBe(400);
    // A refused form comes back as it was sent, its field named by the form's label, not sa_admin on an empty form.
    const noPath = await client.submit(
      people,
      { grantee: viewer.registeredId, granteeKind: 'user', role: 'va_viewer' },
      `${people}/grants`,
    );
    expect(noPath.status).toBe(400);
    expect(noPath.text).toContain('Virtual account: is required for a va_viewer role');
    expect(noPath.text).toContain(`name="grantee" value="${viewer.registeredId}"`);
    expect(noPath.text).toMatch(/<option value="va_viewer" selected>/);
    expect(noPath.text).not.toMatch(/<option value="sa_admin" selected>/);

    const made = await client.submit('/me', { label: 'nightly export' }, '/me/api-keys');
    expect(made.status).toBe(200);
    const key = /<p class="key">(lfk_[A-Za-z0-9_-]{43})<\/p>/.exec(made.text)![1];
    expect((await api.call('GET', '/v1/me', { key })).body.registeredId).toBe(admin.registeredId);
    const keyRow = await stack.db('api_keys').where({ user_id: admin.userId, label: 'nightly export' }).first('id');
    expect((await client.submit('/me', {}, `/me/api-keys/${keyRow.id}/revoke`)).status).toBe(303);
    expect((await api.call('GET', '/v1/me', { key })).status).toBe(401);
  });

  test('a signed-in user without a role on the account gets a 404 page; nobody signed in is sent to sign in', async () => {
    const stranger = await verifiedUser(stack.db, world, 'stranger');
    const client = await signedInClient(stranger);
    expect((await client.get(`/accounts/${world.smartAccountId}`)).status).toBe(404);
    expect((await client.get(`/accounts/${world.smartAccountId}/events.csv`)).status).toBe(404);
    const anonymous = await new PageClient(api.baseUrl).get(`/accounts/${world.smartAccountId}`);
    expect(anonymous.status).toBe(303);
    // The sign-in page names the page asked for, to come back to it once signed in.
    expect(anonymous.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent(`/accounts/${world.smartAccountId}`)}`);
  });
});
