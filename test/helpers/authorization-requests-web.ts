/**
 * How the routes outside the keyed /v1 API are called in the authorization matrix: the signed-in
 * pages (a session cookie; every POST carries the browser's CSRF pair, so the role decides), the
 * emailed links (the token in the URL is the credential: an unknown one here), the device routes
 * (a signed request), the codec server and what is public.
 */
import { randomBytes } from 'node:crypto';
import { newSessionKeyPair } from '../../src/device-client/protocol';
import { openSession } from '../../src/web/session';
import type { Caller } from '../../src/security/authorization-matrix';
import type { MatrixContext } from './authorization-context';
import { freshGrantId, instanceToMove, userKeyToRevoke, type RequestFor } from './authorization-requests';

const page = (ctx: MatrixContext, view = '') => `/accounts/${ctx.world.smartAccountId}${view}`;
const form = (ctx: MatrixContext, fields: Record<string, string> = {}) => ({ csrf: ctx.csrf, ...fields });
const unknownToken = () => randomBytes(32).toString('base64url');
/** The key a caller would put in the Temporal UI's codec URL: its own, or a well-formed unknown one. */
const keyInUrl = (ctx: MatrixContext, caller: Caller) => ctx.callers[caller].apiKey ?? `lfk_${randomBytes(32).toString('base64url')}`;
const uiOrigin = (ctx: MatrixContext) => ({ origin: new URL(ctx.stack.config.temporal.uiUrl).origin });

export const PAGE_REQUESTS: Record<string, RequestFor> = {
  ...Object.fromEntries(
    ['', '/va?path=Finance', '/people', '/tokens', '/alerts', '/events', '/events.csv'].map((view) => [
      `GET /accounts/:accountId${view.replace(/\?.*/, '')}`,
      (ctx: MatrixContext) => ({ method: 'GET', path: page(ctx, view) }),
    ]),
  ),
  'GET /accounts': () => ({ method: 'GET', path: '/accounts' }),
  'POST /accounts/:accountId/people/grants': (ctx) => ({
    method: 'POST',
    path: page(ctx, '/people/grants'),
    form: form(ctx, { granteeKind: 'user', grantee: ctx.newcomer.registeredId, role: 'va_viewer', virtualAccountPath: 'Finance' }),
  }),
  'POST /accounts/:accountId/instances/:instanceId/remove': async (ctx, _caller, allowed) => ({
    method: 'POST',
    path: page(ctx, `/instances/${await instanceToMove(ctx, allowed)}/remove`),
    form: form(ctx, { returnPath: 'Finance' }),
  }),
  'POST /accounts/:accountId/people/grants/:grantId/revoke': async (ctx) => ({
    method: 'POST',
    path: page(ctx, `/people/grants/${await freshGrantId(ctx)}/revoke`),
    form: form(ctx),
  }),
  'GET /me': () => ({ method: 'GET', path: '/me' }),
  'POST /me/api-keys': (ctx) => ({ method: 'POST', path: '/me/api-keys', form: form(ctx, { label: 'matrix' }) }),
  'POST /me/api-keys/:keyId/revoke': async (ctx, _caller, allowed) => ({
    method: 'POST',
    path: `/me/api-keys/${await userKeyToRevoke(ctx, allowed)}/revoke`,
    form: form(ctx),
  }),
  'GET /': () => ({ method: 'GET', path: '/' }),
  'GET /sign-in': () => ({ method: 'GET', path: '/sign-in' }),
  'POST /sign-in': (ctx, caller) => ({
    method: 'POST',
    path: '/sign-in',
    form: form(ctx, { email: ctx.callers[caller].user?.email ?? `${ctx.unique('nobody')}@${ctx.world.domain}` }),
  }),
  'GET /sign-in/:token': () => ({ method: 'GET', path: `/sign-in/${unknownToken()}` }),
  'POST /sign-in/:token': (ctx) => ({ method: 'POST', path: `/sign-in/${unknownToken()}`, form: form(ctx) }),
  // Signing out ends the session it is sent with: a signed-in caller signs out of a session of its own.
  'POST /sign-out': async (ctx, caller) => {
    const own = ctx.callers[caller];
    const session = own.user ? (await openSession(ctx.stack.db, own.user.userId, 60_000)).value : undefined;
    return { method: 'POST', path: '/sign-out', form: form(ctx), credentials: { ...own, session } };
  },
  'GET /people/register': () => ({ method: 'GET', path: '/people/register' }),
  'POST /people/register': (ctx) => ({
    method: 'POST',
    path: '/people/register',
    form: form(ctx, { email: `${ctx.unique('new')}@${ctx.world.domain}`, registeredId: ctx.unique('new'), fullName: 'New Person' }),
  }),
  'GET /people/verify/:token': () => ({ method: 'GET', path: `/people/verify/${unknownToken()}` }),
  'POST /people/verify/:token': (ctx) => ({ method: 'POST', path: `/people/verify/${unknownToken()}`, form: form(ctx) }),
  'GET /delegations/:token': () => ({ method: 'GET', path: `/delegations/${unknownToken()}` }),
  'POST /delegations/:token': (ctx) => ({
    method: 'POST',
    path: `/delegations/${unknownToken()}`,
    form: form(ctx, { choice: 'existing' }),
  }),
  'GET /activations/:token': () => ({ method: 'GET', path: `/activations/${unknownToken()}` }),
  'POST /activations/:token': (ctx) => ({ method: 'POST', path: `/activations/${unknownToken()}`, form: form(ctx) }),
};

export const DEVICE_REQUESTS: Record<string, RequestFor> = {
  'GET /v1/license-signing-keys': () => ({ method: 'GET', path: '/v1/license-signing-keys' }),
  // The registration token in the body is the credential: an unknown one registers nothing, whoever sends it.
  'POST /v1/devices/registrations': (ctx) => ({
    method: 'POST',
    path: '/v1/devices/registrations',
    json: {
      token: `lrt_${randomBytes(32).toString('base64url')}`,
      productId: 'P',
      serialNumber: ctx.unique('S'),
      hostname: 'h',
      publicKey: 'A'.repeat(43),
    },
  }),
  'POST /v1/devices/:instanceId/usage-reports': (ctx) => ({
    method: 'POST',
    path: `/v1/devices/${ctx.callers.device.instanceId}/usage-reports`,
    json: { reportId: ctx.unique('report'), usage: {} },
  }),
  'POST /v1/devices/:instanceId/credential-renewals': (ctx) => ({
    method: 'POST',
    path: `/v1/devices/${ctx.callers.device.instanceId}/credential-renewals`,
  }),
  'POST /v1/devices/:instanceId/sessions': (ctx) => ({
    method: 'POST',
    path: `/v1/devices/${ctx.callers.device.instanceId}/sessions`,
    json: { publicKey: newSessionKeyPair().publicKey },
  }),
};

export const CODEC_AND_PUBLIC_REQUESTS: Record<string, RequestFor> = {
  'POST /codec/encode': () => ({ method: 'POST', path: '/codec/encode', json: { payloads: [] } }),
  'POST /codec/decode': () => ({ method: 'POST', path: '/codec/decode', json: { payloads: [] } }),
  'GET /codec/session': () => ({ method: 'GET', path: '/codec/session' }),
  'POST /codec/session': (ctx, caller) => ({ method: 'POST', path: '/codec/session', form: { apiKey: ctx.callers[caller].apiKey ?? '' } }),
  'POST /codec/ui/:key/encode': (ctx, caller) => ({
    method: 'POST',
    path: `/codec/ui/${keyInUrl(ctx, caller)}/encode`,
    json: { payloads: [] },
    headers: uiOrigin(ctx),
  }),
  'POST /codec/ui/:key/decode': (ctx, caller) => ({
    method: 'POST',
    path: `/codec/ui/${keyInUrl(ctx, caller)}/decode`,
    json: { payloads: [] },
    headers: uiOrigin(ctx),
  }),
  'OPTIONS /codec/:operation': (ctx) => ({ method: 'OPTIONS', path: '/codec/decode', headers: uiOrigin(ctx) }),
  'OPTIONS /codec/ui/:key/:operation': (ctx, caller) => ({
    method: 'OPTIONS',
    path: `/codec/ui/${keyInUrl(ctx, caller)}/decode`,
    headers: uiOrigin(ctx),
  }),
  ...Object.fromEntries(
    [
      ['/healthz', '/healthz'],
      ['/readyz', '/readyz'],
      ['/openapi.json', '/openapi.json'],
      ['/docs', '/docs'],
      ['/docs/json', '/docs/json'],
      ['/docs/yaml', '/docs/yaml'],
      ['/docs/static/index.html', '/docs/static/index.html'],
      ['/docs/static/swagger-initializer.js', '/docs/static/swagger-initializer.js'],
      ['/docs/static/*', '/docs/static/swagger-ui.css'],
    ].map(([route, path]) => [`GET ${route}`, () => ({ method: 'GET', path })]),
  ),
};
