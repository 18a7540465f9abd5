import type { Knex } from 'knex';

/**
 * Who may do what on a Smart Account and its virtual accounts (R11, R15, R21, R24). A role is
 * granted to a partner or to one of the customer's users; a role on a VA covers its children.
 * One table of actions, so the API, the pages and the CLI judge alike.
 */

export const ROLE_NAMES = ['sa_admin', 'sa_user', 'va_admin', 'va_user', 'va_viewer'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** view: read licenses, devices, events; use: tokens and registrations; manage: moves, users, roles. */
export type AccountAction = 'view' | 'use' | 'manage';

const ALLOWED: Record<AccountAction, readonly RoleName[]> = {
  view: ROLE_NAMES,
  use: ['sa_admin', 'sa_user', 'va_admin', 'va_user'],
  manage: ['sa_admin', 'va_admin'],
};

/** Whoever asks: an operator (everything), a partner, or a customer's user. */
export type Grantee = { kind: 'operator' } | { kind: 'partner'; partnerId: string } | { kind: 'user'; userId: string };

export interface HeldRole {
  role: RoleName;
  /** The VA path the role is scoped to; null for a Smart Account role. */
  path: string | null;
}

/** The grantee's live role grants on the account, as (role, path) rows; never called for an operator. */
export function roleGrantsQuery(q: Knex, grantee: Exclude<Grantee, { kind: 'operator' }>, accountId: string): Knex.QueryBuilder {
  return q('role_grants as g')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .where('g.account_id', accountId)
    .where(grantee.kind === 'partner' ? { 'g.partner_id': grantee.partnerId } : { 'g.user_id': grantee.userId })
    .whereNull('g.revoked_at')
    .select('g.role', 'va.path');
}

/** An operator's standing: every role on the whole account. */
export const OPERATOR_ROLES: readonly HeldRole[] = [{ role: 'sa_admin', path: null }];

export async function rolesOn(q: Knex, grantee: Grantee, accountId: string): Promise<HeldRole[]> {
  if (grantee.kind === 'operator') return [...OPERATOR_ROLES];
  return (await roleGrantsQuery(q, grantee, accountId)) as HeldRole[];
}

/** True when one of the roles allows the action on the VA at `path` (or on the whole account). */
export function allows(roles: readonly HeldRole[], action: AccountAction, path: string | null): boolean {
  return roles.some(
    (r) => ALLOWED[action].includes(r.role) && (r.path === null || (path !== null && (path === r.path || path.startsWith(`${r.path}/`)))),
  );
}

/** True when the grantee may see anything of the account at all (a partner without a role sees nothing). */
export function seesAccount(roles: readonly HeldRole[]): boolean {
  return roles.length > 0;
}
