import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import type { OrderRow } from '../db/rows';
import { loadOrderParties, mayActOnOrder, type OrderParties } from '../api/access';
import type { Principal } from '../api/auth';
import { QUERY_DEADLINE_MS, withinDeadline } from '../api/deadline';
import { forbidden } from '../api/errors';
import { withLicenseKeys, type OrderStatusWithKeys } from './license-keys';
import { getOrderStatus } from './order-actions';
import type { OrderStatus } from './order-lifecycle';
import { orderEmails, orderEmailsJson, orderEmailView, type OrderEmailViewBody } from '../email/email-views';

/** Where an answer came from: the Postgres projection (the default) or the workflow's own Query. */
export type StatusSource = 'projection' | 'workflow';

interface StoredStatusRow extends Pick<OrderRow, 'workflow_id' | 'partner_id' | 'booked_by_partner_id' | 'status_version'> {
  status_document: OrderStatus | null;
  license_keys: Array<{ lineNumber: number; licenseKey: string }> | null;
  emails: Parameters<typeof orderEmailView>[0][];
}

/**
 * The order's status as the caller may read it. By default one indexed Postgres query: the
 * order's parties, the status its workflow's activities last committed (orders.status_document,
 * only ever replaced by a newer version), its classic lines' license keys and its emails as the
 * outbox has them; no workflow wakes.
 * `live` asks the workflow itself (a Query: slower, replays an evicted run, and may trail the
 * projection by the step in flight); so do orders booked a moment ago (no row yet) and runs
 * started before the projection existed (no document).
 */
export async function readOrderStatus(
  deps: { db: Db; client: Client },
  principal: Principal,
  orderId: string,
  live = false,
): Promise<{ status: OrderStatusWithKeys; source: StatusSource; version: number | null; emails: OrderEmailViewBody[] }> {
  const row = await storedStatus(deps.db, orderId);
  const parties: OrderParties = row
    ? { orderId, workflowId: row.workflow_id, partnerId: row.partner_id, bookedByPartnerId: row.booked_by_partner_id }
    : await loadOrderParties(deps.db, deps.client, orderId);
  if (!(await mayActOnOrder(deps.db, principal, parties))) {
    throw forbidden(`this API key may not act on order ${orderId}: it belongs to another partner`);
  }
  // The outbox, not the workflow, knows whether an email went out: a 5xx refusal comes after the step that queued it.
  const emails = row ? row.emails.map(orderEmailView) : await orderEmails(deps.db, orderId);
  if (row?.status_document && !live) {
    const status = withStoredKeys(row.status_document, row.license_keys ?? []);
    return { status, source: 'projection', version: row.status_version, emails };
  }
  const status = await withinDeadline(deps.client, QUERY_DEADLINE_MS, () => getOrderStatus(deps.client, orderId));
  return { status: await withLicenseKeys(deps.db, status), source: 'workflow', version: null, emails };
}

/** The one query: the order row by its primary key, its license keys by the lines' unique indexes. */
async function storedStatus(db: Db, orderId: string): Promise<StoredStatusRow | undefined> {
  const statement = storedStatusStatement(db);
  const { rows } = await db
    .raw<{ rows: StoredStatusRow[] }>(
      statement.sql,
      statement.bindings.map((value) => (value === ORDER_ID ? orderId : value)),
    )
    // A named statement: each connection has Postgres parse it once and then reuses its plan.
    .options({ name: 'lf_order_status' });
  return rows[0];
}

/** Stands for the order's ID in the statement knex builds once. */
const ORDER_ID = '\u0000order-id';
const storedStatusStatements = new WeakMap<Db, { sql: string; bindings: readonly Knex.Value[] }>();

/**
 * The status statement is the same for every order, so knex builds it once per database handle
 * and each read only binds the ID (building it cost about as much of the API's CPU as parsing the
 * answer), and Postgres prepares it once per connection (it has three subqueries to plan).
 */
function storedStatusStatement(db: Db): { sql: string; bindings: readonly Knex.Value[] } {
  let statement = storedStatusStatements.get(db);
  if (!statement) {
    const { sql, bindings } = db('orders as o')
      .where('o.id', ORDER_ID)
      .first(
        'o.workflow_id',
        'o.partner_id',
        'o.booked_by_partner_id',
        'o.status_document',
        'o.status_version',
        db.raw(
          `(SELECT json_agg(json_build_object('lineNumber', l.line_number, 'licenseKey', r.license_key))
            FROM order_lines l JOIN lrp_records r ON r.order_line_id = l.id WHERE l.order_id = o.id) AS license_keys`,
        ),
        db.raw('? AS emails', [orderEmailsJson(db, 'o.id')]),
      )
      .toSQL();
    statement = { sql, bindings };
    storedStatusStatements.set(db, statement);
  }
  return statement;
}

function withStoredKeys(status: OrderStatus, keys: Array<{ lineNumber: number; licenseKey: string }>): OrderStatusWithKeys {
  if (keys.length === 0) return status;
  const keyOf = new Map(keys.map((k) => [k.lineNumber, k.licenseKey]));
  return {
    ...status,
    lines: status.lines.map((line) => (keyOf.has(line.lineNumber) ? { ...line, licenseKey: keyOf.get(line.lineNumber)! } : line)),
  };
}
