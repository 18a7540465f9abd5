/**
 * Security (issue 5, item 3) on the real stack, as an attacker would try it. What other files
 * already prove is not repeated here (docs/SECURITY.md maps every control to its tests):
 *
 * - what the authorization matrix (authorization-matrix.test.ts: every route × every caller)
 *   cannot say with a status: booking keys and list cursors of another partner, an operator
 *   acting for an outsider, a distributor acting as its reseller, a revoked key;
 * - the customer links: a delegation token only acts on its own order, is no activation token
 *   (nor the reverse), an activation link is single use and expires, and no raw token is kept
 *   anywhere (Postgres rows, the outbox, the decrypted workflow history);
 * - the rate limit of the real app's customer pages (spoofed X-Forwarded-For included) and the
 *   headers behind HTTPS (HSTS, Secure cookie);
 * - SQL injection in every text field: refused (400) or stored verbatim, every table intact;
 * - header injection in everything that reaches a mail header (names, addresses, account names
 *   in subjects), checked on the raw messages the SMTP server received.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { type ApplicationFailure } from '@temporalio/common';
import { hashApiKey, revokeApiKey, VERIFIED_KEY_TTL_MS } from '../../src/api/auth';
import { registerCustomerPages } from '../../src/orders/customer-page-routes';
import { deriveOrderId } from '../../src/orders/book-order';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import { createLogger } from '../../src/logging';
import { hashToken, tokenHashHex } from '../../src/security/tokens';
import { submitCustomerChoiceUpdate } from '../../src/orders/workflow-api';
import { startTestApi } from '../helpers/api';
import { useLinkedStackAndApi } from '../helpers/browser';
import { createTestWorld, registerContact, type TestWorld } from '../helpers/fixtures';
import { TOKEN_PATTERN, activationToken, isFirstRequest, linkToken } from '../helpers/links';
import { PERPETUAL_LINE, TERM_LINE, entitlementsOf, listWorkflowIds, pollUntil, waitForStatus } from '../helpers/orders';
import { openHistory, payloadsOf } from '../helpers/payloads';
import { SCHEMA_TABLES } from '../helpers/schema';
import { caughtMail, mailOf, uniqueSuffix, waitForMail } from '../helpers/stack';

jest.setTimeout(90_000);
// Reminders far away: every mail counted here is the first of its kind. Links lead to this file's API.
const { stack, api } = useLinkedStackAndApi(__filename, { reminderIntervalMs: 60 * 60_000, escalationAfterMs: 2 * 60 * 60_000 });

const EVIL = 'evil@evil.test';
const SQL_INJECTIONS = [
  "' OR 1=1 --",
  "'; DROP TABLE orders; --",
  '" OR ""="',
  '1; SELECT pg_sleep(5); --',
  "' UNION SELECT key_hash FROM api_keys --",
  "\\'; DELETE FROM users; --",
  "Robert'); DROP TABLE users;--",
];
/** Every table of the schema: after the injections each must still be there and answer. */
const TABLES = SCHEMA_TABLES;

let a: TestWorld;
let b: TestWorld;
const keys = {} as Record<'aPartner' | 'aDistributor' | 'bPartner' | 'bDistributor' | 'operator', string>;

const booking = (world: TestWorld, reference: string, extra: Record<string, unknown> = {}) => ({
  externalReference: reference,
  assignment: { kind: 'holding_account', accountId: world.holdingAccountId, virtualAccountPath: 'EMEA' },
  lines: [PERPETUAL_LINE, TERM_LINE],
  ...extra,
});

async function bookThroughApi(key: string, body: Record<string, unknown>): Promise<{ orderId: string; workflowId: string }> {
  const res = await api.call('POST', '/v1/orders', { key, body });
  expect({ status: res.status, body: res.body }).toEqual({ status: 201, body: expect.objectContaining({ alreadyBooked: false }) });
  return res.body;
}

beforeAll(async () => {
  a = await createTestWorld(stack.db, uniqueSuffix());
  b = await createTestWorld(stack.db, uniqueSuffix());
  keys.aPartner = await api.keyFor('partner', a.partnerId);
  keys.aDistributor = await api.keyFor('distributor', a.distributorId);
  keys.bPartner = await api.keyFor('partner', b.partnerId);
  keys.bDistributor = await api.keyFor('distributor', b.distributorId);
  keys.operator = await api.keyFor('operator');
});

afterAll(async () => {
  // Held and delegated orders would remind for as long as the dev server lives.
  for (const workflowId of await listWorkflowIds(stack.client, `TaskQueue = "${stack.taskQueue}" AND ExecutionStatus = "Running"`).catch(
    () => [],
  )) {
    await stack.client.workflow
      .getHandle(workflowId)
      .terminate('security test done')
      .catch(() => undefined);
  }
});

// ---------------------------------------------------------------- authorisation beyond the matrix

// Every route against every kind of caller is authorization-matrix.test.ts; here what a status cannot say.
describe("partner B and B's distributor against partner A: keys, cursors, acting for others", () => {
  let aOrder: { orderId: string; workflowId: string };

  beforeAll(async () => {
    aOrder = await bookThroughApi(keys.aPartner, booking(a, `SEC-A-${a.suffix}`));
    await waitForStatus(
      stack.client,
      aOrder.workflowId,
      (s) => s.waitingFor === 'PartnerTransfer' && s.emailsSent.includes('transfer-needed'),
    );
  });

  test("a reference or an Idempotency-Key that partner A used gives partner B its own order, never A's", async () => {
    const reference = `SEC-SHARED-${a.suffix}`;
    const headers = { 'idempotency-key': `shared-${a.suffix}` };
    const ofA = await api.call('POST', '/v1/orders', { key: keys.aPartner, body: booking(a, reference), headers });
    const ofB = await api.call('POST', '/v1/orders', { key: keys.bPartner, body: booking(b, reference), headers });
    expect([ofA.status, ofB.status]).toEqual([201, 201]);
    expect(ofA.body.orderId).toBe(deriveOrderId(a.partnerId, reference));
    expect(ofB.body.orderId).toBe(deriveOrderId(b.partnerId, reference));
    expect(ofB.body.orderId).not.toBe(ofA.body.orderId);
    // B's replay is B's order; B cannot read A's.
    const replay = await api.call('POST', '/v1/orders', { key: keys.bPartner, body: booking(b, reference), headers });
    expect(replay.body).toMatchObject({ orderId: ofB.body.orderId, alreadyBooked: true });
    expect((await api.call('GET', `/v1/orders/${ofA.body.orderId}`, { key: keys.bPartner })).status).toBe(403);
  });

  test("a list cursor taken from partner A's pages shows partner B nothing of A's", async () => {
    // A needs two listed orders for a first page with a cursor. An order's row is written by its
    // workflow's first activity, so the list is read until the second one is there.
    await bookThroughApi(keys.aPartner, booking(a, `SEC-CURSOR-${a.suffix}`));
    const page = await pollUntil(
      () => api.call('GET', `/v1/orders?limit=1`, { key: keys.aPartner }),
      (p) => p.status === 200 && typeof p.body.nextCursor === 'string',
      "a first page of partner A's orders with a cursor",
    );
    const asB = await api.call('GET', `/v1/orders?limit=500&cursor=${page.body.nextCursor}`, { key: keys.bPartner });
    expect(asB.status).toBe(200);
    for (const order of asB.body.orders) expect(order.partnerId).toBe(b.partnerId);
  });

  test("an operator acting for an outsider on A's order is refused; A's distributor ships and cancels A's order (R10)", async () => {
    const asOutsider = await api.call('POST', `/v1/orders/${aOrder.orderId}/assignment`, {
      key: keys.operator,
      body: { accountId: a.smartAccountId, actingPartnerId: b.partnerId },
    });
    expect(asOutsider).toMatchObject({ status: 403, body: { error: 'Forbidden', message: expect.stringContaining(b.partnerId) } });

    const order = await bookThroughApi(keys.aPartner, booking(a, `SEC-DIST-${a.suffix}`));
    await waitForStatus(stack.client, order.workflowId, (s) => s.waitingFor === 'PartnerTransfer');
    const shipped = await api.call('POST', `/v1/orders/${order.orderId}/shipments`, {
      key: keys.aDistributor,
      body: { lineNumber: 2, shippedOn: '2026-11-20' },
    });
    expect(shipped.status).toBe(202);
    await waitForStatus(stack.client, order.workflowId, (s) => s.lines[1].shippedOn === '2026-11-20');
    const cancelled = await api.call('POST', `/v1/orders/${order.orderId}/cancellation`, {
      key: keys.aDistributor,
      body: { reason: 'distributor cancels' },
    });
    expect({ status: cancelled.status, phase: cancelled.body.phase }).toEqual({ status: 200, phase: 'Cancelled' });
  });

  test("a distributor speaks only for itself: no booking as its reseller, no Smart Account request in its reseller's name", async () => {
    const asReseller = await api.call('POST', '/v1/orders', {
      key: keys.aDistributor,
      body: booking(a, `SEC-DIST-AS-${a.suffix}`, { bookedByPartnerId: a.partnerId }),
    });
    expect(asReseller.status).toBe(403);
    const request = await api.call('POST', '/v1/smart-account-requests', {
      key: keys.aDistributor,
      body: { domain: a.domain, contact: { email: a.customerEmail, registeredId: `casey-${a.suffix}` }, requestedByPartnerId: a.partnerId },
    });
    expect(request.status).toBe(403);
    expect(await stack.db('smart_account_requests').where({ domain: a.domain })).toEqual([]);
  });

  test('a revoked key stops working on the accounts routes too', async () => {
    const key = await api.keyFor('partner', a.partnerId);
    expect((await api.call('GET', `/v1/holding-accounts/${a.holdingAccountId}/members`, { key })).status).toBe(200);
    const { id } = await stack
      .db('api_keys')
      .where({ key_hash: hashApiKey(key) })
      .first('id');
    await revokeApiKey(stack.db, String(id));
    const res = await api.call('GET', `/v1/holding-accounts/${a.holdingAccountId}/members`, { key });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  test('a key revoked by another process (the CLI, SQL) stops working here within VERIFIED_KEY_TTL_MS', async () => {
    const key = await api.keyFor('partner', a.partnerId);
    const path = `/v1/holding-accounts/${a.holdingAccountId}/members`;
    expect((await api.call('GET', path, { key })).status).toBe(200);
    const revokedAt = Date.now();
    await stack
      .db('api_keys')
      .where({ key_hash: hashApiKey(key) })
      .update({ revoked_at: stack.db.fn.now() });
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < VERIFIED_KEY_TTL_MS + 1_000) {
      status = (await api.call('GET', path, { key })).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(VERIFIED_KEY_TTL_MS + 500);
  });
});

// ---------------------------------------------------------------- customer links

/** Opens a customer page: its CSRF cookie and hidden field. */
async function openForm(url: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(url);
  expect({ url, status: res.status }).toEqual({ url, status: 200 });
  const cookie = /^(lf_csrf=[A-Za-z0-9_-]{43});/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const csrf = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(await res.text())?.[1];
  expect(cookie && csrf).toBeTruthy();
  return { cookie: cookie!, csrf: csrf! };
}

async function postForm(url: string, fields: Record<string, string>, cookie: string): Promise<{ status: number; html: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  return { status: res.status, html: await res.text() };
}

async function delegatedOrder(world: TestWorld, reference: string, contact: { email: string; fullName?: string }) {
  const key = world === a ? keys.aPartner : keys.bPartner;
  const order = await bookThroughApi(key, { ...booking(world, reference), assignment: { kind: 'delegate' }, endCustomerContact: contact });
  const [mail] = await waitForMail(mailOf(order.orderId, 'delegation-request'));
  const token = linkToken(stack, mail, 'delegations');
  await waitForStatus(stack.client, order.workflowId, (s) => s.waitingFor === 'CustomerChoice');
  return { ...order, mail, token };
}

/** A Smart Account requested through the API for a registered contact, and its activation link. */
async function requestedAccount(world: TestWorld, label: string) {
  const domain = `${label}-${world.suffix}.test`;
  const email = `admin@${domain}`;
  await registerContact(stack.db, { email, registeredId: `${label}-${world.suffix}` });
  const res = await api.call('POST', '/v1/smart-account-requests', {
    key: keys.aPartner,
    body: { domain, contact: { email, registeredId: `${label}-${world.suffix}` } },
  });
  expect(res.status).toBe(202);
  const [mail] = await waitForMail(isFirstRequest(email));
  return { accountId: res.body.accountId as string, domain, email, token: activationToken(stack, mail) };
}

describe('customer links: scope, single use, expiry, hashed at rest', () => {
  test("a delegation token acts only on its own order: sent to another order's workflow it is refused, and both orders are untouched", async () => {
    const ofA = await delegatedOrder(a, `SEC-DEL-A-${a.suffix}`, { email: a.customerEmail });
    const ofB = await delegatedOrder(b, `SEC-DEL-B-${b.suffix}`, { email: b.customerEmail });
    const handleB = stack.client.workflow.getHandle(ofB.workflowId);
    const statusB = await handleB.query('orderStatus');

    // Even an account of B's own domain (a choice B's contact could make) is refused with A's link.
    const err = await handleB
      .executeUpdate(submitCustomerChoiceUpdate, {
        args: [{ tokenHash: tokenHashHex(ofA.token), choice: { kind: 'existing', accountId: b.smartAccountId } }],
      })
      .then(
        () => new Error('accepted'),
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
    expect({ type: cause.type, message: cause.message }).toEqual({ type: 'InvalidLink', message: 'this link is not valid for this order' });

    expect(await handleB.query('orderStatus')).toEqual(statusB);
    expect(await entitlementsOf(stack.db, ofB.orderId)).toEqual([]);
    for (const token of [ofA.token, ofB.token]) {
      expect(
        await stack
          .db('access_tokens')
          .where({ token_hash: hashToken(token) })
          .first('used_at'),
      ).toEqual({ used_at: null });
    }

    // At rest and in flight only the hash exists: not in Postgres, not in the outbox, not in the history.
    const opened = await openHistory(await handleB.fetchHistory(), process.env.PAYLOAD_ENCRYPTION_KEYS!);
    const history = payloadsOf(opened)
      .map((payload) => Buffer.from(payload.data ?? new Uint8Array()).toString('utf8'))
      .join('\n');
    expect(history).toContain(tokenHashHex(ofA.token));
    expect(history).not.toContain(ofA.token);
    const rows = JSON.stringify([
      await stack.db('access_tokens').whereIn('order_id', [ofA.orderId, ofB.orderId]),
      await stack.db('email_outbox').whereIn('order_id', [ofA.orderId, ofB.orderId]),
      await stack.db('order_events').whereIn('order_id', [ofA.orderId, ofB.orderId]),
    ]);
    for (const token of [ofA.token, ofB.token]) {
      expect(rows).not.toContain(token);
      // 256 random bits each, and different.
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
    expect(ofA.token).not.toBe(ofB.token);
  });

  test('a delegation token is no activation token, and an activation token no delegation token', async () => {
    const delegation = await delegatedOrder(a, `SEC-KIND-${a.suffix}`, { email: a.customerEmail });
    const activation = await requestedAccount(a, 'kind');
    for (const path of [`/activations/${delegation.token}`, `/delegations/${activation.token}`]) {
      const res = await fetch(`${api.baseUrl}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await res.text()).toContain('<h1>This link is not valid</h1>');
    }
    // Neither link was used up by the attempt.
    for (const token of [delegation.token, activation.token]) {
      expect(
        await stack
          .db('access_tokens')
          .where({ token_hash: hashToken(token) })
          .first('used_at'),
      ).toEqual({ used_at: null });
    }
    expect((await stack.db('accounts').where({ id: activation.accountId }).first('status')).status).toBe('pending_activation');
  });

  test('an activation link works once: the second post is a 410 and changes nothing', async () => {
    const activation = await requestedAccount(a, 'once');
    const url = `${api.baseUrl}/activations/${activation.token}`;
    const form = await openForm(url);
    const first = await postForm(url, { csrf: form.csrf }, form.cookie);
    expect(first.status).toBe(200);
    const activatedAt = await stack
      .db('accounts')
      .where({ id: activation.accountId })
      .first<{ status: string; activated_at: Date }>('status', 'activated_at');
    expect(activatedAt.status).toBe('active');
    const usedAt = (
      await stack
        .db('access_tokens')
        .where({ token_hash: hashToken(activation.token) })
        .first('used_at')
    ).used_at;
    expect(usedAt).toEqual(expect.any(Date));

    const second = await postForm(url, { csrf: form.csrf }, form.cookie);
    expect(second.status).toBe(410);
    expect(second.html).toContain('<h1>This link has already been used</h1>');
    expect(await stack.db('accounts').where({ id: activation.accountId }).first('status', 'activated_at')).toEqual(activatedAt);
    expect(
      (
        await stack
          .db('access_tokens')
          .where({ token_hash: hashToken(activation.token) })
          .first('used_at')
      ).used_at,
    ).toEqual(usedAt);
  });

  test('an expired activation link is a 410, even with a valid form; the account stays pending', async () => {
    const activation = await requestedAccount(a, 'late');
    const url = `${api.baseUrl}/activations/${activation.token}`;
    const form = await openForm(url);
    await stack
      .db('access_tokens')
      .where({ token_hash: hashToken(activation.token) })
      .update({ expires_at: new Date(Date.now() - 1_000) });
    expect((await fetch(url)).status).toBe(410);
    const posted = await postForm(url, { csrf: form.csrf }, form.cookie);
    expect(posted.status).toBe(410);
    expect(posted.html).toContain('<h1>This link has expired</h1>');
    expect((await stack.db('accounts').where({ id: activation.accountId }).first('status')).status).toBe('pending_activation');
    expect(
      await stack
        .db('access_tokens')
        .where({ token_hash: hashToken(activation.token) })
        .first('used_at'),
    ).toEqual({ used_at: null });
  });
});

// ---------------------------------------------------------------- rate limit and headers

describe('the customer pages of the real app', () => {
  test('30 requests a minute per client, GET and POST alike; a spoofed X-Forwarded-For does not reset it; /v1 (per key) and health are not counted with them', async () => {
    // An API of its own: the limit's counters live in the app, so the other tests keep theirs.
    const own = await startTestApi(stack);
    try {
      const unknown = () => `${own.baseUrl}/delegations/${randomBytes(32).toString('base64url')}`;
      for (let i = 1; i <= 30; i++) {
        const res =
          i % 2
            ? await fetch(unknown())
            : await fetch(unknown(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=x' });
        await res.arrayBuffer();
        expect({ i, status: res.status }).toEqual({ i, status: i % 2 ? 404 : 403 });
        expect(res.headers.get('x-ratelimit-limit')).toBe('30');
      }
      for (const forwardedFor of ['203.0.113.7', '198.51.100.1, 127.0.0.1', '::1']) {
        const res = await fetch(`${own.baseUrl}/activations/${randomBytes(32).toString('base64url')}`, {
          headers: { 'x-forwarded-for': forwardedFor, 'x-real-ip': forwardedFor },
        });
        expect({ forwardedFor, status: res.status }).toEqual({ forwardedFor, status: 429 });
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(await res.text()).toContain('<h1>Too many requests</h1>');
      }
      // /v1 counts per API key (rate-limits.test.ts), never with the pages' per-IP counter; health is not counted.
      const keyLimit = String(stack.config.rateLimits.perApiKey?.max);
      for (const [path, limit] of [
        ['/healthz', null],
        ['/v1/orders?limit=1', keyLimit],
      ] as const) {
        const res = await fetch(`${own.baseUrl}${path}`, { headers: { authorization: `Bearer ${keys.operator}` } });
        expect({ path, status: res.status, limit: res.headers.get('x-ratelimit-limit') }).toEqual({ path, status: 200, limit });
      }
    } finally {
      await own.close();
    }
  });

  test('behind HTTPS the pages add Strict-Transport-Security and a Secure CSRF cookie', async () => {
    const delegation = await delegatedOrder(a, `SEC-HTTPS-${a.suffix}`, { email: a.customerEmail });
    const logger = createLogger('security-test', 'ERROR');

    const app = Fastify({ loggerInstance: logger as any });
    await registerCustomerPages(app, {
      db: stack.db,
      client: stack.client,
      config: { ...stack.config, publicBaseUrl: 'https://licenses.example.test' },
      logger,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const res = await fetch(`${base}/delegations/${delegation.token}`);
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers.get('set-cookie')).toMatch(
        new RegExp(`^lf_csrf=[A-Za-z0-9_-]{43}; Path=/delegations/${delegation.token}; HttpOnly; SameSite=Strict; Secure$`),
      );
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      // Over plain HTTP (the test app) there is no HSTS: it would pin a host that has no HTTPS.
      expect((await fetch(`${api.baseUrl}/delegations/${delegation.token}`)).headers.get('strict-transport-security')).toBeNull();
    } finally {
      await app.close();
    }
  });
});

// ---------------------------------------------------------------- SQL injection

describe('SQL injection in every text field: refused or stored verbatim, never a 500, tables intact', () => {
  let tablesBefore: Record<string, number>;
  beforeAll(async () => {
    tablesBefore = Object.fromEntries(
      await Promise.all(TABLES.map(async (t) => [t, Number((await stack.db(t).count({ n: '*' }))[0].n)] as const)),
    );
  });

  test.each(SQL_INJECTIONS)('refused with a 400 naming the field where the syntax does not allow it: %s', async (payload) => {
    const refusals: Array<[string, string, string, unknown, string]> = [
      ['POST', '/v1/orders', keys.aPartner, booking(a, payload), 'externalReference'],
      [
        'POST',
        '/v1/orders',
        keys.aPartner,
        { ...booking(a, `SQLI-${uniqueSuffix()}`), assignment: { kind: 'smart_account', accountId: payload } },
        'assignment.accountId',
      ],
      [
        'POST',
        '/v1/orders',
        keys.aPartner,
        { ...booking(a, `SQLI-${uniqueSuffix()}`), lines: [{ ...PERPETUAL_LINE, sku: payload }] },
        'lines[0].sku',
      ],
      [
        'POST',
        '/v1/orders',
        keys.aPartner,
        {
          ...booking(a, `SQLI-${uniqueSuffix()}`),
          assignment: { kind: 'delegate' },
          endCustomerContact: { email: `${payload}@${a.domain}` },
        },
        'endCustomerContact.email',
      ],
      [
        'POST',
        '/v1/smart-account-requests',
        keys.aPartner,
        { domain: payload, contact: { email: `x@${a.domain}`, registeredId: 'r' } },
        'domain',
      ],
      ['POST', `/v1/holding-accounts/${a.holdingAccountId}/members`, keys.aPartner, { email: payload }, 'email'],
      ['POST', `/v1/accounts/${a.smartAccountId}/role-grants`, keys.operator, { partnerId: payload, role: 'sa_user' }, 'partnerId'],
      ['POST', `/v1/accounts/${a.smartAccountId}/role-grants`, keys.operator, { partnerId: a.otherPartnerId, role: payload }, 'role'],
      ['GET', `/v1/orders?partnerId=${encodeURIComponent(payload)}`, keys.aPartner, undefined, 'partnerId'],
      ['GET', `/v1/orders?customerDomain=${encodeURIComponent(payload)}`, keys.aPartner, undefined, 'customerDomain'],
      ['GET', `/v1/orders?holdingAccountId=${encodeURIComponent(payload)}`, keys.aPartner, undefined, 'holdingAccountId'],
      ['GET', `/v1/orders?status=${encodeURIComponent(payload)}`, keys.aPartner, undefined, 'status'],
      ['GET', `/v1/orders?cursor=${encodeURIComponent(payload)}`, keys.aPartner, undefined, 'cursor'],
      ['GET', `/v1/smart-accounts?domain=${encodeURIComponent(payload)}`, keys.aPartner, undefined, 'domain'],
      ['GET', `/v1/orders/${encodeURIComponent(payload)}`, keys.aPartner, undefined, 'orderId'],
      ['GET', `/v1/accounts/${encodeURIComponent(payload)}/virtual-accounts`, keys.aPartner, undefined, 'accountId'],
      ['DELETE', `/v1/accounts/${a.smartAccountId}/role-grants/${encodeURIComponent(payload)}`, keys.operator, undefined, 'grantId'],
    ];
    for (const [method, path, key, body, field] of refusals) {
      const res = await api.call(method, path, { key, ...(body === undefined ? {} : { body }) });
      expect({ path, field, status: res.status, fields: (res.body?.errors ?? []).map((e: { field: string }) => e.field) }).toEqual({
        path,
        field,
        status: 400,
        fields: expect.arrayContaining([field]),
      });
    }
    const idempotency = await api.call('POST', '/v1/orders', {
      key: keys.aPartner,
      body: booking(a, `SQLI-IDEM-${uniqueSuffix()}`),
      headers: { 'idempotency-key': payload },
    });
    expect(idempotency.status).toBe(400);
  });

  test('stored verbatim where the syntax allows it: names, e-mail local parts, virtual account paths, cancellation reasons', async () => {
    const stored: string[] = [];
    for (const [i, payload] of SQL_INJECTIONS.entries()) {
      // A member's name, and an address whose local part is an injection without spaces.
      const email = `x'or'${i}'='${i}--@${a.domain}`;
      const member = await api.call('POST', `/v1/holding-accounts/${a.holdingAccountId}/members`, {
        key: keys.aPartner,
        body: { email, fullName: payload },
      });
      expect({ payload, status: member.status, body: member.body }).toEqual({
        payload,
        status: 201,
        body: expect.objectContaining({ email, fullName: payload }),
      });
      expect(await stack.db('users').where({ email }).first('email', 'full_name')).toEqual({ email, full_name: payload });

      // A virtual account named like an injection, in the Smart Account (the operator creates it) and the holding account.
      const created = await api.call('POST', `/v1/accounts/${a.smartAccountId}/virtual-accounts`, {
        key: keys.operator,
        body: { path: `SQLi/${payload}` },
      });
      expect({ payload, status: created.status, path: created.body.path }).toEqual({ payload, status: 201, path: `SQLi/${payload}` });
      stored.push(`SQLi/${payload}`);
    }
    expect(
      (
        await stack
          .db('virtual_accounts')
          .where({ account_id: a.smartAccountId })
          .where('path', 'like', 'SQLi/%')
          .orderBy('path')
          .pluck('path')
      ).sort(),
    ).toEqual(stored.sort());

    // A contact's name in a booking, an order assigned into an injection-named virtual account, and a cancellation reason.
    const [payload] = SQL_INJECTIONS;
    const contact = { email: `sqli-contact@${a.domain}`, fullName: SQL_INJECTIONS[1] };
    const held = await bookThroughApi(keys.aPartner, booking(a, `SQLI-HELD-${a.suffix}`, { endCustomerContact: contact }));
    await waitForStatus(stack.client, held.workflowId, (s) => s.waitingFor === 'PartnerTransfer');
    expect(await stack.db('users').where({ email: contact.email }).first('full_name')).toEqual({ full_name: contact.fullName });
    const assigned = await api.call('POST', `/v1/orders/${held.orderId}/assignment`, {
      key: keys.aPartner,
      body: { accountId: a.smartAccountId, virtualAccountPath: `SQLi/${payload}` },
    });
    expect({ status: assigned.status, phase: assigned.body.phase }).toEqual({ status: 200, phase: 'AwaitingShipment' });
    expect((await entitlementsOf(stack.db, held.orderId)).map((e) => e.path)).toEqual([`SQLi/${payload}`, `SQLi/${payload}`]);

    const toCancel = await bookThroughApi(keys.aPartner, booking(a, `SQLI-CANCEL-${a.suffix}`));
    await waitForStatus(stack.client, toCancel.workflowId, (s) => s.waitingFor === 'PartnerTransfer');
    const cancelled = await api.call('POST', `/v1/orders/${toCancel.orderId}/cancellation`, {
      key: keys.aPartner,
      body: { reason: SQL_INJECTIONS[1] },
    });
    expect({ status: cancelled.status, phase: cancelled.body.phase }).toEqual({ status: 200, phase: 'Cancelled' });
    const event = await stack
      .db('order_events')
      .where({ order_id: toCancel.orderId })
      .whereRaw("details->>'reason' = ?", [SQL_INJECTIONS[1]])
      .first('type');
    expect(event).toBeDefined();

    // A crafted cursor (a real time, an injection as the order ID): a bound parameter (a page of the
    // caller's own orders) or refused as no cursor of ours (400); never a 500, never another's orders.
    const cursor = Buffer.from(JSON.stringify(['2999-01-01T00:00:00.000000Z', payload])).toString('base64url');
    const page = await api.call('GET', `/v1/orders?cursor=${cursor}`, { key: keys.aPartner });
    expect([200, 400]).toContain(page.status);
    for (const order of page.body.orders ?? []) expect(order.partnerId).toBe(a.partnerId);
  });

  test('a new account named like an injection through the delegation page is created with that very name', async () => {
    const delegation = await delegatedOrder(a, `SQLI-PAGE-${a.suffix}`, { email: a.customerEmail });
    const url = `${api.baseUrl}/delegations/${delegation.token}`;
    const form = await openForm(url);
    const name = SQL_INJECTIONS[1];
    const posted = await postForm(url, { choice: 'create', accountName: name, csrf: form.csrf }, form.cookie);
    expect(posted.status).toBe(200);
    expect(await stack.db('accounts').where({ domain: a.domain, name }).pluck('name')).toEqual([name]);
  });

  test('afterwards every table is there, answers, and has lost no row', async () => {
    for (const table of TABLES) {
      expect({ table, exists: (await stack.db.raw('select to_regclass(?) as t', [`public.${table}`])).rows[0].t !== null }).toEqual({
        table,
        exists: true,
      });
      const count = Number((await stack.db(table).count({ n: '*' }))[0].n);
      expect({ table, grewOrKept: count >= tablesBefore[table] }).toEqual({ table, grewOrKept: true });
    }
  });
});

// ---------------------------------------------------------------- header injection

/** The header block of a message as the SMTP server received it, unfolded: [name, value] pairs. */
function receivedHeaders(mail: CaughtMail): Array<[string, string]> {
  const raw = readFileSync(join(process.env.TEST_MAIL_DIR!, mail.file), 'utf8');
  const block = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  return block.split('\r\n').map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
}

/** The headers our mail carries; anything else would have been injected. */
const OUR_HEADERS = [
  'from',
  'to',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'x-order-id',
  'x-email-template',
  'x-idempotency-key',
];

function expectNoInjectedHeader(mail: CaughtMail, to: string): void {
  const headers = receivedHeaders(mail);
  for (const [name] of headers)
    expect({ file: mail.file, name, ours: OUR_HEADERS.includes(name) }).toEqual({ file: mail.file, name, ours: true });
  // One of each: a second To or Subject would be an injected one.
  for (const name of ['from', 'to', 'subject', 'message-id'])
    expect({ name, count: headers.filter(([n]) => n === name).length }).toEqual({ name, count: 1 });
  expect(mail.to).toEqual([to]);
  expect(headers.find(([n]) => n === 'to')![1]).toBe(to);
}

describe('header injection: refused, or neutralised in the mail actually received', () => {
  const CRLF_TRICKS = ['\r\nBcc: evil@evil.test', '\nBcc: evil@evil.test', '\rBcc: evil@evil.test', '\r\n\r\nInjected body'];

  test.each(CRLF_TRICKS.map((t) => [JSON.stringify(t), t]))(
    'a line break in a name or an address is a 400 naming the field: %s',
    async (_shown, trick) => {
      const cases: Array<[string, string, string, unknown, string]> = [
        [
          'POST',
          '/v1/orders',
          keys.aPartner,
          {
            ...booking(a, `HDR-${uniqueSuffix()}`),
            assignment: { kind: 'delegate' },
            endCustomerContact: { email: `${a.customerEmail}${trick}` },
          },
          'endCustomerContact.email',
        ],
        [
          'POST',
          '/v1/orders',
          keys.aPartner,
          {
            ...booking(a, `HDR-${uniqueSuffix()}`),
            assignment: { kind: 'delegate' },
            endCustomerContact: { email: a.customerEmail, fullName: `Casey${trick}` },
          },
          'endCustomerContact.fullName',
        ],
        ['POST', `/v1/holding-accounts/${a.holdingAccountId}/members`, keys.aPartner, { email: `m@${a.domain}${trick}` }, 'email'],
        [
          'POST',
          `/v1/holding-accounts/${a.holdingAccountId}/members`,
          keys.aPartner,
          { email: `m@${a.domain}`, fullName: `Morgan${trick}` },
          'fullName',
        ],
        [
          'POST',
          '/v1/smart-account-requests',
          keys.aPartner,
          { domain: a.domain, contact: { email: `${a.customerEmail}${trick}`, registeredId: 'r' } },
          'contact.email',
        ],
        [
          'POST',
          '/v1/smart-account-requests',
          keys.aPartner,
          { domain: a.domain, contact: { email: a.customerEmail, fullName: `Casey${trick}`, registeredId: 'r' } },
          'contact.fullName',
        ],
        ['POST', `/v1/orders`, keys.aPartner, booking(a, `HDR${trick}`), 'externalReference'],
      ];
      for (const [method, path, key, body, field] of cases) {
        const res = await api.call(method, path, { key, body });
        expect({ field, status: res.status, fields: (res.body?.errors ?? []).map((e: { field: string }) => e.field) }).toEqual({
          field,
          status: 400,
          fields: expect.arrayContaining([field]),
        });
      }
      expect(await stack.db('users').whereRaw('lower(email) like ?', ['m@%']).where('email', 'like', `%${a.suffix}%`)).toEqual([]);
    },
  );

  // Valid on one line, yet shaped like headers: the name lands in the body only, the subject is encoded.
  const ONE_LINE_TRICKS = [
    `Casey Bcc: ${EVIL}`,
    `Casey\u2028Bcc: ${EVIL}`,
    `Casey\u0085Bcc: ${EVIL}`,
    `=?UTF-8?Q?Casey=0D=0ABcc:${EVIL}?=`,
    `Casey <${EVIL}>, ${EVIL}`,
  ];

  test.each(ONE_LINE_TRICKS.map((t) => [JSON.stringify(t), t]))(
    'a contact named %s gets one mail, to them only, with no header of ours added',
    async (_shown, name) => {
      const email = `contact-${uniqueSuffix()}@${a.domain}`;
      const delegation = await delegatedOrder(a, `HDR-NAME-${uniqueSuffix()}`, { email, fullName: name });
      expectNoInjectedHeader(delegation.mail, email);
      expect(delegation.mail.text.startsWith(`Hello ${name},`)).toBe(true);
      expect(delegation.mail.subject).toBe(
        `Choose the Smart Account for your order ${(await stack.db('orders').where({ id: delegation.orderId }).first('external_reference')).external_reference}`,
      );
    },
  );

  test('an account name shaped like a header, typed on the delegation page, reaches a subject encoded: one recipient each, no extra header', async () => {
    const name = `Acme\u2028Bcc: ${EVIL} =?UTF-8?Q?=0D=0ABcc:${EVIL}?=`;
    const contact = `chooser-${uniqueSuffix()}@${a.domain}`;
    const delegation = await delegatedOrder(a, `HDR-SUBJ-${a.suffix}`, { email: contact });
    const url = `${api.baseUrl}/delegations/${delegation.token}`;
    const form = await openForm(url);
    expect((await postForm(url, { choice: 'create', accountName: name, csrf: form.csrf }, form.cookie)).status).toBe(200);

    // The new account's activation link goes to the contact; activating it deposits the order.
    const [activationMail] = await waitForMail(isFirstRequest(contact));
    expectNoInjectedHeader(activationMail, contact);
    const activation = `${api.baseUrl}/activations/${activationToken(stack, activationMail)}`;
    const activationForm = await openForm(activation);
    expect((await postForm(activation, { csrf: activationForm.csrf }, activationForm.cookie)).status).toBe(200);

    const deposits = await pollUntil(
      async () =>
        caughtMail()
          .filter(mailOf(delegation.orderId))
          .filter((m) => m.headers['x-email-template'] === 'deposit-confirmation'),
      (mails) => mails.length >= 2,
      'the deposit confirmations',
    );
    const reference = `HDR-SUBJ-${a.suffix}`;
    expect(deposits.map((m) => m.to[0]).sort()).toEqual([a.partnerEmail, contact].sort());
    for (const mail of deposits) {
      expectNoInjectedHeader(mail, mail.to[0]);
      // "=?" is broken up (=\u200b?) so no mail client reads the name as an encoded word (RFC 2047).
      expect(mail.subject).toBe(`Order ${reference}: licenses deposited in ${name.replace(/=\?/g, '=\u200b?')}`);
      // On the wire the subject is an encoded word: the name's characters cannot start a header line.
      expect(receivedHeaders(mail).find(([n]) => n === 'subject')![1]).toMatch(/^=\?UTF-8\?/);
    }
  });

  test("no message the SMTP server received in this run went to the attacker's address, nor carried a Cc or Bcc", async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const all = caughtMail();
    expect(all.length).toBeGreaterThan(10);
    // The envelope recipients (RCPT TO) are what a Bcc would have added; the parsed headers what a Cc would.
    expect(all.filter((m) => m.to.some((to) => to.includes('evil.test')))).toEqual([]);
    expect(all.filter((m) => 'bcc' in m.headers || 'cc' in m.headers || 'reply-to' in m.headers)).toEqual([]);
  });
});

test('every link token this file received is 43 base64url characters (256 bits)', () => {
  const links = caughtMail().flatMap((m) =>
    [
      ...m.text.matchAll(
        new RegExp(`${stack.config.publicBaseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(?:delegations|activations)/(\\S+)`, 'g'),
      ),
    ].map((x) => x[1]),
  );
  expect(links.length).toBeGreaterThan(5);
  for (const token of links) {
    expect(token).toMatch(TOKEN_PATTERN);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  }
  expect(new Set(links).size).toBe(links.length);
});
