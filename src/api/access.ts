import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { partnersOfOrder } from '../accounts/placement-rules';
import type { Db } from '../db/knex';
import { orderStatusQuery, orderWorkflowId } from '../orders/workflow-api';
import type { Principal } from './auth';
import { QUERY_DEADLINE_MS, withinDeadline } from './deadline';
import { badRequest, forbidden, notFound } from './errors';
import type { DistributorResellerRow, OrderRow } from '../db/rows';

/**
 * Who may see and act on what (R10, R11). An operator sees everything; a partner its own orders
 * (sold or booked by it); a distributor the orders it booked and those of its resellers. The
 * same rule as the placement activity's (`partnersOfOrder`), so the API and the workflow agree.
 */

export interface OrderParties {
  orderId: string;
  workflowId: string;
  partnerId: string;
  bookedByPartnerId: string;
}

/**
 * The order's parties, from Postgres, or from the workflow itself in the moment between the
 * booking and its first activity (when the row does not exist yet). 404 when neither knows it.
 */
export async function loadOrderParties(db: Db, client: Client, orderId: string): Promise<OrderParties> {
  const row = await db<OrderRow>('orders').where({ id: orderId }).first('id', 'workflow_id', 'partner_id', 'booked_by_partner_id');
  if (row) return { orderId, workflowId: row.workflow_id, partnerId: row.partner_id, bookedByPartnerId: row.booked_by_partner_id };
  const workflowId = orderWorkflowId(orderId);
  try {
    const status = await withinDeadline(client, QUERY_DEADLINE_MS, () => client.workflow.getHandle(workflowId).query(orderStatusQuery));
    return { orderId, workflowId, partnerId: status.partnerId, bookedByPartnerId: status.bookedByPartnerId };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound(`order ${orderId}`);
    throw err;
  }
}

export async function mayActOnOrder(db: Db, principal: Principal, parties: OrderParties): Promise<boolean> {
  if (principal.role === 'operator') return true;
  if (principal.role === 'user') return false;
  // The order's own partner or its booker needs no lookup; only a distributor's reach does.
  if (principal.partnerId === parties.partnerId || principal.partnerId === parties.bookedByPartnerId) return true;
  const entitled = await partnersOfOrder(db, { partner_id: parties.partnerId, booked_by_partner_id: parties.bookedByPartnerId });
  return entitled.has(principal.partnerId);
}

/** Loads an order the principal may act on; 404 if unknown, 403 if it is someone else's. */
export async function authorizedOrder(db: Db, client: Client, principal: Principal, orderId: string): Promise<OrderParties> {
  const parties = await loadOrderParties(db, client, orderId);
  if (!(await mayActOnOrder(db, principal, parties))) {
    throw forbidden(`this API key may not act on order ${orderId}: it belongs to another partner`);
  }
  return parties;
}

/** Restricts an `orders` query to what the principal may see. */
export function scopeOrders(query: Knex.QueryBuilder, db: Db, principal: Principal): Knex.QueryBuilder {
  if (principal.role === 'operator') return query;
  if (principal.role === 'user') return query.whereRaw('false');
  const partnerId = principal.partnerId;
  return query.where((q) => {
    q.where('orders.partner_id', partnerId)
      .orWhere('orders.booked_by_partner_id', partnerId)
      .orWhereIn(
        'orders.partner_id',
        db<DistributorResellerRow>('distributor_resellers').where({ distributor_id: partnerId }).select('reseller_id'),
      );
  });
}

export const USER_KEY_NOT_A_PARTNER = "a user's API key acts on the user's Smart Accounts only: orders are a partner's or an operator's";

/** The partner a partner or distributor key acts for; a user key is refused (403): it is no partner. */
export function partnerOf(principal: Exclude<Principal, { role: 'operator' }>): string {
  if (principal.role === 'user') throw forbidden(USER_KEY_NOT_A_PARTNER);
  return principal.partnerId;
}

/** Operators only: anything that acts for a customer or for the platform itself. */
export function requireOperator(principal: Principal, what: string): void {
  if (principal.role !== 'operator') throw forbidden(`only an operator key may ${what}`);
}

/** The partner a request acts for: the key's own, or for an operator the one it names. */
export function actingPartner(principal: Principal, named: string | undefined, field: string, fallback?: string): string {
  if (principal.role === 'operator') {
    const partnerId = named ?? fallback;
    if (!partnerId) throw badRequest([{ field, reason: 'is required with an operator key' }]);
    return partnerId;
  }
  if (principal.role === 'user') throw forbidden(USER_KEY_NOT_A_PARTNER);
  if (named !== undefined && named !== principal.partnerId) {
    throw forbidden(`${field} "${named}" is not this API key's partner ("${principal.partnerId}")`);
  }
  return principal.partnerId;
}
