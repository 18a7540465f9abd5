import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { ID_PATTERN, VIRTUAL_ACCOUNT_PATH_PATTERN, type FieldError } from '../orders/order';
import { PlacementRefusal } from './placement-rules';
import type { PartnerRow, RoleGrantRow, VirtualAccountRow } from '../db/rows';
import { assertAccountKind, assertNotClosed, check, ID_REASON, PATH_REASON, requireAccount } from './account-records';

/** Role grants (R11): partner roles on a Smart Account or one of its virtual accounts. */

export const ROLES = ['sa_admin', 'sa_user', 'va_admin', 'va_user'] as const;
export type Role = (typeof ROLES)[number];
const VIRTUAL_ACCOUNT_ROLES: readonly string[] = ['va_admin', 'va_user'];

export interface RoleGrantView {
  grantId: string;
  partnerId: string;
  role: Role;
  virtualAccountPath: string | null;
  grantedAt: string;
}

/** A live role grant as grantQuery selects it. */
interface GrantRow {
  id: string | number;
  partner_id: string;
  role: Role;
  path: string | null;
  created_at: Date;
}

function grantQuery(q: Knex, accountId: string) {
  return q('role_grants as g')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .where('g.account_id', accountId)
    .whereNull('g.revoked_at')
    .select<GrantRow[]>('g.id', 'g.partner_id', 'g.role', 'va.path', 'g.created_at');
}

function grantView(row: { id: string | number; partner_id: string; role: Role; path: string | null; created_at: Date }): RoleGrantView {
  return {
    grantId: String(row.id),
    partnerId: row.partner_id,
    role: row.role,
    virtualAccountPath: row.path,
    grantedAt: new Date(row.created_at).toISOString(),
  };
}

/** The live role grants on a Smart Account, all of them or one partner's. */
export async function listRoleGrants(db: Db, accountId: string, filter: { partnerId?: string } = {}): Promise<RoleGrantView[]> {
  assertAccountKind(await requireAccount(db, accountId), 'smart_account');
  let query = grantQuery(db, accountId);
  if (filter.partnerId !== undefined) query = query.where('g.partner_id', filter.partnerId);
  const rows = await query.orderBy('g.id');
  return rows.map(grantView);
}

/**
 * The customer grants a partner a role (operators record it for them). sa_* roles cover the whole
 * Smart Account and take no virtual account; va_* roles need one. `created` is false when the same
 * live grant existed: it is returned unchanged.
 */
export async function grantRole(
  db: Db,
  accountId: string,
  grant: { partnerId: string; role: Role; virtualAccountPath?: string },
): Promise<{ grant: RoleGrantView; created: boolean }> {
  const errors: FieldError[] = [];
  if (typeof grant.partnerId !== 'string' || !ID_PATTERN.test(grant.partnerId)) errors.push({ field: 'partnerId', reason: ID_REASON });
  if (!ROLES.includes(grant.role)) errors.push({ field: 'role', reason: `must be one of ${ROLES.join(', ')}` });
  const path = grant.virtualAccountPath;
  if (VIRTUAL_ACCOUNT_ROLES.includes(grant.role)) {
    if (path === undefined) errors.push({ field: 'virtualAccountPath', reason: `is required for a ${grant.role} role` });
    else if (typeof path !== 'string' || !VIRTUAL_ACCOUNT_PATH_PATTERN.test(path))
      errors.push({ field: 'virtualAccountPath', reason: PATH_REASON });
  } else if (ROLES.includes(grant.role) && path !== undefined) {
    errors.push({ field: 'virtualAccountPath', reason: `must be absent for an ${grant.role} role: it covers the whole Smart Account` });
  }
  check(errors);
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, accountId);
    assertAccountKind(account, 'smart_account');
    assertNotClosed(account);
    if (!(await trx<PartnerRow>('partners').where({ id: grant.partnerId }).first('id'))) {
      throw new PlacementRefusal('UnknownPartner', `partner "${grant.partnerId}" does not exist`, { partnerId: grant.partnerId });
    }
    let virtualAccountId: number | null = null;
    if (path !== undefined) {
      const va = await trx<VirtualAccountRow>('virtual_accounts').where({ account_id: accountId, path }).first('id');
      if (!va) {
        throw new PlacementRefusal('UnknownVirtualAccount', `account "${accountId}" has no virtual account "${path}"`, {
          accountId,
          virtualAccountPath: path,
        });
      }
      virtualAccountId = Number(va.id);
    }
    // The partial unique index on live grants makes a repeated grant a no-op, even when concurrent.
    const inserted = await trx.raw<{ rows: { id: string }[] }>(
      `INSERT INTO role_grants (account_id, virtual_account_id, partner_id, role) VALUES (?, ?, ?, ?)
       ON CONFLICT (account_id, virtual_account_id, partner_id, user_id, role) WHERE revoked_at IS NULL DO NOTHING
       RETURNING id`,
      [accountId, virtualAccountId, grant.partnerId, grant.role],
    );
    const row = await grantQuery(trx, accountId)
      .where({ 'g.partner_id': grant.partnerId, 'g.role': grant.role })
      .where((w) => {
        if (virtualAccountId === null) w.whereNull('g.virtual_account_id');
        else w.where('g.virtual_account_id', virtualAccountId);
      })
      .first();
    return { grant: grantView(row!), created: inserted.rows.length > 0 };
  });
}

/** Revokes a grant of this account: 'revoked', 'already-revoked' (nothing changes), or 'unknown'. */
export async function revokeRole(db: Db, accountId: string, grantId: string): Promise<'revoked' | 'already-revoked' | 'unknown'> {
  check(/^[1-9][0-9]{0,17}$/.test(grantId) ? [] : [{ field: 'grantId', reason: 'must be a grant ID (a whole number)' }]);
  assertAccountKind(await requireAccount(db, accountId), 'smart_account');
  const updated = await db<RoleGrantRow>('role_grants')
    .where({ id: grantId, account_id: accountId })
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() });
  if (updated > 0) return 'revoked';
  return (await db<RoleGrantRow>('role_grants').where({ id: grantId, account_id: accountId }).first('id')) ? 'already-revoked' : 'unknown';
}
