import type { Knex } from 'knex';
import { allows, OPERATOR_ROLES, roleGrantsQuery, type AccountAction, type Grantee, type HeldRole } from '../accounts/roles';

/**
 * R23/R24: what of a Smart Account a caller may see. Every view of src/licensing/views-*.ts reads
 * through a ViewScope, so the API, the CLI and the pages show one caller the same rows: an
 * operator everything, a partner or user the virtual accounts their roles cover (a VA role
 * covers its children), nothing at all without a role.
 */

export interface VirtualAccountRef {
  id: string;
  path: string;
  name: string;
  parentId: string | null;
}

export interface ViewScope {
  accountId: string;
  accountName: string;
  accountStatus: string;
  grantee: Grantee;
  roles: HeldRole[];
  /** True when a role covers the whole account: account-level alerts and events are visible too. */
  wholeAccount: boolean;
  /** The visible virtual accounts, parents first; narrowed to one subtree when a path was asked for. */
  virtualAccounts: VirtualAccountRef[];
}

export type ScopeRefusal = 'unknown-account' | 'no-role' | 'unknown-virtual-account';
export type ScopeOutcome = { ok: true; scope: ViewScope } | { ok: false; reason: ScopeRefusal };

function underPath(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

interface AccountWithRolesAndVas {
  id: string;
  name: string;
  status: string;
  kind: string;
  roles: HeldRole[];
  vas: Array<{ id: string | number; path: string; name: string; parent_id: string | number | null }>;
}

/**
 * The account, the grantee's roles on it and its virtual accounts (by path) in ONE statement:
 * every view answer starts here, and on this 2-core machine each round trip saved is CPU saved.
 */
async function accountWithRolesAndVas(q: Knex, grantee: Grantee, accountId: string): Promise<AccountWithRolesAndVas | undefined> {
  const roles =
    grantee.kind === 'operator'
      ? q.raw('?::json', [JSON.stringify(OPERATOR_ROLES)])
      : q.raw(`(SELECT COALESCE(json_agg(r), '[]') FROM (?) AS r)`, [roleGrantsQuery(q, grantee, accountId)]);
  const row: AccountWithRolesAndVas | undefined = await q('accounts as a')
    .where('a.id', accountId)
    .first(
      'a.id',
      'a.name',
      'a.status',
      'a.kind',
      q.raw('? AS roles', [roles]),
      q.raw(
        `(SELECT COALESCE(json_agg(json_build_object('id', v.id, 'path', v.path, 'name', v.name, 'parent_id', v.parent_id) ORDER BY v.path), '[]')
           FROM virtual_accounts v WHERE v.account_id = a.id) AS vas`,
      ),
    );
  return row;
}

/**
 * The caller's scope on a Smart Account, optionally narrowed to the subtree of one virtual
 * account (which the caller must be able to see). A holding account is no Smart Account here.
 */
export async function viewScopeOf(q: Knex, grantee: Grantee, accountId: string, virtualAccountPath?: string): Promise<ScopeOutcome> {
  const found = await accountWithRolesAndVas(q, grantee, accountId);
  if (!found || found.kind !== 'smart_account') return { ok: false, reason: 'unknown-account' };
  const { roles, vas: rows } = found;
  if (roles.length === 0) return { ok: false, reason: 'no-role' };
  let virtualAccounts = rows
    .filter((r) => allows(roles, 'view', r.path))
    .map((r) => ({ id: String(r.id), path: r.path, name: r.name, parentId: r.parent_id === null ? null : String(r.parent_id) }));
  if (virtualAccountPath !== undefined) {
    if (!virtualAccounts.some((va) => va.path === virtualAccountPath)) return { ok: false, reason: 'unknown-virtual-account' };
    virtualAccounts = virtualAccounts.filter((va) => underPath(va.path, virtualAccountPath));
  }
  return {
    ok: true,
    scope: {
      accountId: found.id,
      accountName: found.name,
      accountStatus: found.status,
      grantee,
      roles,
      wholeAccount: virtualAccountPath === undefined && allows(roles, 'view', null),
      virtualAccounts,
    },
  };
}

/**
 * viewScopeOf in SQL, for a view answered in one statement (the instances page): CTEs `judged`
 * (one row: `refused`, the ScopeRefusal, or null when the caller may see what it asked for) and
 * `shown` (the IDs of the VAs the answer covers; none when refused). The same judgement, in the
 * same order, as viewScopeOf and allows(roles, 'view', path): every role allows viewing, a VA
 * role covers its children. Bindings: scopeSqlBindings.
 */
export const SCOPE_SQL = `
grants AS (
  SELECT va.path FROM role_grants g LEFT JOIN virtual_accounts va ON va.id = g.virtual_account_id
   WHERE g.account_id = :accountId AND g.revoked_at IS NULL AND (g.partner_id = :partnerId OR g.user_id = :userId::bigint)
  UNION ALL SELECT NULL WHERE :operator
), visible AS (
  SELECT v.id, v.path FROM virtual_accounts v
   WHERE v.account_id = :accountId
     AND EXISTS (SELECT 1 FROM grants r WHERE r.path IS NULL OR v.path = r.path OR starts_with(v.path, r.path || '/'))
), judged AS (
  SELECT CASE
           WHEN a.kind IS DISTINCT FROM 'smart_account' THEN 'unknown-account'
           WHEN NOT EXISTS (SELECT 1 FROM grants) THEN 'no-role'
           WHEN :vaPath::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM visible WHERE path = :vaPath) THEN 'unknown-virtual-account'
         END AS refused
    FROM (VALUES (1)) AS one (x) LEFT JOIN accounts a ON a.id = :accountId
), shown AS (
  SELECT id FROM visible
   WHERE (SELECT refused IS NULL FROM judged) AND (:vaPath::text IS NULL OR path = :vaPath OR starts_with(path, :vaPath || '/'))
)`;

/** The bindings of SCOPE_SQL. */
export function scopeSqlBindings(grantee: Grantee, accountId: string, virtualAccountPath: string | undefined): Record<string, unknown> {
  return {
    accountId,
    operator: grantee.kind === 'operator',
    partnerId: grantee.kind === 'partner' ? grantee.partnerId : null,
    userId: grantee.kind === 'user' ? grantee.userId : null,
    vaPath: virtualAccountPath ?? null,
  };
}

export function visibleVaIds(scope: ViewScope): string[] {
  return scope.virtualAccounts.map((va) => va.id);
}

/** What the caller may do at a VA path (null: the whole account): the pages show change buttons only then. */
export function mayDo(scope: ViewScope, action: AccountAction, path: string | null): boolean {
  return allows(scope.roles, action, path);
}

/** Rows of the account tied to a visible VA, or to no VA when the caller sees the whole account. */
export function whereVisible(query: Knex.QueryBuilder, scope: ViewScope, column: string): Knex.QueryBuilder {
  const ids = visibleVaIds(scope);
  return query.where((w) => {
    void w.whereIn(column, ids);
    if (scope.wholeAccount) void w.orWhereNull(column);
  });
}
