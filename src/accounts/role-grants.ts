import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { ID_PATTERN, VIRTUAL_ACCOUNT_PATH_PATTERN, type FieldError } from '../orders/order';
import { assertAccountKind, assertNotClosed, check, ID_REASON, PATH_REASON, requireAccount } from './account-records';
import { PlacementRefusal } from './placement-rules';
import { recordLicenseEvent } from '../licensing/events';
import { allows, ROLE_NAMES, rolesOn, type Grantee, type HeldRole, type RoleName } from './roles';

/**
 * Role grants on a Smart Account (R11, R24): to a partner or to one of the customer's users (by
 * registered user ID). Who may grant is decided by the grantor's own roles (`manage` on the
 * scope of the role granted); an operator records grants for the customer. Idempotent: the same
 * live grant twice is one row.
 */

const VIRTUAL_ACCOUNT_ROLES: readonly RoleName[] = ['va_admin', 'va_user', 'va_viewer'];

export interface RoleGrantView {
  grantId: string;
  /** Exactly one of partnerId and userId: the partner, or the user's registered ID. */
  partnerId?: string;
  userId?: string;
  role: RoleName;
  virtualAccountPath: string | null;
  grantedAt: string;
}

export interface GrantRequest {
  partnerId?: string;
  userId?: string;
  role: RoleName;
  virtualAccountPath?: string;
}

interface GrantRow {
  id: string | number;
  partner_id: string | null;
  registered_id: string | null;
  role: RoleName;
  path: string | null;
  virtual_account_id: string | number | null;
  created_at: Date;
}

function grantQuery(q: Knex, accountId: string): Knex.QueryBuilder {
  return q('role_grants as g')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .leftJoin('users as u', 'u.id', 'g.user_id')
    .where('g.account_id', accountId)
    .whereNull('g.revoked_at')
    .select('g.id', 'g.partner_id', 'u.registered_id', 'g.role', 'va.path', 'g.virtual_account_id', 'g.created_at');
}

function grantView(row: GrantRow): RoleGrantView {
  return {
    grantId: String(row.id),
    ...(row.partner_id !== null ? { partnerId: row.partner_id } : { userId: row.registered_id ?? '' }),
    role: row.role,
    virtualAccountPath: row.path,
    grantedAt: new Date(row.created_at).toISOString(),
  };
}

/** The scope a role covers: null for the whole account (sa_*), else its virtual account path. */
function scopeOf(role: RoleName, path: string | null | undefined): string | null {
  return VIRTUAL_ACCOUNT_ROLES.includes(role) ? (path ?? null) : null;
}

/** True when the caller's roles manage the scope of this role (sa_admin anywhere; va_admin at or above the VA). */
export function mayManageGrant(roles: readonly HeldRole[], role: RoleName, path: string | null): boolean {
  return allows(roles, 'manage', scopeOf(role, path));
}

/**
 * The live grants the caller may see: an operator all; anyone else those on scopes they may
 * view (an SA-level role sees every grant) and their own.
 */
export async function listRoleGrants(db: Db, accountId: string, viewer: Grantee): Promise<RoleGrantView[]> {
  assertAccountKind(await requireAccount(db, accountId), 'smart_account');
  const rows = (await grantQuery(db, accountId).select('g.user_id').orderBy('g.id')) as Array<GrantRow & { user_id?: string }>;
  if (viewer.kind === 'operator') return rows.map(grantView);
  const roles = await rolesOn(db, viewer, accountId);
  const own = (r: GrantRow & { user_id?: string }) =>
    viewer.kind === 'partner' ? r.partner_id === viewer.partnerId : String(r.user_id) === viewer.userId;
  return rows.filter((r) => own(r) || allows(roles, 'view', scopeOf(r.role, r.path))).map(grantView);
}

function validateGrant(grant: GrantRequest): void {
  const errors: FieldError[] = [];
  if ((grant.partnerId === undefined) === (grant.userId === undefined)) {
    errors.push({ field: 'partnerId', reason: 'give exactly one of partnerId (a partner) and userId (a registered user ID)' });
  }
  if (grant.partnerId !== undefined && !ID_PATTERN.test(grant.partnerId)) errors.push({ field: 'partnerId', reason: ID_REASON });
  if (grant.userId !== undefined && !ID_PATTERN.test(grant.userId)) errors.push({ field: 'userId', reason: ID_REASON });
  if (!ROLE_NAMES.includes(grant.role)) errors.push({ field: 'role', reason: `must be one of ${ROLE_NAMES.join(', ')}` });
  const path = grant.virtualAccountPath;
  if (VIRTUAL_ACCOUNT_ROLES.includes(grant.role)) {
    if (path === undefined) errors.push({ field: 'virtualAccountPath', reason: `is required for a ${grant.role} role` });
    else if (!VIRTUAL_ACCOUNT_PATH_PATTERN.test(path)) errors.push({ field: 'virtualAccountPath', reason: PATH_REASON });
  } else if (ROLE_NAMES.includes(grant.role) && path !== undefined) {
    errors.push({ field: 'virtualAccountPath', reason: `must be absent for an ${grant.role} role: it covers the whole Smart Account` });
  }
  check(errors);
}

/** The grantee's row: the partner, or the user with that registered ID; a refusal (422) when unknown. */
async function granteeColumns(q: Knex, grant: GrantRequest): Promise<{ partner_id: string | null; user_id: string | null }> {
  if (grant.partnerId !== undefined) {
    if (!(await q('partners').where({ id: grant.partnerId }).first<{ id: string } | undefined>('id'))) {
      throw new PlacementRefusal('UnknownPartner', `partner "${grant.partnerId}" does not exist`, { partnerId: grant.partnerId });
    }
    return { partner_id: grant.partnerId, user_id: null };
  }
  const user = await q('users')
    .whereRaw('lower(registered_id) = lower(?)', [grant.userId ?? ''])
    .first<{ id: string | number } | undefined>('id');
  if (!user) throw new PlacementRefusal('UnknownUser', `no user has the registered user ID "${grant.userId}"`, { userId: grant.userId });
  return { partner_id: null, user_id: String(user.id) };
}

/**
 * Records a grant. `authorize` is called with the role and scope inside the transaction, before
 * anything is written (it throws to refuse), and reads through the transaction (`q`): a second
 * connection per grant would let concurrent grants hold the whole pool, each waiting for one more.
 * `created` is false when the same live grant existed.
 */
export async function grantRole(
  db: Db,
  accountId: string,
  grant: GrantRequest,
  grantedBy: string,
  authorize: (role: RoleName, path: string | null, q: Knex) => Promise<void> = () => Promise.resolve(),
): Promise<{ grant: RoleGrantView; created: boolean }> {
  validateGrant(grant);
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, accountId);
    assertAccountKind(account, 'smart_account');
    assertNotClosed(account);
    await authorize(grant.role, scopeOf(grant.role, grant.virtualAccountPath), trx);
    const grantee = await granteeColumns(trx, grant);
    let virtualAccountId: string | null = null;
    if (grant.virtualAccountPath !== undefined) {
      const va = await trx('virtual_accounts')
        .where({ account_id: accountId, path: grant.virtualAccountPath })
        .first<{ id: string | number } | undefined>('id');
      if (!va) {
        throw new PlacementRefusal('UnknownVirtualAccount', `account "${accountId}" has no virtual account "${grant.virtualAccountPath}"`, {
          accountId,
          virtualAccountPath: grant.virtualAccountPath,
        });
      }
      virtualAccountId = String(va.id);
    }
    // The partial unique index on live grants makes a repeated grant a no-op, even when concurrent.
    const inserted: { rows: unknown[] } = await trx.raw(
      `INSERT INTO role_grants (account_id, virtual_account_id, partner_id, user_id, role, granted_by) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (account_id, virtual_account_id, partner_id, user_id, role) WHERE revoked_at IS NULL DO NOTHING
       RETURNING id`,
      [accountId, virtualAccountId, grantee.partner_id, grantee.user_id, grant.role, grantedBy],
    );
    let query = grantQuery(trx, accountId).where({ 'g.role': grant.role });
    query = grantee.partner_id !== null ? query.where('g.partner_id', grantee.partner_id) : query.where('g.user_id', grantee.user_id);
    query = virtualAccountId === null ? query.whereNull('g.virtual_account_id') : query.where('g.virtual_account_id', virtualAccountId);
    const row = (await query.first()) as GrantRow;
    const created = inserted.rows.length > 0;
    if (created) await recordGrantEvent(trx, accountId, 'role_granted', grantView(row), virtualAccountId, grantedBy);
    return { grant: grantView(row), created };
  });
}

/**
 * Revokes a grant of this account: 'revoked', 'already-revoked' (nothing changes), or 'unknown'.
 * `authorize` sees the grant's role and scope before anything changes. The last user's sa_admin
 * grant is refused (LastAccountAdmin): nobody of the customer could then manage its people.
 */
export async function revokeRole(
  db: Db,
  accountId: string,
  grantId: string,
  authorize: (role: RoleName, path: string | null, q: Knex) => Promise<void> = () => Promise.resolve(),
  revokedBy = 'system',
): Promise<'revoked' | 'already-revoked' | 'unknown'> {
  check(/^[1-9][0-9]{0,17}$/.test(grantId) ? [] : [{ field: 'grantId', reason: 'must be a grant ID (a whole number)' }]);
  return db.transaction(async (trx) => {
    assertAccountKind(await requireAccount(trx, accountId), 'smart_account');
    // Locked (no key update: inserts that reference the account go on): two admins revoking each
    // other at once must not both find the other still there.
    await trx('accounts').where({ id: accountId }).forNoKeyUpdate().first('id');
    const grant = await trx('role_grants as g')
      .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
      .where({ 'g.id': grantId, 'g.account_id': accountId })
      .first<{ role: RoleName; path: string | null; user_id: string | null; revoked_at: Date | null } | undefined>(
        'g.role',
        'va.path',
        'g.user_id',
        'g.revoked_at',
      );
    if (!grant) return 'unknown';
    await authorize(grant.role, scopeOf(grant.role, grant.path), trx);
    if (grant.revoked_at !== null) return 'already-revoked';
    if (grant.role === 'sa_admin' && grant.user_id !== null) await refuseLastAdmin(trx, accountId, grantId);
    const live = (await grantQuery(trx, accountId).where('g.id', grantId).first()) as GrantRow;
    await trx('role_grants').where({ id: grantId, account_id: accountId }).update({ revoked_at: trx.fn.now() });
    await recordGrantEvent(trx, accountId, 'role_revoked', grantView(live), live.virtual_account_id, revokedBy);
    return 'revoked';
  });
}

/** Refuses revoking `grantId` when it is the account's only live sa_admin grant of a user. */
async function refuseLastAdmin(q: Knex, accountId: string, grantId: string): Promise<void> {
  const others = await q('role_grants')
    .where({ account_id: accountId, role: 'sa_admin' })
    .whereNotNull('user_id')
    .whereNull('revoked_at')
    .whereNot({ id: grantId })
    .first<{ id: string } | undefined>('id');
  if (others) return;
  throw new PlacementRefusal(
    'LastAccountAdmin',
    `this is the last Smart Account admin of account "${accountId}": grant sa_admin to another user first, then revoke this one`,
    { accountId, grantId },
  );
}

/** R23: a grant or a revocation in the account's event log, under the grant's virtual account. */
async function recordGrantEvent(
  q: Knex,
  accountId: string,
  type: 'role_granted' | 'role_revoked',
  grant: RoleGrantView,
  virtualAccountId: string | number | null,
  actor: string,
): Promise<void> {
  await recordLicenseEvent(q, {
    accountId,
    virtualAccountId: virtualAccountId === null ? null : String(virtualAccountId),
    type,
    subject: `grant:${grant.grantId}`,
    actor,
    details: {
      role: grant.role,
      grantee: grant.partnerId !== undefined ? `partner:${grant.partnerId}` : `user:${grant.userId}`,
      virtualAccountPath: grant.virtualAccountPath,
    },
  });
}
