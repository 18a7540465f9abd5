/**
 * The customer pages behind the email links (R3, S4, S5), in Debian's Chromium with JavaScript
 * off, on the real stack: orders booked through the HTTP API, the delegation or activation
 * email actually received, its link opened in the browser, the choice made with the keyboard,
 * and the outcome checked through the API (workflow status) and in Postgres (entitlements).
 * Also: used, unknown and expired links; the CSRF check; form errors and the workflow's refusal;
 * the rate limit and its scope.
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import type { Page, Response } from 'playwright-core';
import { registerCustomerPages } from '../../src/orders/customer-page-routes';
import type { CaughtMail } from '../../src/dev/mail-catcher';
import { createLogger } from '../../src/logging';
import { hashToken } from '../../src/security/tokens';
import { useLinkedStackAndApi, withBrowser } from '../helpers/browser';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { isFirstRequest, linkToken } from '../helpers/links';
import { PERPETUAL_LINE, TERM_LINE, entitlementsOf, pollUntil } from '../helpers/orders';
import { mailOf, uniqueSuffix, waitForMail } from '../helpers/stack';

// A browser per test plus real workflows: more than the default minute on a loaded machine.
jest.setTimeout(120_000);

// Reminders far away: no reminder email (with a second link) lands in the middle of a test.
const { stack, api } = useLinkedStackAndApi(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });

interface BookedThroughApi {
  key: string;
  orderId: string;
  workflowId: string;
  reference: string;
}

/** A delegated order, booked the way an ordering system books it: POST /v1/orders with the partner's key. */
async function bookDelegated(world: TestWorld, reference = `WEB-${world.suffix}`): Promise<BookedThroughApi> {
  const key = await api.keyFor('partner', world.partnerId);
  const res = await api.call('POST', '/v1/orders', {
    key,
    body: {
      externalReference: reference,
      assignment: { kind: 'delegate' },
      endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' },
      lines: [PERPETUAL_LINE, TERM_LINE],
    },
  });
  expect(res.status).toBe(201);
  return { key, orderId: res.body.orderId, workflowId: res.body.workflowId, reference };
}

/** The link in a received email's text, exactly as the contact sees it; it leads to this test's API. */
function linkIn(mail: CaughtMail | undefined, path: 'delegations' | 'activations'): { url: string; token: string } {
  const token = linkToken(stack, mail, path);
  const url = `${stack.config.publicBaseUrl}/${path}/${token}`;
  expect(mail!.text).toContain(url);
  expect(url.startsWith(`${api.baseUrl}/${path}/`)).toBe(true);
  return { url, token };
}

async function delegationMailLink(booked: BookedThroughApi, world: TestWorld): Promise<{ url: string; token: string }> {
  const mails = await waitForMail(mailOf(booked.orderId, 'delegation-request'));
  expect(mails).toHaveLength(1);
  expect(mails[0].to).toEqual([world.customerEmail]);
  return linkIn(mails[0], 'delegations');
}

/** GET /v1/orders/:id (the workflow's live status) until `until` holds. */
async function orderThroughApi(booked: BookedThroughApi, until: (status: any) => boolean, what: string): Promise<any> {
  const res = await pollUntil(
    () => api.call('GET', `/v1/orders/${booked.orderId}`, { key: booked.key }),
    (r) => r.status === 200 && until(r.body),
    what,
  );
  return res.body;
}

async function shipThroughApi(booked: BookedThroughApi, shippedOn: string): Promise<void> {
  for (const lineNumber of [1, 2]) {
    const res = await api.call('POST', `/v1/orders/${booked.orderId}/shipments`, { key: booked.key, body: { lineNumber, shippedOn } });
    expect(res.status).toBe(202);
  }
}

/** The headers every customer page carries, whatever its status. */
function expectSecurityHeaders(headers: Record<string, string>): void {
  const csp = headers['content-security-policy'];
  expect(csp).toMatch(/(^|;)\s*default-src 'none'/);
  expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
  expect(csp).toContain("form-action 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toMatch(/script-src|unsafe-inline|unsafe-eval/);
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['cache-control']).toBe('no-store');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-frame-options']).toBe('DENY');
}

function headersOf(response: { headers: Headers }): Record<string, string> {
  return Object.fromEntries(response.headers.entries());
}

/**
 * What the open page offers assistive technology: its language, headings, controls without a
 * label, radios outside a fieldset with a legend, and scripts (there must be none). A string, as
 * the TypeScript project has no DOM types.
 */
async function pageStructure(
  page: Page,
): Promise<{ lang: string; h1: string[]; unlabelled: string[]; radiosWithoutLegend: number; scripts: number }> {
  return page.evaluate(`(() => {
    const controls = [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')];
    return {
      lang: document.documentElement.lang,
      h1: [...document.querySelectorAll('h1')].map((h) => h.textContent.replace(/\\s+/g, ' ').trim()),
      unlabelled: controls.filter((c) => c.tagName === 'BUTTON' ? !c.textContent.trim() : c.labels.length === 0).map((c) => c.outerHTML),
      radiosWithoutLegend: [...document.querySelectorAll('input[type=radio]')].filter((r) => !r.closest('fieldset') || !r.closest('fieldset').querySelector(':scope > legend')).length,
      scripts: document.querySelectorAll('script').length,
    };
  })()`);
}

/** The focused element: its id or text, and whether a focus outline is drawn (visible focus). */
async function focused(page: Page): Promise<{ id: string; text: string; outline: string }> {
  return page.evaluate(`(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return { id: el.id, text: (el.textContent || '').trim(), outline: style.outlineStyle + ' ' + style.outlineWidth };
  })()`);
}

/** Presses `key` and returns the response of the POST it submits. */
async function submitWith(page: Page, key: string): Promise<Response> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    page.keyboard.press(key),
  ]);
  await page.waitForLoadState('domcontentloaded');
  return response;
}

async function heading(page: Page): Promise<string> {
  return ((await page.getByRole('heading', { level: 1 }).textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

test('delegation in the browser: the mailed link lists the Smart Accounts of the domain, the contact picks one and a virtual account with the keyboard → deposit, shipment, provisioning', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const { url, token } = await delegationMailLink(booked, world);
  await orderThroughApi(booked, (s) => s.waitingFor === 'CustomerChoice', 'the order waiting for the customer');

  await withBrowser(async ({ context, page, cspViolations }) => {
    const response = await page.goto(url);
    expect(response!.status()).toBe(200);
    expectSecurityHeaders(await response!.allHeaders());
    expect(await response!.headerValue('content-type')).toBe('text/html; charset=utf-8');

    // The CSRF cookie: HttpOnly, SameSite=Strict, for this link's path only.
    expect(await context.cookies(url)).toEqual([
      expect.objectContaining({
        name: 'lf_csrf',
        path: `/delegations/${token}`,
        httpOnly: true,
        sameSite: 'Strict',
        value: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      }),
    ]);
    expect(await context.cookies(`${api.baseUrl}/delegations/other`)).toEqual([]);

    // Structure: language, one h1, every control labelled, radios grouped under legends, no script.
    expect(await pageStructure(page)).toEqual({
      lang: 'en',
      h1: [`Choose the Smart Account for order ${booked.reference}`],
      unlabelled: [],
      radiosWithoutLegend: 0,
      scripts: 0,
    });
    expect(await page.title()).toBe(`Choose the Smart Account for order ${booked.reference} – Smart Licensing`);

    // The order summary: reference, partner, lines with SKU, quantity and term.
    const summary = page.getByRole('region', { name: 'Your order' });
    await expect(summary.getByText(booked.reference, { exact: true }).count()).resolves.toBe(1);
    await expect(summary.getByText(`Partner ${world.suffix}`, { exact: true }).count()).resolves.toBe(1);
    const rows = await summary.getByRole('row').allInnerTexts();
    expect(rows.map((r) => r.replace(/\s+/g, ' ').trim())).toEqual([
      'Line SKU Quantity License Term',
      `1 ${PERPETUAL_LINE.sku} 2 Smart license Perpetual`,
      `2 ${TERM_LINE.sku} 10 Smart license 36 months`,
    ]);

    // The Smart Accounts of the contact's domain, each a group of its virtual accounts.
    const choices = page.getByRole('group', { name: 'Where should the licenses go?' });
    const accountGroups = await choices
      .getByRole('group')
      .evaluateAll((groups) => groups.map((g) => (g.querySelector('legend')?.textContent ?? '').replace(/\s+/g, ' ').trim()));
    expect(accountGroups).toEqual([`${world.smartAccountName} (active)`, `Pending ${world.suffix} (pending activation)`]);
    const acme = page.getByRole('group', { name: world.smartAccountName });
    const acmeRadios = await acme
      .getByRole('radio')
      .evaluateAll((radios) =>
        radios.map((r) => (r as unknown as { labels: Array<{ textContent: string }> }).labels[0].textContent.trim()),
      );
    expect(acmeRadios).toEqual([
      'The whole account, no virtual account',
      'Finance',
      'Region-US',
      'Region-US / Finance',
      'Region-US / Finance / Sacramento',
    ]);

    // Keyboard only: focus the account, Space selects it, ArrowDown moves to Finance, Tab to the button, Enter submits.
    const whole = acme.getByRole('radio', { name: 'The whole account, no virtual account' });
    await whole.focus();
    await page.keyboard.press('Space');
    expect(await whole.isChecked()).toBe(true);
    await page.keyboard.press('ArrowDown');
    const finance = acme.getByLabel('Finance', { exact: true });
    expect(await finance.isChecked()).toBe(true);
    expect(await focused(page)).toMatchObject({ id: await finance.getAttribute('id'), outline: 'solid 3px' });
    await page.keyboard.press('Tab');
    expect(await focused(page)).toMatchObject({ text: 'Deposit the licenses here', outline: 'solid 3px' });
    const posted = await submitWith(page, 'Enter');

    expect(posted.status()).toBe(200);
    expectSecurityHeaders(await posted.allHeaders());
    expect(await heading(page)).toBe(`The licenses of order ${booked.reference} are deposited in ${world.smartAccountName}`);
    await expect(page.getByText('virtual account Finance', { exact: false }).count()).resolves.toBe(1);
    await expect(page.getByRole('heading', { name: 'What happens next' }).count()).resolves.toBe(1);
    // The link is used up, and so is its CSRF cookie.
    expect(await context.cookies(url)).toEqual([]);
    expect(cspViolations).toEqual([]);
  });

  // The workflow deposited in the chosen account and virtual account.
  const deposited = await orderThroughApi(booked, (s) => s.phase === 'AwaitingShipment', 'the deposit');
  expect(deposited.customerAccountId).toBe(world.smartAccountId);
  expect(deposited.lines.map((l: any) => [l.state, l.accountId, l.virtualAccountPath])).toEqual([
    ['deposited', world.smartAccountId, 'Finance'],
    ['deposited', world.smartAccountId, 'Finance'],
  ]);
  expect(
    (
      await stack
        .db('access_tokens')
        .where({ token_hash: hashToken(token) })
        .first('used_at')
    ).used_at,
  ).toEqual(expect.any(Date));

  // Shipment through the API → provisioned.
  await shipThroughApi(booked, '2026-04-01');
  const fulfilled = await orderThroughApi(booked, (s) => s.phase === 'Fulfilled', 'fulfilment');
  expect(fulfilled.lines.map((l: any) => [l.lineNumber, l.state, l.accountId, l.virtualAccountPath])).toEqual([
    [1, 'provisioned', world.smartAccountId, 'Finance'],
    [2, 'provisioned', world.smartAccountId, 'Finance'],
  ]);
  expect(fulfilled.lines[1].subscription).toEqual({ startsOn: '2026-04-01', endsOn: '2029-04-01' });
  expect(await entitlementsOf(stack.db, booked.orderId)).toEqual([
    { line_number: 1, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 2 },
    { line_number: 2, account_id: world.smartAccountId, path: 'Finance', status: 'active', quantity: 10 },
  ]);
});

test('create a new account in the browser: delegation page → new account name → activation email → activation page → Activate → provisioning', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const delegation = await delegationMailLink(booked, world);
  const accountName = `Acme Web ${world.suffix}`;

  await withBrowser(async ({ page, cspViolations }) => {
    expect((await page.goto(delegation.url))!.status()).toBe(200);
    const nameField = page.getByLabel('Name of the new Smart Account');
    expect(await nameField.getAttribute('aria-describedby')).toBe('accountName-hint');
    await nameField.fill(accountName);
    // Enter in the text field submits its own form (the "create" one).
    const created = await submitWith(page, 'Enter');
    expect(created.status()).toBe(200);
    expect(await heading(page)).toBe('Your new Smart Account has been requested');
    await expect(
      page
        .getByText(`will go to the Smart Account ${accountName} of ${world.domain}, which is pending activation`, { exact: false })
        .count(),
    ).resolves.toBe(1);

    const waiting = await orderThroughApi(booked, (s) => s.phase === 'AwaitingActivation', 'the order waiting for activation');
    expect(waiting.waitingFor).toBe('SmartAccountActivation');
    const newAccount = await stack.db('accounts').where({ domain: world.domain, name: accountName }).first('id', 'status');
    expect(newAccount).toEqual({ id: expect.any(String), status: 'pending_activation' });

    // The activation email, and its link.
    const [activationMail] = await waitForMail(isFirstRequest(world.customerEmail));
    const activation = linkIn(activationMail, 'activations');
    const opened = await page.goto(activation.url);
    expect(opened!.status()).toBe(200);
    expectSecurityHeaders(await opened!.allHeaders());
    expect(await heading(page)).toBe(`Activate the Smart Account ${accountName}`);
    expect(await pageStructure(page)).toMatchObject({ lang: 'en', unlabelled: [], scripts: 0 });
    const facts = (await page.locator('dl').innerText()).replace(/\s+/g, ' ');
    expect(facts).toContain(`Smart Account ${accountName}`);
    expect(facts).toContain(`Domain ${world.domain}`);
    expect(facts).toContain('Status Pending activation');

    const activate = page.getByRole('button', { name: 'Activate' });
    await activate.focus();
    const activated = await submitWith(page, 'Enter');
    expect(activated.status()).toBe(200);
    expect(await heading(page)).toBe(`The Smart Account ${accountName} is active`);
    expect(cspViolations).toEqual([]);

    expect(await stack.db('accounts').where({ id: newAccount.id }).first('status')).toEqual({ status: 'active' });
    const deposited = await orderThroughApi(booked, (s) => s.phase === 'AwaitingShipment', 'the deposit after activation');
    expect(deposited.customerAccountId).toBe(newAccount.id);
    expect(deposited.lines.map((l: any) => [l.state, l.accountId])).toEqual([
      ['deposited', newAccount.id],
      ['deposited', newAccount.id],
    ]);

    // The activation link is used up too: opening it again shows so.
    const again = await page.goto(activation.url);
    expect(again!.status()).toBe(410);
    expect(await heading(page)).toBe('This link has already been used');

    await shipThroughApi(booked, '2026-05-02');
    const fulfilled = await orderThroughApi(booked, (s) => s.phase === 'Fulfilled', 'fulfilment');
    expect(fulfilled.lines.map((l: any) => [l.state, l.accountId])).toEqual([
      ['provisioned', newAccount.id],
      ['provisioned', newAccount.id],
    ]);
    expect((await entitlementsOf(stack.db, booked.orderId)).map((e) => [e.account_id, e.status])).toEqual([
      [newAccount.id, 'active'],
      [newAccount.id, 'active'],
    ]);
  });
});

/** GET the form the way a browser does: the CSRF cookie it sets and the hidden field's value. */
async function openForm(url: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const cookie = /^(lf_csrf=[A-Za-z0-9_-]{43});/.exec(setCookie)?.[1];
  const csrf = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(await res.text())?.[1];
  expect(cookie).toBeDefined();
  expect(csrf).toBeDefined();
  return { cookie: cookie!, csrf: csrf!, setCookie };
}

async function postForm(url: string, fields: Record<string, string>, cookie?: string, contentType = 'application/x-www-form-urlencoded') {
  const body = contentType.includes('json') ? JSON.stringify(fields) : new URLSearchParams(fields).toString();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(cookie ? { cookie } : {}) },
    body,
    redirect: 'manual',
  });
  return { status: res.status, html: await res.text(), headers: headersOf(res) };
}

/** What a refused or invalid post must leave as it was. */
async function untouched(booked: BookedThroughApi, token: string) {
  return {
    tokenUsed:
      (
        await stack
          .db('access_tokens')
          .where({ token_hash: hashToken(token) })
          .first('used_at')
      ).used_at !== null,
    entitlements: await entitlementsOf(stack.db, booked.orderId),
    order: await api.call('GET', `/v1/orders/${booked.orderId}`, { key: booked.key }).then(({ body }) => ({
      phase: body.phase,
      waitingFor: body.waitingFor,
      customerAccountId: body.customerAccountId,
      lines: body.lines.map((l: any) => [l.state, l.accountId, l.virtualAccountPath]),
    })),
  };
}

test('a POST without the CSRF cookie (or with another value) is refused 403 and changes nothing; a used, unknown or expired link shows its own page', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const { url, token } = await delegationMailLink(booked, world);
  const form = await openForm(url);
  expect(form.setCookie).toBe(`${form.cookie}; Path=/delegations/${token}; HttpOnly; SameSite=Strict`);
  await orderThroughApi(booked, (s) => s.waitingFor === 'CustomerChoice', 'the order waiting for the customer');
  const before = await untouched(booked, token);
  expect(before.tokenUsed).toBe(false);

  const choice = { choice: 'existing', destination: encodeURIComponent(world.smartAccountId) };
  const otherValue = randomBytes(32).toString('base64url');
  for (const [what, fields, cookie, contentType] of [
    ['no cookie', { ...choice, csrf: form.csrf }, undefined, undefined],
    ['no field', choice, form.cookie, undefined],
    ['another value in the field', { ...choice, csrf: otherValue }, form.cookie, undefined],
    ['another value in the cookie', { ...choice, csrf: form.csrf }, `lf_csrf=${otherValue}`, undefined],
  ] as const) {
    const refused = await postForm(url, fields, cookie, contentType);
    expect({ what, status: refused.status }).toEqual({ what, status: 403 });
    expect(refused.html).toContain('<h1>This form could not be verified</h1>');
    expectSecurityHeaders(refused.headers);
  }
  // Only web forms are read: JSON, even with the right cookie and value, is refused before any handler.
  const json = await postForm(url, { ...choice, csrf: form.csrf }, form.cookie, 'application/json');
  expect(json.status).toBe(415);
  expect(json.html).toContain('<h1>The form could not be read</h1>');
  expect(await untouched(booked, token)).toEqual(before);

  // The real form post (cookie + field) goes through, once.
  const accepted = await postForm(url, { ...choice, csrf: form.csrf }, form.cookie);
  expect(accepted.status).toBe(200);
  expect(accepted.html).toContain(`are deposited in ${world.smartAccountName}</h1>`);
  expect(accepted.headers['set-cookie']).toBe(`lf_csrf=; Path=/delegations/${token}; Max-Age=0; HttpOnly; SameSite=Strict`);
  await orderThroughApi(booked, (s) => s.phase === 'AwaitingShipment', 'the deposit');

  // An expired link of another order.
  const expiring = await bookDelegated(world, `WEB-EXP-${world.suffix}`);
  const expired = await delegationMailLink(expiring, world);
  await stack
    .db('access_tokens')
    .where({ token_hash: hashToken(expired.token) })
    .update({ expires_at: new Date(Date.now() - 60_000) });

  await withBrowser(async ({ page, cspViolations }) => {
    const used = await page.goto(url);
    expect(used!.status()).toBe(410);
    expectSecurityHeaders(await used!.allHeaders());
    expect(await heading(page)).toBe('This link has already been used');
    expect(await page.locator('form').count()).toBe(0);

    const reposted = await postForm(url, { ...choice, csrf: form.csrf }, form.cookie);
    expect(reposted.status).toBe(410);
    expect(reposted.html).toContain('<h1>This link has already been used</h1>');

    for (const unknown of [
      `/delegations/${randomBytes(32).toString('base64url')}`,
      '/delegations/not-a-token',
      `/activations/${randomBytes(32).toString('base64url')}`,
    ]) {
      const res = await page.goto(`${api.baseUrl}${unknown}`);
      expect({ unknown, status: res!.status() }).toEqual({ unknown, status: 404 });
      expectSecurityHeaders(await res!.allHeaders());
      expect(await heading(page)).toBe('This link is not valid');
    }

    const expiredPage = await page.goto(expired.url);
    expect(expiredPage!.status()).toBe(410);
    expect(await heading(page)).toBe('This link has expired');
    expect(await pageStructure(page)).toMatchObject({ lang: 'en', scripts: 0 });
    expect(cspViolations).toEqual([]);
  });
  // Opening the expired link changed nothing.
  expect(
    (
      await stack
        .db('access_tokens')
        .where({ token_hash: hashToken(expired.token) })
        .first('used_at')
    ).used_at,
  ).toBeNull();
});

test("bad form input shows the form again with the field's error (400); a choice the workflow refuses shows its reason on the form (409); nothing changes", async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const booked = await bookDelegated(world);
  const { url, token } = await delegationMailLink(booked, world);
  const form = await openForm(url);
  await orderThroughApi(booked, (s) => s.waitingFor === 'CustomerChoice', 'the order waiting for the customer');
  const before = await untouched(booked, token);

  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no destination', { choice: 'existing' }, /Choose the Smart Account \(and, if you want, a virtual account\) for the licenses/],
    [
      'an account not of the domain',
      { choice: 'existing', destination: encodeURIComponent(world.holdingAccountId) },
      /Choose one of the Smart Accounts listed/,
    ],
    [
      'a virtual account the account lacks',
      { choice: 'existing', destination: `${encodeURIComponent(world.smartAccountId)}/Nowhere` },
      /Choose one of the Smart Accounts listed/,
    ],
    ['no name for a new account', { choice: 'create', accountName: '   ' }, /Enter a name for the new Smart Account/],
    ['a name too long', { choice: 'create', accountName: 'x'.repeat(121) }, /The name must be at most 120 characters/],
    ['no choice', {}, /Choose an existing Smart Account or create a new one/],
  ];
  for (const [what, fields, reason] of cases) {
    const res = await postForm(url, { ...fields, csrf: form.csrf }, form.cookie);
    expect({ what, status: res.status }).toEqual({ what, status: 400 });
    expect(res.html).toContain('<h2 id="error-summary-heading">There is a problem</h2>');
    expect(res.html).toMatch(reason);
    // Still the form, with a fresh-looking but identical CSRF value, ready to correct.
    expect(res.html).toContain(`name="csrf" value="${form.csrf}"`);
    expect(res.html).toContain('<title>Error: Choose the Smart Account');
  }
  const named = await postForm(url, { choice: 'create', accountName: '', csrf: form.csrf }, form.cookie);
  expect(named.html).toMatch(
    /<input\s+type="text"\s+id="accountName"[^>]*aria-describedby="accountName-hint accountName-error"[^>]*aria-invalid="true"/,
  );
  expect(await untouched(booked, token)).toEqual(before);

  // The partner assigns the account itself meanwhile; the contact's choice then comes too late.
  const assigned = await api.call('POST', `/v1/orders/${booked.orderId}/assignment`, {
    key: booked.key,
    body: { accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
  });
  expect(assigned.status).toBe(200);
  expect(assigned.body.phase).toBe('AwaitingShipment');
  const afterAssignment = await untouched(booked, token);

  const refused = await postForm(
    url,
    { choice: 'existing', destination: `${encodeURIComponent(world.smartAccountId)}/Region-US`, csrf: form.csrf },
    form.cookie,
  );
  expect(refused.status).toBe(409);
  expect(refused.html).toContain('<h2 id="refusal-heading">Your choice could not be recorded</h2>');
  expect(refused.html).toMatch(/does not wait for the customer(&#39;|')s choice/);
  expect(refused.html).toContain('Nothing has been changed.');
  expect(refused.html).toContain('<form method="post">');
  expect(await untouched(booked, token)).toEqual(afterAssignment);
  expect(afterAssignment.entitlements.map((e: { path: string }) => e.path)).toEqual(['Finance', 'Finance']);
});

test('the link routes are rate limited per client (429 page), and their plugins stay in their scope', async () => {
  const app = Fastify({ loggerInstance: createLogger('pages-test', 'ERROR') as any });
  app.get('/outside', async () => ({ ok: true }));
  app.post('/outside', async () => ({ ok: true }));
  await registerCustomerPages(
    app,
    { db: stack.db, client: stack.client, config: stack.config, logger: createLogger('pages-test', 'ERROR') },
    {
      rateLimit: { max: 3, timeWindowMs: 60_000 },
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  try {
    const unknown = `${base}/delegations/${randomBytes(32).toString('base64url')}`;
    for (let i = 1; i <= 3; i++) {
      const res = await fetch(unknown);
      expect(res.status).toBe(404);
      expect(res.headers.get('x-ratelimit-remaining')).toBe(String(3 - i));
    }
    const limited = await fetch(`${base}/activations/${randomBytes(32).toString('base64url')}`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await limited.text()).toContain('<h1>Too many requests</h1>');
    expectSecurityHeaders(headersOf(limited));

    // Outside the pages: no limit, no page headers, no form parser.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/outside`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBeNull();
      expect(res.headers.get('content-security-policy')).toBeNull();
    }
    const form = await fetch(`${base}/outside`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    expect(form.status).toBe(415);
  } finally {
    await app.close();
  }
});
