import type { Knex } from 'knex';
import type { RefusalType } from '../common/refusals';
import { preparedStatement } from '../db/prepared';
import type { DistributorResellerRow, VirtualAccountRow } from '../db/rows';

/**
 * Who may place an order's licenses where (R2, R4, R6, R10, R11). The placement activity runs
 * these inside its transaction, and the API runs the same checks before it sends an Update, so a
 * caller gets the same answer either way and a refused assignment never reaches the workflow.
 */

export class PlacementRefusal extends Error {
  constructor(
    readonly type: RefusalType,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'PlacementRefusal';
  }
}

export interface AccountRow {
  id: string;
  kind: 'smart_account' | 'holding_account';
  name: string;
  domain: string | null;
  status: string;
  owner_partner_id: string | null;
}

const CUSTOMER_ROLES = ['sa_admin', 'sa_user'];
const VIRTUAL_ACCOUNT_ROLES = ['va_admin', 'va_user'];

type PlacementTarget = { kind: 'smart_account' | 'holding_account'; accountId: string; virtualAccountPath?: string };

/** Loads the target and refuses, with the reason, any account that cannot receive these licenses. */
export async function checkTarget(q: Knex, target: PlacementTarget) {
  const account: AccountRow | undefined = await q<AccountRow>('accounts').where({ id: target.accountId }).forShare().first();
  judgeAccount(target, account);
  let virtualAccountId: number | null = null;
  if (target.virtualAccountPath) {
    const va = await q<VirtualAccountRow>('virtual_accounts')
      .where({ account_id: account.id, path: target.virtualAccountPath })
      .first('id');
    virtualAccountId = judgeVirtualAccount(target, account, va ? Number(va.id) : null);
  }
  return { account, virtualAccountId };
}

/** checkTarget's judgement of an account and virtual account read by the caller (in a statement of its own). */
export function judgeTarget(target: PlacementTarget, found: AccountRow | null, virtualAccountId: number | null) {
  const account = found ?? undefined;
  judgeAccount(target, account);
  return { account, virtualAccountId: target.virtualAccountPath ? judgeVirtualAccount(target, account, virtualAccountId) : null };
}

/** checkTarget's refusals of the account itself, in its order. */
function judgeAccount(target: PlacementTarget, account: AccountRow | undefined): asserts account is AccountRow {
  if (!account)
    throw new PlacementRefusal('UnknownAccount', `account "${target.accountId}" does not exist`, { accountId: target.accountId });
  if (target.kind === 'smart_account' && account.kind !== 'smart_account') {
    throw new PlacementRefusal(
      'NotAConsumptionTarget',
      `account "${account.id}" is a Partner Holding Account: licenses there can be neither consumed nor activated; assign the customer's Smart Account`,
      { accountId: account.id },
    );
  }
  if (target.kind === 'holding_account' && account.kind !== 'holding_account') {
    throw new PlacementRefusal('NotAHoldingAccount', `account "${account.id}" is a customer Smart Account, not a Partner Holding Account`, {
      accountId: account.id,
    });
  }
  if (account.status !== 'active') {
    throw new PlacementRefusal('AccountNotActive', `account "${account.id}" is ${account.status.replace('_', ' ')}, not active`, {
      accountId: account.id,
      status: account.status,
    });
  }
}

/** checkTarget's refusal of a virtual account path the account does not have. */
function judgeVirtualAccount(target: PlacementTarget, account: AccountRow, virtualAccountId: number | null): number {
  if (virtualAccountId === null) {
    throw new PlacementRefusal('UnknownVirtualAccount', `account "${account.id}" has no virtual account "${target.virtualAccountPath}"`, {
      accountId: account.id,
      virtualAccountPath: target.virtualAccountPath,
    });
  }
  return virtualAccountId;
}

/**
 * checkTarget and then, for a Smart Account, checkRole for `partnerId`, with the same refusals in
 * the same order, from one statement without locks: for the API's checks before it books or
 * sends an Update (the placement activity judges again, locked, inside its transaction).
 */
export async function precheckPlacement(db: Knex, target: PlacementTarget, partnerId: string): Promise<AccountRow> {
  // Prepared: the booking's one statement (issue 16); Postgres planned its subqueries on every booking.
  const { rows } = await preparedStatement<AccountRow & { va_id: string | null; grants: RoleGrantPath[] }>(
    db,
    `SELECT a.id, a.kind, a.name, a.domain, a.status, a.owner_partner_id,
            (SELECT va.id FROM virtual_accounts va WHERE va.account_id = a.id AND va.path = ?) AS va_id,
            (SELECT COALESCE(json_agg(json_build_object('role', g.role, 'path', v.path)), '[]')
               FROM role_grants g LEFT JOIN virtual_accounts v ON v.id = g.virtual_account_id
              WHERE g.account_id = a.id AND g.partner_id = ? AND g.revoked_at IS NULL) AS grants
       FROM accounts a WHERE a.id = ?`,
    [target.virtualAccountPath ?? null, partnerId, target.accountId],
  );
  const [found] = rows;
  judgeAccount(target, found);
  if (target.virtualAccountPath) judgeVirtualAccount(target, found, found.va_id === null ? null : Number(found.va_id));
  if (found.kind === 'smart_account') judgeRole(partnerId, found, target.virtualAccountPath, found.grants);
  return found;
}

/** The partners entitled to act on an order: its partner, who booked it, and that partner's distributors (R10). */
export async function partnersOfOrder(q: Knex, order: { partner_id: string; booked_by_partner_id: string }): Promise<Set<string>> {
  const distributors: string[] = await q<DistributorResellerRow>('distributor_resellers')
    .where({ reseller_id: order.partner_id })
    .pluck('distributor_id');
  return new Set([order.partner_id, order.booked_by_partner_id, ...distributors]);
}

/** A partner's live role on a Smart Account, with the virtual account it is limited to (null: the whole account). */
export interface RoleGrantPath {
  role: string;
  path: string | null;
}

/** R11: a role on the whole Smart Account, or on the target virtual account or one of its parents. */
export async function checkRole(q: Knex, partnerId: string, account: AccountRow, virtualAccountPath: string | undefined) {
  const grants: RoleGrantPath[] = await q('role_grants as g')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .where({ 'g.account_id': account.id, 'g.partner_id': partnerId })
    .whereNull('g.revoked_at')
    .select('g.role', 'va.path');
  judgeRole(partnerId, account, virtualAccountPath, grants);
}

/** checkRole's judgement of the grants read by the caller. */
export function judgeRole(partnerId: string, account: AccountRow, virtualAccountPath: string | undefined, grants: RoleGrantPath[]): void {
  const allowed = grants.some(
    (g) =>
      CUSTOMER_ROLES.includes(g.role) ||
      (VIRTUAL_ACCOUNT_ROLES.includes(g.role) &&
        virtualAccountPath !== undefined &&
        (virtualAccountPath === g.path || virtualAccountPath.startsWith(`${g.path}/`))),
  );
  if (!allowed) {
    const vaOnly = grants.filter((g) => g.path).map((g) => g.path);
    throw new PlacementRefusal(
      'NotAuthorized',
      `partner "${partnerId}" has no role on Smart Account "${account.id}"` +
        (vaOnly.length ? ` for this target (its roles cover virtual accounts ${vaOnly.join(', ')} only)` : '') +
        '; the customer must grant it a Smart Account or virtual account role',
      { partnerId, accountId: account.id },
    );
  }
}
