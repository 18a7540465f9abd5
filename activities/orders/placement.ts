import type { Knex } from 'knex';
import type { Db } from '../../src/db/knex';
import { emailDomain } from '../../src/orders/order';
import { asRefusal, refuse } from '../shared/errors';
import { checkRole, checkTarget, partnersOfOrder } from '../../src/accounts/placement-rules';
import { writeListStatus, type ListStatus, type StatusProjection } from './records';
import type { OrderLineRow, OrderRow, UserRow } from '../../src/db/rows';

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
  status?: StatusProjection;
}

export interface PlacementResult {
  accountId: string;
  accountName: string;
  accountDomain: string | null;
  virtualAccountPath?: string;
  /** Lines that moved (deposited, held or transferred) now. */
  lineNumbers: number[];
}

export function createPlacementActivities(db: Db) {
  return {
    /** An assignment was refused: the order now waits for a valid one (the list shows it). */
    async recordAssignmentRefused(request: {
      orderId: string;
      reason: string;
      idempotencyKey: string;
      listStatus: ListStatus;
      status?: StatusProjection;
    }): Promise<void> {
      await db.transaction(async (trx) => {
        await writeListStatus(trx, request.orderId, request.listStatus, {
          projection: request.status,
          event: {
            type: 'assignment_refused',
            idempotencyKey: request.idempotencyKey,
            details: { reason: request.reason },
          },
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
      return asRefusal(() => db.transaction((trx) => placeLinesIn(trx, request)));
    },
  };
}

/** placeLines in its transaction: the order locked, the actor authorised, the lines moved. */
async function placeLinesIn(trx: Knex.Transaction, request: PlacementRequest): Promise<PlacementResult> {
  const order = await trx<OrderRow>('orders').where({ id: request.orderId }).forUpdate().first();
  if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
  const { account, virtualAccountId } = await checkTarget(trx, request.target);
  await authorizePlacement(trx, order, account, request);

  const toCustomer = account.kind === 'smart_account';
  const lines = await trx<OrderLineRow>('order_lines')
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
      [account.id, virtualAccountId, toCustomer ? 'deposited' : 'held', lines.map((l) => String(l.id))],
    );
    await trx<OrderLineRow>('order_lines')
      .whereIn(
        'id',
        lines.filter((l) => l.state !== 'shipped').map((l) => l.id),
      )
      .update({ state: toCustomer ? 'deposited' : 'held' });
  }
  await writeListStatus(trx, request.orderId, request.listStatus, {
    extra: toCustomer
      ? { account_id: account.id, virtual_account_id: virtualAccountId, customer_domain: account.domain }
      : { holding_account_id: account.id },
    projection: request.status,
    event: {
      type: toCustomer ? (wasHeld ? 'transferred_to_customer_account' : 'deposited') : 'held_in_holding_account',
      idempotencyKey: request.idempotencyKey,
      details: {
        accountId: account.id,
        virtualAccountPath: request.target.virtualAccountPath ?? null,
        lines: lines.map((l) => l.line_number),
        actor: request.actor,
      },
    },
  });
  return {
    accountId: account.id,
    accountName: account.name,
    accountDomain: account.domain,
    ...(request.target.virtualAccountPath ? { virtualAccountPath: request.target.virtualAccountPath } : {}),
    lineNumbers: lines.map((l) => l.line_number),
  };
}

type PlacementTarget = Awaited<ReturnType<typeof checkTarget>>['account'];

/** R10/R11: the partner acts on the order and may use the account; a customer, only their domain's. */
async function authorizePlacement(
  trx: Knex.Transaction,
  order: OrderRow,
  account: PlacementTarget,
  request: PlacementRequest,
): Promise<void> {
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
      const owners = new Set<string | null>([order.partner_id, order.booked_by_partner_id]);
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
      ? await trx<UserRow>('users').where({ id: order.end_customer_contact_id }).first('email')
      : undefined;
    if (account.kind !== 'smart_account' || !contact || emailDomain(contact.email) !== account.domain) {
      throw refuse('DomainMismatch', `Smart Account "${account.id}" is not of the customer contact's domain`, {
        accountId: account.id,
      });
    }
  }
}
