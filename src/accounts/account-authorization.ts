import type { Principal } from '../api/auth';
import { forbidden, notFound } from '../api/errors';
import { granteeOf } from '../api/grantee';
import type { Db } from '../db/knex';
import type { DistributorResellerRow } from '../db/rows';
import { assertAccountKind, loadAccount } from './account-admin';
import type { AccountRow } from './placement-rules';
import { mayManageGrant } from './role-grants';
import { rolesOn, seesAccount, type HeldRole, type RoleName } from './roles';

/**
 * Who may see and change what in an account (R10, R11). An operator acts for the customer and the
 * platform, so may do everything. Inside a customer Smart Account a partner acts only through a
 * role the customer granted; a Partner Holding Account belongs to its partner, and in two-tier to
 * that partner's distributor too.
 */

export async function accountOr404(db: Db, accountId: string): Promise<AccountRow> {
  const account = await loadAccount(db, accountId);
  if (!account) throw notFound(`account ${accountId}`);
  return account;
}

/** The holding account's owner, or a distributor the owner resells for (R10). */
async function ownsOrDistributes(db: Db, partnerId: string, account: AccountRow): Promise<boolean> {
  if (!account.owner_partner_id) return false;
  if (account.owner_partner_id === partnerId) return true;
  return Boolean(
    await db<DistributorResellerRow>('distributor_resellers')
      .where({ distributor_id: partnerId, reseller_id: account.owner_partner_id })
      .first('reseller_id'),
  );
}

/** The caller's live roles on a Smart Account (a partner's or a user's; an operator holds every right). */
async function callerRoles(db: Db, principal: Principal, accountId: string): Promise<HeldRole[]> {
  return rolesOn(db, granteeOf(principal), accountId);
}

function callerName(principal: Exclude<Principal, { role: 'operator' }>): string {
  return principal.role === 'user' ? `user ${principal.userId}` : `partner "${principal.partnerId}"`;
}

/** A holding account is its partner's: a user key never owns or distributes one. */
async function holdingAccountIsCallers(db: Db, principal: Exclude<Principal, { role: 'operator' }>, account: AccountRow): Promise<boolean> {
  return principal.role !== 'user' && ownsOrDistributes(db, principal.partnerId, account);
}

export async function authorizeVirtualAccountRead(db: Db, principal: Principal, account: AccountRow): Promise<void> {
  if (principal.role === 'operator') return;
  const allowed =
    account.kind === 'holding_account'
      ? await holdingAccountIsCallers(db, principal, account)
      : seesAccount(await callerRoles(db, principal, account.id));
  if (!allowed) {
    throw forbidden(
      account.kind === 'holding_account'
        ? `holding account ${account.id} belongs to another partner`
        : `${callerName(principal)} has no role on Smart Account ${account.id}; the customer must grant it one`,
    );
  }
}

/** Creating inside a Smart Account needs sa_admin, or va_admin on a virtual account the new path lies under. */
export async function authorizeVirtualAccountCreate(db: Db, principal: Principal, account: AccountRow, path: string): Promise<void> {
  if (principal.role === 'operator') return;
  if (account.kind === 'holding_account') {
    if (!(await holdingAccountIsCallers(db, principal, account)))
      throw forbidden(`holding account ${account.id} belongs to another partner`);
    return;
  }
  const roles = await callerRoles(db, principal, account.id);
  const allowed = roles.some((r) => r.role === 'sa_admin' || (r.role === 'va_admin' && r.path !== null && path.startsWith(`${r.path}/`)));
  if (!allowed) {
    throw forbidden(
      `${callerName(principal)} may not create virtual accounts in Smart Account ${account.id}: ` +
        'that needs the sa_admin role, or va_admin on a parent of the new path',
    );
  }
}

/** R9/R10: the members of a holding account are its partner's (and its distributor's) business. */
export async function authorizeHoldingAccount(db: Db, principal: Principal, account: AccountRow): Promise<void> {
  assertAccountKind(account, 'holding_account');
  if (principal.role === 'operator') return;
  if (!(await holdingAccountIsCallers(db, principal, account))) throw forbidden(`holding account ${account.id} belongs to another partner`);
}

/** Who did it, as the event log and role_grants.granted_by name a caller. */
export function actorOf(principal: Principal): string {
  if (principal.role === 'operator') return 'operator';
  return principal.role === 'user' ? `user:${principal.userId}` : `partner:${principal.partnerId}`;
}

/**
 * R24: the customer's admins grant and revoke roles themselves. The caller's own roles decide:
 * `manage` on the scope of the role (sa_admin for sa_* roles, va_admin at or above the VA for
 * va_* roles); an operator records grants for the customer.
 */
export function grantAuthorizer(principal: Principal, accountId: string, verb: 'grant' | 'revoke') {
  return async (role: RoleName, path: string | null, q: Db): Promise<void> => {
    if (principal.role === 'operator') return;
    if (mayManageGrant(await callerRoles(q, principal, accountId), role, path)) return;
    throw forbidden(
      `${callerName(principal)} may not ${verb} ${role}${path ? ` on ${path}` : ''} in Smart Account ${accountId}: ` +
        (path ? 'that needs sa_admin, or va_admin on that virtual account or a parent of it' : 'that needs the sa_admin role'),
    );
  };
}
