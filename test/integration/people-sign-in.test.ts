/**
 * R24 on the real stack (Postgres, SMTP catcher, the API listening): people create their own
 * user ID through an emailed verify link, sign in with a single-use emailed link that only a POST
 * uses up, get an HttpOnly SameSite=Lax session cookie stored only as its SHA-256, and sign out.
 * A sign-in request answers the same for a known and an unknown address; forms without the CSRF
 * value are refused and change nothing.
 */
import { createHash } from 'node:crypto';
import { buildApi } from '../../src/api/server';
import { createLogger } from '../../src/logging';
import { useLinkedStackAndApi } from '../helpers/browser';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { grantTo, verifiedUser, type ViewUser } from '../helpers/license-view-fixtures';
import { PageClient, tokenOfLink } from '../helpers/pages';
import { mailFor, uniqueSuffix, waitForMail } from '../helpers/stack';

const { stack, api } = useLinkedStackAndApi(__filename);
jest.setTimeout(60_000);

let world: TestWorld;
let alice: ViewUser;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  alice = await verifiedUser(stack.db, world, 'alice');
});

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();
const signInMail = (to: string) => (m: { to: string[]; headers: Record<string, string> }) =>
  m.to.includes(to.toLowerCase()) && m.headers['x-email-template'] === 'sign-in';

describe('creating a user ID (issue 14 item 2)', () => {
  test('email + ID + name -> one verify link; opening it (GET) uses nothing; the POST takes the ID and verifies the email', async () => {
    const email = `newcomer@${world.domain}`;
    const registeredId = `newcomer-${world.suffix}`;
    const browser = new PageClient(api.baseUrl);
    const asked = await browser.submit('/people/register', { email, registeredId, fullName: 'New Comer' });
    expect(asked.status).toBe(200);
    expect(asked.text).toContain('Check your email');
    // Asking again in the same window sends nothing new.
    expect((await browser.submit('/people/register', { email, registeredId, fullName: 'New Comer' })).status).toBe(200);
    const [mail] = await waitForMail((m) => m.to.includes(email) && m.headers['x-email-template'] === 'verify-email');
    const token = tokenOfLink(mail, api.baseUrl, 'people/verify');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailFor(email).filter((m) => m.headers['x-email-template'] === 'verify-email')).toHaveLength(1);

    // Only the hash is stored, with the ID asked for; the user owns no ID yet.
    const row = await stack
      .db('access_tokens')
      .where({ purpose: 'verify_email', token_hash: sha256(token) })
      .first();
    expect(row).toMatchObject({ used_at: null, details: { registeredId, fullName: 'New Comer' } });
    const before = await stack.db('users').whereRaw('lower(email) = ?', [email]).first('registered_id', 'email_verified_at');
    expect(before).toEqual({ registered_id: null, email_verified_at: null });

    const opened = await browser.get(`/people/verify/${token}`);
    expect(opened.status).toBe(200);
    expect((await stack.db('access_tokens').where({ id: row.id }).first('used_at')).used_at).toBeNull();
    const done = await browser.submit(`/people/verify/${token}`, {});
    expect(done.status).toBe(200);
    expect(done.text).toContain(registeredId);
    const after = await stack.db('users').whereRaw('lower(email) = ?', [email]).first('registered_id', 'full_name', 'email_verified_at');
    expect(after).toEqual({ registered_id: registeredId, full_name: 'New Comer', email_verified_at: expect.any(Date) });
    // Single use.
    expect((await browser.get(`/people/verify/${token}`)).status).toBe(410);
  });

  test('an ID someone else owns is refused (409) and nothing is sent; bad fields are named (400)', async () => {
    const browser = new PageClient(api.baseUrl);
    const email = `copycat@${world.domain}`;
    const taken = await browser.submit('/people/register', { email, registeredId: alice.registeredId.toUpperCase(), fullName: 'Copy Cat' });
    expect(taken.status).toBe(409);
    expect(taken.text).toContain('is taken by someone else');
    const bad = await browser.submit('/people/register', { email: 'not-an-email', registeredId: 'has space', fullName: '' });
    expect(bad.status).toBe(400);
    for (const reason of ['must be an email address', 'must be 1-128 letters', 'must be one line of 1-200 characters'])
      expect(bad.text).toContain(reason);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailFor(email)).toEqual([]);
  });

  test('a form posted without the page CSRF value is refused (403) and sends nothing', async () => {
    const browser = new PageClient(api.baseUrl);
    const email = `forged@${world.domain}`;
    const res = await browser.request('POST', '/people/register', { email, registeredId: `forged-${world.suffix}`, fullName: 'F' });
    expect(res.status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailFor(email)).toEqual([]);
  });
});

describe('signing in (R24)', () => {
  test('known and unknown addresses get the same answer; only the known one gets a link', async () => {
    const known = await new PageClient(api.baseUrl).submit('/sign-in', { email: alice.email });
    const unknown = await new PageClient(api.baseUrl).submit('/sign-in', { email: `nobody@${world.domain}` });
    expect(unknown.status).toBe(known.status);
    expect(unknown.text).toBe(known.text);
    expect(await waitForMail(signInMail(alice.email))).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailFor(`nobody@${world.domain}`)).toEqual([]);
  });

  test('the link: GET uses nothing, POST opens a session (cookie flags, hash only), works once; sign-out ends it', async () => {
    const user = await verifiedUser(stack.db, world, 'bob');
    const browser = new PageClient(api.baseUrl);
    await browser.submit('/sign-in', { email: user.email });
    const [mail] = await waitForMail(signInMail(user.email));
    const token = tokenOfLink(mail, api.baseUrl, 'sign-in');

    expect((await browser.get(`/sign-in/${token}`)).status).toBe(200);
    expect((await browser.get(`/sign-in/${token}`)).status).toBe(200);
    const signedIn = await browser.submit(`/sign-in/${token}`, {});
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/accounts');
    const cookie = signedIn.setCookies.find((c) => c.startsWith('lf_session='))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/Secure/); // served over http here; the https case is below
    const value = browser.cookies.get('lf_session')!;
    const session = await stack
      .db('web_sessions')
      .where({ session_hash: sha256(value) })
      .first();
    expect(session).toMatchObject({ user_id: user.userId, revoked_at: null });
    expect(JSON.stringify(await stack.db('web_sessions').where({ user_id: user.userId }))).not.toContain(value);

    const accounts = await browser.get('/accounts');
    expect(accounts.status).toBe(200);
    expect(accounts.text).toContain(`Signed in as ${user.fullName}`);

    // The link is used up: another browser cannot use it again.
    const other = new PageClient(api.baseUrl);
    expect((await other.get(`/sign-in/${token}`)).status).toBe(410);
    expect((await other.submit('/sign-in', {}, `/sign-in/${token}`)).status).toBe(410);
    expect(await stack.db('web_sessions').where({ user_id: user.userId })).toHaveLength(1);

    const out = await browser.submit('/accounts', {}, '/sign-out');
    expect(out.status).toBe(303);
    expect((await stack.db('web_sessions').where({ id: session.id }).first('revoked_at')).revoked_at).toEqual(expect.any(Date));
    // The old cookie opens nothing any more.
    const stale = new PageClient(api.baseUrl);
    stale.cookies.set('lf_session', value);
    const refused = await stale.get('/accounts');
    expect(refused.status).toBe(303);
    expect(refused.headers.get('location')).toBe('/sign-in');
  });

  test("asked to sign in by a page (an alert email's link), the person lands on that page once signed in; only this site's pages", async () => {
    const user = await verifiedUser(stack.db, world, 'dora');
    await grantTo(stack.db, world.smartAccountId, user, 'sa_user');
    const alerts = `/accounts/${world.smartAccountId}/alerts`;
    const browser = new PageClient(api.baseUrl);
    const asked = await browser.get(alerts);
    expect(asked.status).toBe(303);
    expect(asked.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent(alerts)}`);
    const form = await browser.get(asked.headers.get('location')!);
    expect(form.text).toContain(`<input type="hidden" name="next" value="${alerts}" />`);
    const sent = await browser.submit(asked.headers.get('location')!, { email: user.email, next: alerts }, '/sign-in');
    expect(sent.setCookies.find((c) => c.startsWith('lf_next='))).toMatch(/; Path=\/sign-in; Max-Age=900; HttpOnly; SameSite=Lax/);
    const token = tokenOfLink((await waitForMail(signInMail(user.email)))[0], api.baseUrl, 'sign-in');
    const signedIn = await browser.submit(`/sign-in/${token}`, {});
    expect(signedIn.headers.get('location')).toBe(alerts);
    expect(browser.cookies.has('lf_next')).toBe(false);
    expect((await browser.get(alerts)).status).toBe(200);

    // Another site, or a path that is not one of the pages, is never where anyone is sent.
    for (const next of [
      'https://evil.example/accounts',
      '//evil.example/accounts',
      '/accounts/../v1/orders',
      '/accounts/%2e%2e/v1',
      '/v1/orders',
    ]) {
      const other = new PageClient(api.baseUrl);
      const page = await other.get(`/sign-in?next=${encodeURIComponent(next)}`);
      expect(page.text).not.toContain('name="next"');
      // A kept page from before is dropped too: this sign-in did not come from it.
      other.cookies.set('lf_next', encodeURIComponent(alerts));
      const posted = await other.submit('/sign-in', { email: user.email, next }, '/sign-in');
      expect(posted.status).toBe(200);
      expect(other.cookies.has('lf_next')).toBe(false);
    }
  });

  test('an expired link is refused (410) and opens no session; a POST without CSRF uses nothing up', async () => {
    const user = await verifiedUser(stack.db, world, 'carol');
    const browser = new PageClient(api.baseUrl);
    await browser.submit('/sign-in', { email: user.email });
    const token = tokenOfLink((await waitForMail(signInMail(user.email)))[0], api.baseUrl, 'sign-in');

    const forged = await new PageClient(api.baseUrl).request('POST', `/sign-in/${token}`, {});
    expect(forged.status).toBe(403);
    expect(
      (
        await stack
          .db('access_tokens')
          .where({ token_hash: sha256(token) })
          .first('used_at')
      ).used_at,
    ).toBeNull();

    await stack
      .db('access_tokens')
      .where({ token_hash: sha256(token) })
      .update({ expires_at: new Date(Date.now() - 1000) });
    expect((await browser.get(`/sign-in/${token}`)).status).toBe(410);
    const expired = await browser
      .submit('/sign-in', { email: user.email })
      .then(() => browser.request('POST', `/sign-in/${token}`, { csrf: browser.cookies.get('lf_app_csrf')! }));
    expect(expired.status).toBe(410);
    expect(await stack.db('web_sessions').where({ user_id: user.userId })).toEqual([]);
  });

  test('the pages are no API operations: the OpenAPI document leaves them out', async () => {
    const paths = Object.keys((await api.call('GET', '/openapi.json')).body.paths);
    expect(paths.filter((p) => /^\/(sign-in|sign-out|people|accounts|me)\b/.test(p))).toEqual([]);
    expect(paths).toContain('/v1/me');
  });

  test('with an https public URL the session cookie is Secure', async () => {
    const app = await buildApi({
      db: stack.db,
      client: stack.client,
      config: { ...stack.config, publicBaseUrl: 'https://licenses.example.test' },
      logger: createLogger('people-https', 'ERROR'),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = app.server.address();
      const browser = new PageClient(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
      const { userId } = await verifiedUser(stack.db, world, 'dave');
      const token = 'A'.repeat(43);
      await stack.db('access_tokens').insert({
        token_hash: sha256(token),
        purpose: 'sign_in',
        contact_id: userId,
        email_idempotency_key: `test-${token}`,
        expires_at: new Date(Date.now() + 60_000),
      });
      const res = await browser.submit(`/sign-in/${token}`, {});
      expect(res.status).toBe(303);
      expect(res.setCookies.find((c) => c.startsWith('lf_session='))).toMatch(
        /^lf_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax; Secure$/,
      );
    } finally {
      await app.close();
    }
  });
});
