import type { Knex } from 'knex';
import type { Db } from '../src/db/knex';
import { emailDomain } from '../src/domain/order';
import { refuse } from './errors';
import { recordOrderEvent, writeListStatus, type ListStatus } from './records';

/** Who asks for the licenses to be placed; each is authorised differently. */
export type PlacementActor =
  /** A partner or distributor acting on the order (R10 for holding accounts, R11 for customer accounts). */
  | { kind: 'partner'; partnerId: string }
  /** The end-customer contact, through a delegation link: the account must be of their domain. */
  | { kind: 'customer' }
  /** Activation of the Smart Account requested for this order. */
  | { kind: 'requested-account' };

export interface PlacementRequest {
  orderId: string;
  target: { kind: 'smart_account' | 'holding_account'; accountId: string; virtualAccountPath?: string };
  actor: PlacementActor;
  /** Derived by the workflow from its ID and a purpose; one event per key. */
  idempotencyKey: string;
  /** The order's phase after this placement, as the workflow derives it. */
  listStatus: ListStatus;
}

export interface PlacementResult {
  accountId: string;
  accountName: string;
  accountDomain: string | null;
  virtualAccountPath?: string;
  /** Lines that moved (deposited, held or transferred) now. */
  lineNumbers: number[];
}

interface AccountRow {
  id: string;
  kind: 'smart_account' | 'holding_account';
  name: string;
  domain: string | null;
  status: string;
  owner_partner_id: string | null;
}

const CUSTOMER_ROLES = ['sa_admin', 'sa_user'];
const VIRTUAL_ACCOUNT_ROLES = ['va_admin', 'va_user'];

/** Loads the target and refuses, with the reason, any account that cannot receive these licenses. */
async function checkTarget(trx: Knex.Transaction, target: PlacementRequest['target']) {
  const account: AccountRow | undefined = await trx('accounts').where({ id: target.accountId }).forShare().first();
  if (!account) throw refuse('UnknownAccount', `account "${target.accountId}" does not exist`, { accountId: target.accountId });
  if (target.kind === 'smart_account' && account.kind !== 'smart_account') {
    throw refuse(
      'NotAConsumptionTarget',
      `account "${account.id}" is a Partner Holding Account: licenses there can be neither consumed nor activated; assign the customer's Smart Account`,
      { accountId: account.id },
    );
  }
  if (target.kind === 'holding_account' && account.kind !== 'holding_account') {
    throw refuse('NotAHoldingAccount', `account "${account.id}" is a customer Smart Account, not a Partner Holding Account`, {
      accountId: account.id,
    });
  }
  if (account.status !== 'active') {
    throw refuse('AccountNotActive', `account "${account.id}" is ${account.status.replace('_', ' ')}, not active`, {
      accountId: account.id,
      status: account.status,
    });
  }
  let virtualAccountId: number | null = null;
  if (target.virtualAccountPath) {
    const va = await trx('virtual_accounts').where({ account_id: account.id, path: target.virtualAccountPath }).first('id');
    if (!va) {
      throw refuse('UnknownVirtualAccount', `account "${account.id}" has no virtual account "${target.virtualAccountPath}"`, {
        accountId: account.id,
        virtualAccountPath: target.virtualAccountPath,
      });
    }
    virtualAccountId = Number(va.id);
  }
  return { account, virtualAccountId };
}

/** The partners entitled to act on an order: its partner, who booked it, and that partner's distributors (R10). */
async function partnersOfOrder(trx: Knex.Transaction, order: { partner_id: string; booked_by_partner_id: string }): Promise<Set<string>> {
  const distributors: string[] = await trx('distributor_resellers').where({ reseller_id: order.partner_id }).pluck('distributor_id');
  return new Set([order.partner_id, order.booked_by_partner_id, ...distributors]);
}

/** R11: a role on the whole Smart Account, or on the target virtual account or one of its parents. */
async function checkRole(trx: Knex.Transaction, partnerId: string, account: AccountRow, virtualAccountPath: string | undefined) {
  const grants: Array<{ role: string; path: string | null }> = await trx('role_grants as g')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .where({ 'g.account_id': account.id, 'g.partner_id': partnerId })
    .whereNull('g.revoked_at')
    .select('g.role', 'va.path');
  const allowed = grants.some(
    (g) =>
      CUSTOMER_ROLES.includes(g.role) ||
      (VIRTUAL_ACCOUNT_ROLES.includes(g.role) &&
        virtualAccountPath !== undefined &&
        (virtualAccountPath === g.path || virtualAccountPath.startsWith(`${g.path}/`))),
  );
  if (!allowed) {
    const vaOnly = grants.filter((g) => g.path).map((g) => g.path);
    throw refuse(
      'NotAuthorized',
      `partner "${partnerId}" has no role on Smart Account "${account.id}"` +
        (vaOnly.length ? ` for this target (its roles cover virtual accounts ${vaOnly.join(', ')} only)` : '') +
        '; the customer must grant it a Smart Account or virtual account role',
      { partnerId, accountId: account.id },
    );
  }
}

export function createPlacementActivities(db: Db) {
  return {
    /** An assignment was refused: the order now waits for a valid one (the list shows it). */
    async recordAssignmentRefused(request: { orderId: string; reason: string; idempotencyKey: string; listStatus: ListStatus }): Promise<void> {
      await db.transaction(async (trx) => {
        await writeListStatus(trx, request.orderId, request.listStatus);
        await recordOrderEvent(trx, {
          orderId: request.orderId,
          type: 'assignment_refused',
          idempotencyKey: request.idempotencyKey,
          details: { reason: request.reason },
        });
      });
    },

    /**
     * Puts every live, unprovisioned line of the order into the target account in one
     * transaction: a deposit into a customer Smart Account, a hold in a Partner Holding Account
     * (R4), or a transfer from the holding account to the customer's account (R6). One
     * entitlement per line (unique order_line_id) makes a repeated placement a no-op.
     */
    async placeLines(request: PlacementRequest): Promise<PlacementResult> {
      return db.transaction(async (trx) => {
        const order = await trx('orders').where({ id: request.orderId }).forUpdate().first();
        if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
        const { account, virtualAccountId } = await checkTarget(trx, request.target);

        const actor = request.actor;
        if (actor.kind === 'partner') {
          if (!(await partnersOfOrder(trx, order)).has(actor.partnerId)) {
            throw refuse('NotAuthorized', `partner "${actor.partnerId}" may not act on order ${order.external_reference}`, {
              partnerId: actor.partnerId,
            });
          }
          if (account.kind === 'smart_account') {
            await checkRole(trx, actor.partnerId, account, request.target.virtualAccountPath);
          } else {
            // R10: a partner's own holding account; in two-tier, the distributor's or its reseller's
            // (recordBooking has checked that the order's partner is the distributor's reseller).
            const owners = new Set([order.partner_id, order.booked_by_partner_id]);
            if (!owners.has(account.owner_partner_id)) {
              throw refuse(
                'NotAuthorized',
                `holding account "${account.id}" belongs to neither the order's partner nor the distributor that booked it`,
                { accountId: account.id },
              );
            }
          }
        } else {
          const contact = order.end_customer_contact_id
            ? await trx('users').where({ id: order.end_customer_contact_id }).first('email')
            : undefined;
          if (account.kind !== 'smart_account' || !contact || emailDomain(contact.email) !== account.domain) {
            throw refuse('DomainMismatch', `Smart Account "${account.id}" is not of the customer contact's domain`, {
              accountId: account.id,
            });
          }
        }

        const toCustomer = account.kind === 'smart_account';
        const lines = await trx('order_lines')
          .where({ order_id: request.orderId })
          .whereIn('state', ['booked', 'held', 'deposited', 'shipped'])
          .orderBy('line_number');
        const wasHeld = lines.some((l) => l.state === 'held') || (order.holding_account_id && toCustomer);
        if (lines.length > 0) {
          // Insert the new entitlements; move the ones that sit elsewhere (a transfer).
          await trx.raw(
            `INSERT INTO entitlements (order_line_id, account_id, virtual_account_id, sku, quantity, status)
             SELECT l.id, ?, ?, l.sku, l.quantity, ? FROM order_lines l WHERE l.id = ANY(?)
             ON CONFLICT (order_line_id) DO UPDATE SET
               account_id = EXCLUDED.account_id, virtual_account_id = EXCLUDED.virtual_account_id,
               status = EXCLUDED.status, updated_at = now()
             WHERE entitlements.status IN ('held', 'deposited')`,
            [account.id, virtualAccountId, toCustomer ? 'deposited' : 'held', lines.map((l) => l.id)],
          );
          await trx('order_lines')
            .whereIn('id', lines.filter((l) => l.state !== 'shipped').map((l) => l.id))
            .update({ state: toCustomer ? 'deposited' : 'held' });
        }
        await writeListStatus(
          trx,
          request.orderId,
          request.listStatus,
          toCustomer
            ? { account_id: account.id, virtual_account_id: virtualAccountId, customer_domain: account.domain }
            : { holding_account_id: account.id },
        );
        await recordOrderEvent(trx, {
          orderId: request.orderId,
          type: toCustomer ? (wasHeld ? 'transferred_to_customer_account' : 'deposited') : 'held_in_holding_account',
          idempotencyKey: request.idempotencyKey,
          details: {
            accountId: account.id,
            virtualAccountPath: request.target.virtualAccountPath ?? null,
            lines: lines.map((l) => l.line_number),
            actor: request.actor,
          },
        });
        return {
          accountId: account.id,
          accountName: account.name,
          accountDomain: account.domain,
          ...(request.target.virtualAccountPath ? { virtualAccountPath: request.target.virtualAccountPath } : {}),
          lineNumbers: lines.map((l) => l.line_number),
        };
      });
    },
  };
}
