import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { scopeOrders } from '../api/access';
import type { Principal } from '../api/auth';
import type { ListOrdersQueryType } from '../api/schemas';

/** Where a page starts: after the last row of the previous one, in (booked_at, id) order. */
export interface ListCursor {
  bookedAt: string;
  id: string;
}

/** A row of the list: the order's columns, and booked_at as text to the microsecond for the cursor. */
export interface OrderListRow {
  id: string;
  external_reference: string;
  partner_id: string;
  booked_by_partner_id: string;
  status: string;
  waiting_for: string | null;
  assignment_kind: string;
  account_id: string | null;
  holding_account_id: string | null;
  customer_domain: string | null;
  booked_at: Date;
  updated_at: Date;
  booked_at_cursor: string;
}

/**
 * The one query behind `GET /v1/orders` (and `bench/explain.ts`, which checks its plans): the
 * caller's orders matching the filters, newest first, one row more than the page to tell whether
 * another page follows.
 */
export function listOrdersQuery(
  db: Db,
  principal: Principal,
  filters: Omit<ListOrdersQueryType, 'cursor' | 'limit'>,
  limit: number,
  cursor?: ListCursor,
): Knex.QueryBuilder<OrderListRow, OrderListRow[]> {
  let query: Knex.QueryBuilder = db('orders').select(
    'id',
    'external_reference',
    'partner_id',
    'booked_by_partner_id',
    'status',
    'waiting_for',
    'assignment_kind',
    'account_id',
    'holding_account_id',
    'customer_domain',
    'booked_at',
    'updated_at',
    db.raw(`to_char(booked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS booked_at_cursor`),
  );
  query = scopeOrders(query, db, principal);
  if (filters.status) query = query.where('status', filters.status);
  if (filters.waitingFor) query = query.where('waiting_for', filters.waitingFor);
  if (filters.partnerId) query = query.where('partner_id', filters.partnerId);
  if (filters.customerDomain) query = query.where('customer_domain', filters.customerDomain);
  if (filters.holdingAccountId) query = query.where('holding_account_id', filters.holdingAccountId);
  if (cursor) query = query.whereRaw('(booked_at, id) < (?::timestamptz, ?)', [cursor.bookedAt, cursor.id]);
  return query
    .orderBy([
      { column: 'booked_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit + 1) as Knex.QueryBuilder<OrderListRow, OrderListRow[]>;
}
