import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { PlacementRefusal } from '../accounts/placement-rules';
import { grantRole, mayManageGrant, revokeRole, type GrantRequest } from '../accounts/role-grants';
import { allows, rolesOn, type RoleName } from '../accounts/roles';
import { mintUserKey, profileOf, revokeUserKey, UserKeyRefusal } from '../accounts/user-keys';
import type { ApiDependencies } from '../api/dependencies';
import type { Db } from '../db/knex';
import { CONTROL_CHARACTERS, ValidationError } from '../orders/order';
import { appProblemPage } from '../web/app-layout';
import { fieldOf, PageAnswer, registerPageScope, sendAppPage, type PageTools } from '../web/page-scope';
import { eventCsv, EVENT_CSV_MAX } from './view-routes';
import { listRegistrationTokens } from './tokens';
import { viewScopeOf, visibleVaIds, type ViewScope } from './views-access';
import { alertsOf, eventsOf, rolesOf } from './views-activity';
import { dailyUseOf, instancesForPage, licensesOf } from './views-licenses';
import { alertsPage, eventsPage, GRANT_FIELD_LABELS, peoplePage, tokensPage, type GrantFormFields } from './pages/activity-pages';
import { accountBase, vaHref, type Viewer } from './pages/frame';
import { removeProductInstance } from './instance-removal';
import { MoveRefused } from './moves';
import { accountsPage, overviewPage, virtualAccountPage } from './pages/license-pages';
import { profilePage } from './pages/profile-page';

/**
 * The pages people sign in to (R23, R24): their accounts, a Smart Account's overview, a virtual
 * account (licenses, chart, instances), users and roles, tokens, alerts, the event log and its
 * CSV, and their own profile and API keys. Every page reads through the viewer's ViewScope, so a
 * page shows what the API shows that person; every POST is CSRF-checked and authorized by the
 * person's own roles (a VA viewer's POST is refused, and no change buttons are drawn for it).
 */

const EVENTS_PAGE_SIZE = 100;
/** What an instance ID looks like (pi-…): anything else is not one, and is not echoed back. */
const ID = /^[A-Za-z0-9._:-]{1,128}$/;
type AccountParams = { Params: { accountId: string } };

const notFoundPage = () =>
  new PageAnswer(
    appProblemPage(404, 'Not found', 'There is no such Smart Account or virtual account that you may see.', {
      href: '/accounts',
      text: 'Your Smart Accounts',
    }),
  );

function managedScopes(scope: ViewScope): Array<string | null> {
  return scope.roles.filter((r) => r.role === 'sa_admin' || r.role === 'va_admin').map((r) => r.path);
}

export async function registerLicensePages(app: FastifyInstance, deps: ApiDependencies): Promise<void> {
  const { db } = deps;
  await registerPageScope(app, { db, publicBaseUrl: deps.config.publicBaseUrl }, (pages, tools) => {
    const viewerOf = async (request: FastifyRequest, reply: FastifyReply) => {
      const { userId } = await tools.signedIn(request);
      const user = await db('users')
        .where({ id: userId })
        .first<{ full_name: string | null; registered_id: string | null; email: string }>('full_name', 'registered_id', 'email');
      const viewer: Viewer = { name: user.full_name ?? user.registered_id ?? user.email, csrfToken: tools.csrfFor(request, reply) };
      return { userId, viewer };
    };
    const scopeFor = async (userId: string, accountId: string, path?: string): Promise<ViewScope> => {
      const outcome = await viewScopeOf(db, { kind: 'user', userId }, accountId, path);
      if (!outcome.ok) throw notFoundPage();
      return outcome.scope;
    };

    pages.get('/accounts', async (request, reply) => {
      const { userId, viewer } = await viewerOf(request, reply);
      return sendAppPage(reply, accountsPage(viewer, await accountsOfUser(db, userId)));
    });

    pages.get<AccountParams>('/accounts/:accountId', async (request, reply) => {
      const { userId, viewer } = await viewerOf(request, reply);
      const scope = await scopeFor(userId, request.params.accountId);
      const alerts = await alertsOf(db, scope);
      return sendAppPage(reply, overviewPage(viewer, scope, await licensesOf(db, scope), alerts.length));
    });

    registerVirtualAccountPage(pages, db, tools, viewerOf, scopeFor);

    pages.get<AccountParams>('/accounts/:accountId/people', async (request, reply) => {
      const { userId, viewer } = await viewerOf(request, reply);
      const scope = await scopeFor(userId, request.params.accountId);
      return sendAppPage(reply, peoplePage(viewer, scope, { grants: await rolesOf(db, scope), manages: managedScopes(scope) }));
    });

    registerGrantForms(pages, db, tools, viewerOf, scopeFor);

    pages.get<AccountParams>('/accounts/:accountId/tokens', async (request, reply) => {
      const { userId, viewer } = await viewerOf(request, reply);
      const scope = await scopeFor(userId, request.params.accountId);
      return sendAppPage(reply, tokensPage(viewer, scope, await listRegistrationTokens(db, scope.accountId, visibleVaIds(scope))));
    });

    pages.get<AccountParams>('/accounts/:accountId/alerts', async (request, reply) => {
      const { userId, viewer } = await viewerOf(request, reply);
      const scope = await scopeFor(userId, request.params.accountId);
      return sendAppPage(reply, alertsPage(viewer, scope, await alertsOf(db, scope)));
    });

    pages.get<AccountParams & { Querystring: { before?: string } }>('/accounts/:accountId/events', async (request, reply) => {
      const { userId, viewer } = await viewerOf(request, reply);
      const scope = await scopeFor(userId, request.params.accountId);
      const before =
        typeof request.query.before === 'string' && /^[1-9][0-9]{0,17}$/.test(request.query.before) ? request.query.before : undefined;
      const events = await eventsOf(db, scope, { limit: EVENTS_PAGE_SIZE, beforeId: before });
      return sendAppPage(reply, eventsPage(viewer, scope, events, EVENTS_PAGE_SIZE));
    });

    pages.get<AccountParams>('/accounts/:accountId/events.csv', async (request, reply) => {
      const { userId } = await tools.signedIn(request);
      const scope = await scopeFor(userId, request.params.accountId);
      const csv = eventCsv(await eventsOf(db, scope, { limit: EVENT_CSV_MAX }));
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="events-${scope.accountId.replace(/[^A-Za-z0-9._-]/g, '_')}.csv"`)
        .send(csv);
    });

    registerProfilePages(pages, db, tools, viewerOf);
  });
}

type ViewerOf = (request: FastifyRequest, reply: FastifyReply) => Promise<{ userId: string; viewer: Viewer }>;
type ScopeFor = (userId: string, accountId: string, path?: string) => Promise<ViewScope>;

async function accountsOfUser(db: Db, userId: string): Promise<Array<{ accountId: string; name: string; roles: string[] }>> {
  const rows = await db('role_grants as g')
    .join('accounts as a', 'a.id', 'g.account_id')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .where({ 'g.user_id': userId, 'a.kind': 'smart_account' })
    .whereNull('g.revoked_at')
    .orderBy([{ column: 'a.name' }, { column: 'g.role' }])
    .select<Array<{ account_id: string; name: string; role: string; path: string | null }>>('g.account_id', 'a.name', 'g.role', 'va.path');
  const accounts = new Map<string, { accountId: string; name: string; roles: string[] }>();
  for (const r of rows) {
    if (!accounts.has(r.account_id)) accounts.set(r.account_id, { accountId: r.account_id, name: r.name, roles: [] });
    accounts.get(r.account_id)!.roles.push(r.path ? `${r.role} on ${r.path}` : r.role);
  }
  return [...accounts.values()];
}

/**
 * A virtual account's page (licenses, chart, instances) and its Remove form (R23): the person's
 * own roles on the instance's VA decide, under the instance's lock; one they may not see is not
 * found. Back to the page after.
 */
function registerVirtualAccountPage(pages: FastifyInstance, db: Db, tools: PageTools, viewerOf: ViewerOf, scopeFor: ScopeFor): void {
  pages.get<AccountParams & { Querystring: { path?: string; removed?: string } }>('/accounts/:accountId/va', async (request, reply) => {
    const { userId, viewer } = await viewerOf(request, reply);
    const path = typeof request.query.path === 'string' ? request.query.path : '';
    const scope = await scopeFor(userId, request.params.accountId, path);
    const [lines, series, instances] = [await licensesOf(db, scope), await dailyUseOf(db, scope), await instancesForPage(db, scope)];
    const removed = typeof request.query.removed === 'string' && ID.test(request.query.removed) ? request.query.removed : undefined;
    return sendAppPage(
      reply,
      virtualAccountPage(viewer, scope, path, lines, series, instances, {
        mayRemove: (vaPath) => allows(scope.roles, 'manage', vaPath),
        ...(removed
          ? { notice: `Removed product instance ${removed}: its credentials are revoked and it no longer counts against the pools.` }
          : {}),
      }),
    );
  });

  pages.post<{ Params: { accountId: string; instanceId: string } }>(
    '/accounts/:accountId/instances/:instanceId/remove',
    async (request, reply) => {
      tools.checkCsrf(request);
      const { userId } = await viewerOf(request, reply);
      const scope = await scopeFor(userId, request.params.accountId);
      const { instanceId } = request.params;
      if (!ID.test(instanceId)) throw notFoundPage();
      try {
        await removeProductInstance(db, {
          accountId: scope.accountId,
          instanceId,
          actor: `user:${userId}`,
          authorize: (path) => {
            if (!allows(scope.roles, 'view', path)) throw notFoundPage();
            if (!allows(scope.roles, 'manage', path)) {
              throw new PageAnswer(
                appProblemPage(
                  403,
                  'You may not change this',
                  'Removing a product instance needs an administrator role on its virtual account. Nothing has been changed.',
                ),
              );
            }
          },
        });
      } catch (err) {
        if (err instanceof MoveRefused) throw notFoundPage();
        throw err;
      }
      const returnPath = fieldOf(request.body, 'returnPath') ?? '';
      return reply
        .status(303)
        .header('location', `${vaHref(scope.accountId, returnPath)}&removed=${encodeURIComponent(instanceId)}`)
        .send();
    },
  );
}

/** The grant and revoke forms of the users-and-roles page: the person's own roles decide (R24). */
function registerGrantForms(pages: FastifyInstance, db: Db, tools: PageTools, viewerOf: ViewerOf, scopeFor: ScopeFor): void {
  const refuse = () =>
    new PageAnswer(
      appProblemPage(
        403,
        'You may not change this',
        'Changing roles here needs an administrator role on that part of the account. Nothing has been changed.',
      ),
    );

  // Judged on the person's roles as they are inside the change's transaction (read through `q`,
  // after the account's lock), not as the page read them: another admin may have revoked them since.
  const mayChange =
    (userId: string, accountId: string) =>
    async (role: RoleName, path: string | null, q: Knex): Promise<void> => {
      if (!mayManageGrant(await rolesOn(q, { kind: 'user', userId }, accountId), role, path)) throw refuse();
    };

  pages.post<AccountParams>('/accounts/:accountId/people/grants', async (request, reply) => {
    tools.checkCsrf(request);
    const { userId, viewer } = await viewerOf(request, reply);
    const scope = await scopeFor(userId, request.params.accountId);
    if (managedScopes(scope).length === 0) throw refuse();
    const grantee = fieldOf(request.body, 'grantee')?.trim() ?? '';
    const role = fieldOf(request.body, 'role') as RoleName;
    const path = fieldOf(request.body, 'virtualAccountPath') || undefined;
    const grant: GrantRequest = {
      ...(fieldOf(request.body, 'granteeKind') === 'partner' ? { partnerId: grantee } : { userId: grantee }),
      role,
      ...(path ? { virtualAccountPath: path } : {}),
    };
    const entered: GrantFormFields = {
      grantee,
      granteeKind: fieldOf(request.body, 'granteeKind') === 'partner' ? 'partner' : 'user',
      role,
      virtualAccountPath: path ?? '',
    };
    const view = async (extra: { notice?: string; error?: string; entered?: GrantFormFields }, status = 200) =>
      sendAppPage(reply, peoplePage(viewer, scope, { grants: await rolesOf(db, scope), manages: managedScopes(scope), ...extra }, status));
    try {
      await grantRole(db, scope.accountId, grant, `user:${userId}`, mayChange(userId, scope.accountId));
    } catch (err) {
      if (err instanceof ValidationError) {
        const error = err.errors.map((e) => `${GRANT_FIELD_LABELS[e.field] ?? e.field}: ${e.reason}`).join('; ');
        return view({ error, entered }, 400);
      }
      if (err instanceof PlacementRefusal) return view({ error: err.message, entered }, 422);
      throw err;
    }
    return view({ notice: `Granted ${grant.role} to ${grantee}.` });
  });

  pages.post<{ Params: { accountId: string; grantId: string } }>(
    '/accounts/:accountId/people/grants/:grantId/revoke',
    async (request, reply) => {
      tools.checkCsrf(request);
      const { userId, viewer } = await viewerOf(request, reply);
      const scope = await scopeFor(userId, request.params.accountId);
      if (managedScopes(scope).length === 0) throw refuse();
      let outcome: Awaited<ReturnType<typeof revokeRole>>;
      try {
        outcome = await revokeRole(db, scope.accountId, request.params.grantId, mayChange(userId, scope.accountId), `user:${userId}`);
      } catch (err) {
        if (err instanceof ValidationError) throw notFoundPage();
        if (err instanceof PlacementRefusal) {
          const grants = await rolesOf(db, scope);
          return sendAppPage(reply, peoplePage(viewer, scope, { grants, manages: managedScopes(scope), error: err.message }, 409));
        }
        throw err;
      }
      if (outcome === 'unknown') throw notFoundPage();
      return reply
        .status(303)
        .header('location', `${accountBase(scope.accountId)}/people`)
        .send();
    },
  );
}

/** The signed-in person's profile and their own API keys (R24). */
function registerProfilePages(pages: FastifyInstance, db: Db, tools: PageTools, viewerOf: ViewerOf): void {
  pages.get('/me', async (request, reply) => {
    const { userId, viewer } = await viewerOf(request, reply);
    return sendAppPage(reply, profilePage(viewer, (await profileOf(db, userId))!));
  });

  pages.post('/me/api-keys', async (request, reply) => {
    tools.checkCsrf(request);
    const { userId, viewer } = await viewerOf(request, reply);
    const label = fieldOf(request.body, 'label')?.trim() ?? '';
    if (!label || label.length > 200 || CONTROL_CHARACTERS.test(label)) {
      return sendAppPage(
        reply,
        profilePage(viewer, (await profileOf(db, userId))!, { error: 'Give the key a label of 1-200 characters on one line.' }),
      );
    }
    try {
      const { key } = await mintUserKey(db, userId, label);
      return sendAppPage(reply, profilePage(viewer, (await profileOf(db, userId))!, { key }));
    } catch (err) {
      if (err instanceof UserKeyRefusal)
        return sendAppPage(reply, profilePage(viewer, (await profileOf(db, userId))!, { error: err.message }));
      throw err;
    }
  });

  pages.post<{ Params: { keyId: string } }>('/me/api-keys/:keyId/revoke', async (request, reply) => {
    tools.checkCsrf(request);
    const { userId } = await tools.signedIn(request);
    if (!/^[1-9][0-9]{0,17}$/.test(request.params.keyId) || (await revokeUserKey(db, userId, request.params.keyId)) === 'unknown')
      throw notFoundPage();
    return reply.status(303).header('location', '/me').send();
  });
}
