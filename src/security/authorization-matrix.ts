/**
 * The authorization matrix (issue 18 item 3): every route of the app × every kind of caller, and
 * the answer that caller gets. It is both the specification the test
 * `test/integration/authorization-matrix.test.ts` runs cell by cell against the real stack and the
 * documentation: `npx tsx scripts/render-authorization-matrix.ts` writes it into docs/SECURITY.md.
 */

export const CALLERS = [
  'anonymous',
  'operator',
  'partner',
  'distributor',
  'saAdmin',
  'saUser',
  'vaAdmin',
  'vaUser',
  'vaViewer',
  'device',
  'partnerWithoutRole',
  'otherCustomerUser',
] as const;
export type Caller = (typeof CALLERS)[number];

/** Who each caller is, relative to the one customer (Smart Account A) every call aims at. */
export const CALLER_DESCRIPTIONS: Record<Caller, string> = {
  anonymous: 'no credential at all',
  operator: 'an operator API key',
  partner: "the partner of A's orders and holding account; its key; it holds sa_user on A (as the placement rules need)",
  distributor: "that partner's distributor (two-tier); its key; no role on A",
  saAdmin: 'a user of A with sa_admin: their API key and their signed-in browser',
  saUser: 'a user of A with sa_user',
  vaAdmin: 'a user of A with va_admin on the virtual account Finance',
  vaUser: 'a user of A with va_user on Finance',
  vaViewer: 'a user of A with va_viewer on Finance',
  device: "a product instance registered in A's Finance: its signed request (credential + signature), no API key",
  partnerWithoutRole: "a partner with no role on A and no part in A's orders; its key",
  otherCustomerUser: "the sa_admin of another customer's Smart Account B: their key and browser",
};

/**
 * What a caller gets: `2xx` or `3xx` (any of the class; a 3xx that is not to the sign-in page),
 * `none` (a 2xx that shows nothing of A), `signin` (a page's redirect to /sign-in: sign in first),
 * or an exact refusal status.
 */
export type Expected = '2xx' | '3xx' | 'none' | 'signin' | '400' | '401' | '403' | '404' | '409' | '410' | '422';
const EXPECTED = new Set<string>(['2xx', '3xx', 'none', 'signin', '400', '401', '403', '404', '409', '410', '422']);

export interface MatrixRow {
  /** "METHOD /path" as Fastify registered it (HEAD is GET's). */
  route: string;
  expected: Record<Caller, Expected>;
  /** What the cells aim at, and why a column reads as it does. */
  note: string;
}

/** A row from its cells in CALLERS order, separated by spaces. */
function row(route: string, cells: string, note: string): MatrixRow {
  const values = cells.trim().split(/\s+/);
  if (values.length !== CALLERS.length || values.some((v) => !EXPECTED.has(v))) {
    throw new Error(`authorization matrix: row ${route} needs ${CALLERS.length} cells of ${[...EXPECTED].join(' ')}`);
  }
  return { route, expected: Object.fromEntries(CALLERS.map((caller, i) => [caller, values[i]])) as Record<Caller, Expected>, note };
}

/** An allowed answer: the call did what it asks (the test runs these after the refusals). */
export function isAllowed(expected: Expected): boolean {
  return expected === '2xx' || expected === '3xx' || expected === 'none';
}

// prettier-ignore
export const AUTHORIZATION_MATRIX: MatrixRow[] = [
  // cells in CALLERS order: anonymous operator partner distributor saAdmin saUser vaAdmin vaUser vaViewer device partnerWithoutRole otherCustomerUser
  row('POST /v1/orders', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', "books an order of A's partner: for itself, its distributor for it, an operator naming it"),
  row('GET /v1/orders', '401    2xx    2xx    2xx    none   none   none   none   none   401    none   none', "A's holding account's orders; others get a list with none of A's"),
  row('GET /v1/orders/:orderId', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', "a held order of A's partner"),
  row('POST /v1/orders/:orderId/assignment', '401    2xx    2xx    403    403    403    403    403    403    401    403    403', "assigns A's Smart Account; the distributor has no role on it (R11)"),
  row('POST /v1/orders/:orderId/shipments', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', 'ships line 1 of the held order'),
  row('POST /v1/orders/:orderId/cancellation', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', 'cancels an order (a new one per allowed caller)'),
  row('POST /v1/orders/:orderId/delegation-link', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', "resends the delegation link of an order waiting for A's contact"),
  row('POST /v1/order-transfers', '401    2xx    2xx    403    403    403    403    403    403    401    403    403', "transfers an order into A's Smart Account; needs a role on it"),
  row('GET /v1/order-transfers/:batchId', '401    2xx    2xx    403    403    403    403    403    403    401    403    403', "a transfer batch of A's partner (its distributor is not let in)"),
  row('GET /v1/emails', '401    2xx    2xx    2xx    none   none   none   none   none   401    none   none', "the failed emails of A's partner's held order: an operator all, a partner (or its distributor) its orders'"),
  row('POST /v1/emails/:emailId/resend', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', "resends a failed email of A's partner's held order (once: later calls say repeated)"),
  row('GET /v1/smart-accounts', '401    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    401    2xx    2xx', "searches A's domain: that an account exists is public to any key (R2)"),
  row('POST /v1/smart-account-requests', '401    2xx    2xx    403    403    403    403    403    403    401    403    403', "requests a Smart Account in the name of A's partner"),
  row('GET /v1/accounts/:accountId/virtual-accounts', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', "A's virtual accounts, as far as a role covers them"),
  row('POST /v1/accounts/:accountId/virtual-accounts', '401    2xx    403    403    2xx    403    2xx    403    403    401    403    403', 'creates Finance/<new>: an admin role over Finance'),
  row('GET /v1/accounts/:accountId/role-grants', '401    2xx    2xx    none   2xx    2xx    2xx    2xx    2xx    401    none   none', 'the grants a role lets the caller see; none without a role'),
  row('POST /v1/accounts/:accountId/role-grants', '401    2xx    403    403    2xx    403    2xx    403    403    401    403    403', 'grants va_viewer on Finance: an admin role over Finance'),
  row('DELETE /v1/accounts/:accountId/role-grants/:grantId', '401    2xx    403    403    2xx    403    2xx    403    403    401    403    403', 'revokes a va_viewer grant on Finance'),
  row('GET /v1/accounts/:accountId/registration-tokens', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    403    401    403    403', 'tokens of the VAs the caller may use'),
  row('POST /v1/accounts/:accountId/registration-tokens', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    403    401    403    403', 'a token for Finance: use (not view) on it'),
  row('DELETE /v1/accounts/:accountId/registration-tokens/:tokenId', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    403    401    403    403', 'revokes a Finance token'),
  row('POST /v1/accounts/:accountId/activation-link', '401    2xx    2xx    403    403    403    403    403    403    401    403    403', "resends the activation link of an account A's partner requested"),
  row('GET /v1/holding-accounts/:accountId/members', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', "the members of A's partner's holding account"),
  row('POST /v1/holding-accounts/:accountId/members', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', 'adds a member'),
  row('DELETE /v1/holding-accounts/:accountId/members/:email', '401    2xx    2xx    2xx    403    403    403    403    403    401    403    403', 'removes a member'),
  row('POST /v1/holding-accounts', '401    2xx    403    403    403    403    403    403    403    401    403    403', 'operators only'),
  row('POST /v1/partners', '401    2xx    403    403    403    403    403    403    403    401    403    403', 'operators only'),
  row('POST /v1/partners/:partnerId/resellers', '401    2xx    403    403    403    403    403    403    403    401    403    403', "links a reseller to A's distributor: operators only"),
  row('POST /v1/users', '401    2xx    403    403    403    403    403    403    403    401    403    403', 'operators only'),
  row('GET /v1/me', '401    403    403    403    2xx    2xx    2xx    2xx    2xx    401    403    2xx', "a user's own profile: user keys only"),
  row('POST /v1/me/api-keys', '401    403    403    403    2xx    2xx    2xx    2xx    2xx    401    403    2xx', 'a user mints a key of their own'),
  row('DELETE /v1/me/api-keys/:keyId', '401    403    403    403    404    2xx    404    404    404    401    403    404', "revokes the SA user's key: only its owner (404 to anyone else)"),
  row('GET /v1/accounts/:accountId/licenses', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23): any role, narrowed to what it covers'),
  row('GET /v1/accounts/:accountId/instances', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23)'),
  row('GET /v1/accounts/:accountId/daily-use', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23)'),
  row('GET /v1/accounts/:accountId/tokens', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23)'),
  row('GET /v1/accounts/:accountId/alerts', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23)'),
  row('GET /v1/accounts/:accountId/events', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23)'),
  row('GET /v1/accounts/:accountId/events.csv', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23)'),
  row('GET /v1/accounts/:accountId/true-ups', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', 'the complete view (R23)'),
  row('GET /v1/accounts/:accountId/overage-agreement', '401    2xx    2xx    403    2xx    2xx    2xx    2xx    2xx    401    403    403', "A's overage agreement: any role"),
  row('PUT /v1/accounts/:accountId/alert-subscriptions/:userId', '401    2xx    403    403    2xx    2xx    403    403    403    401    403    403', 'subscribes the SA user: itself, or whoever manages all of A'),
  row('DELETE /v1/accounts/:accountId/alert-subscriptions/:userId', '401    2xx    403    403    2xx    2xx    403    403    403    401    403    403', 'unsubscribes the SA user: itself, or whoever manages all of A'),
  row('PUT /v1/accounts/:accountId/overage-agreement', '401    2xx    403    403    2xx    403    403    403    403    401    403    403', 'manage on all of A (SA admin), or an operator'),
  row('POST /v1/accounts/:accountId/true-ups/:period/approve', '401    409    403    403    409    403    403    403    403    401    403    403', 'a settled true-up: allowed callers reach its 409 (SA admin, partner of record, operator)'),
  row('POST /v1/accounts/:accountId/license-moves', '401    2xx    403    403    2xx    403    403    403    403    401    403    403', 'Finance -> Region-US: an admin role on both'),
  row('POST /v1/accounts/:accountId/product-instances/:instanceId/move', '401    2xx    403    403    2xx    403    403    403    403    401    403    403', 'an instance Finance -> Region-US: an admin role on both'),
  row('DELETE /v1/accounts/:accountId/product-instances/:instanceId', '401    2xx    403    403    2xx    403    2xx    403    403    401    403    403', 'removes a Finance instance: an admin role over Finance'),
  row('GET /accounts/:accountId', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 404', "A's pages: a signed-in user with a role; another customer's user gets 404, keys are no sign-in"),
  row('GET /accounts/:accountId/va', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 404', "A's Finance page"),
  row('GET /accounts/:accountId/people', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 404', "A's people page"),
  row('GET /accounts/:accountId/tokens', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 404', "A's tokens page"),
  row('GET /accounts/:accountId/alerts', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 404', "A's alerts page"),
  row('GET /accounts/:accountId/events', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 404', "A's events page"),
  row('GET /accounts/:accountId/events.csv', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 404', "A's events as CSV"),
  row('GET /accounts', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin none', "the signed-in user's accounts"),
  row('POST /accounts/:accountId/people/grants', 'signin signin signin signin 2xx    403    2xx    403    403    403    signin 404', 'grants va_viewer on Finance from the page (CSRF pair sent; the device has no browser)'),
  row('POST /accounts/:accountId/instances/:instanceId/remove', 'signin signin signin signin 3xx    403    3xx    403    403    403    signin 404', 'removes a Finance instance from the VA page'),
  row('POST /accounts/:accountId/people/grants/:grantId/revoke', 'signin signin signin signin 3xx    403    3xx    403    403    403    signin 404', 'revokes a Finance grant from the page'),
  row('GET /me', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    signin signin 2xx', "the signed-in user's profile page"),
  row('POST /me/api-keys', 'signin signin signin signin 2xx    2xx    2xx    2xx    2xx    403    signin 2xx', 'mints a key from the page'),
  row('POST /me/api-keys/:keyId/revoke', 'signin signin signin signin 404    3xx    404    404    404    403    signin 404', "revokes the SA user's key from the page: only its owner"),
  row('GET /', '3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx', 'the site root: on to /accounts (which asks to sign in first)'),
  row('GET /sign-in', '2xx    2xx    2xx    2xx    3xx    3xx    3xx    3xx    3xx    2xx    2xx    3xx', 'public (a signed-in user is sent on to /accounts, or to the page ?next= names)'),
  row('POST /sign-in', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    403    2xx    2xx', 'public: the same answer for known and unknown addresses'),
  row('GET /sign-in/:token', '404    404    404    404    404    404    404    404    404    404    404    404', 'the emailed link is the credential: an unknown one is 404 to everyone'),
  row('POST /sign-in/:token', '404    404    404    404    404    404    404    404    404    403    404    404', 'an unknown link'),
  row('POST /sign-out', '3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    403    3xx    3xx', 'ends the session it is sent with'),
  row('GET /people/register', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
  row('POST /people/register', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    403    2xx    2xx', 'public: registers a new address'),
  row('GET /people/verify/:token', '404    404    404    404    404    404    404    404    404    404    404    404', 'an unknown link'),
  row('POST /people/verify/:token', '404    404    404    404    404    404    404    404    404    403    404    404', 'an unknown link'),
  row('GET /delegations/:token', '404    404    404    404    404    404    404    404    404    404    404    404', 'an unknown link (customer pages: rate-limited per client)'),
  row('POST /delegations/:token', '404    404    404    404    404    404    404    404    404    403    404    404', 'an unknown link, with a valid CSRF pair'),
  row('GET /activations/:token', '404    404    404    404    404    404    404    404    404    404    404    404', 'an unknown link'),
  row('POST /activations/:token', '404    404    404    404    404    404    404    404    404    403    404    404', 'an unknown link, with a valid CSRF pair'),
  row('GET /v1/license-signing-keys', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public keys only'),
  row('POST /v1/devices/registrations', '401    401    401    401    401    401    401    401    401    401    401    401', 'the registration token in the body is the credential: an unknown one registers nothing'),
  row('POST /v1/devices/:instanceId/usage-reports', '401    401    401    401    401    401    401    401    401    2xx    401    401', "the device's own instance: its signed request only"),
  row('POST /v1/devices/:instanceId/credential-renewals', '401    401    401    401    401    401    401    401    401    2xx    401    401', "the device's own instance"),
  row('POST /v1/devices/:instanceId/sessions', '401    401    401    401    401    401    401    401    401    2xx    401    401', "the device's own instance, signed with its key (a session cannot open another)"),
  row('POST /codec/encode', '401    2xx    403    403    403    403    403    403    403    401    403    403', 'operator key (Bearer) or codec session'),
  row('POST /codec/decode', '401    2xx    403    403    403    403    403    403    403    401    403    403', 'operator key (Bearer) or codec session'),
  row('GET /codec/session', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', "the operators' codec sign-in form"),
  row('POST /codec/session', '401    2xx    403    403    403    403    403    403    403    401    403    403', 'each caller posts its own key: an operator key opens a session'),
  row('POST /codec/ui/:key/encode', '401    2xx    403    403    403    403    403    403    403    401    403    403', "each caller's own key in the path, from the Temporal UI's origin"),
  row('POST /codec/ui/:key/decode', '401    2xx    403    403    403    403    403    403    403    401    403    403', "each caller's own key in the path, from the Temporal UI's origin"),
  row('OPTIONS /codec/:operation', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'CORS preflight: grants nothing'),
  row('OPTIONS /codec/ui/:key/:operation', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'CORS preflight: grants nothing'),
  row('GET /healthz', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
  row('GET /readyz', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
  row('GET /openapi.json', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
  row('GET /docs', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'Swagger UI: public'),
  row('GET /docs/json', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
  row('GET /docs/yaml', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
  row('GET /docs/static/index.html', '3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx    3xx', 'public (a redirect)'),
  row('GET /docs/static/swagger-initializer.js', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
  row('GET /docs/static/*', '2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx    2xx', 'public'),
];
