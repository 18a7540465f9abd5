import type { Knex } from 'knex';
import { isoDateOf } from '../../src/common/dates';
import { preparedQuery } from '../../src/db/prepared';
import type { OrderEmailFacts } from '../../src/orders/email-templates';
import { refuse } from '../shared/errors';
import type { LrpRecordRow, OrderLineRow, SubscriptionRow } from '../../src/db/rows';

/** One line of the order with its subscription term, as loadOrderFacts selects it. */
type OrderFactsLineRow = Pick<OrderLineRow, 'line_number' | 'sku' | 'quantity' | 'license_type' | 'term_months' | 'state' | 'shipped_on'> &
  Pick<SubscriptionRow, 'starts_on' | 'ends_on'> & { license_key: LrpRecordRow['license_key'] | null };

/**
 * The order row and what it names, as one row: the `orders` columns the emails use (ORDER_COLUMNS)
 * plus the selling partner, the Smart Account and its virtual account, the holding account, and the
 * customer contact (the order's end-customer contact, else the account's primary contact).
 */
export interface OrderFactsRow {
  id: string;
  external_reference: string;
  partner_id: string;
  booked_by_partner_id: string;
  account_id: string | null;
  holding_account_id: string | null;
  end_customer_contact_id: string | null;
  partner_name: string | null;
  partner_email: string | null;
  account_name: string | null;
  account_domain: string | null;
  virtual_account_path: string | null;
  holding_account_name: string | null;
  holding_virtual_account_path: string | null;
  customer_email: string | null;
  customer_name: string | null;
}

/**
 * The order's own columns an email reads. Not `o.*`: that carried the status document (jsonb,
 * about 1 kB an order) Postgres had to print and the worker to parse for every email, unused.
 */
const ORDER_COLUMNS = [
  'o.id',
  'o.external_reference',
  'o.partner_id',
  'o.booked_by_partner_id',
  'o.account_id',
  'o.holding_account_id',
  'o.end_customer_contact_id',
] as const;

/** The order's lines with their terms and LRP keys, as a JSON array in the order's row (one round trip). */
const LINES_JSON = `(SELECT COALESCE(json_agg(json_build_object(
     'line_number', l.line_number, 'sku', l.sku, 'quantity', l.quantity, 'license_type', l.license_type,
     'term_months', l.term_months, 'state', l.state, 'shipped_on', l.shipped_on,
     'starts_on', s.starts_on, 'ends_on', s.ends_on, 'license_key', r.license_key) ORDER BY l.line_number), '[]')
   FROM order_lines l LEFT JOIN subscriptions s ON s.order_line_id = l.id LEFT JOIN lrp_records r ON r.order_line_id = l.id
   WHERE l.order_id = o.id) AS lines_json`;

/**
 * Everything an order email says about the order, read from Postgres (the system of record), in
 * one statement: the order with what it names, its lines as a JSON column. Every email of every
 * order comes through here, so it was worth folding the seven lookups it used to make into one
 * (docs/BENCHMARKS.md; issue 16: the lines were a second statement). Throws UnknownOrder for an
 * order that does not exist.
 */
export async function loadOrderFacts(db: Knex, orderId: string): Promise<{ order: OrderFactsRow; facts: OrderEmailFacts }> {
  // Prepared: planning its joins and subqueries cost Postgres about 2 ms a call, four times running it.
  const { rows } = await preparedQuery<OrderFactsRow & { lines_json: OrderFactsLineRow[] }>(db, orderFactsQuery(db, orderId));
  const [row] = rows;
  if (!row) throw refuse('UnknownOrder', `order "${orderId}" does not exist`);
  const { lines_json: lines, ...order } = row;
  return { order, facts: factsOf(orderId, order, lines) };
}

function orderFactsQuery(db: Knex, orderId: string): Knex.QueryBuilder {
  return db('orders as o')
    .leftJoin('partners as p', 'p.id', 'o.partner_id')
    .leftJoin('accounts as a', 'a.id', 'o.account_id')
    .leftJoin('virtual_accounts as va', 'va.id', 'o.virtual_account_id')
    .leftJoin('accounts as h', 'h.id', 'o.holding_account_id')
    .leftJoin('users as cu', 'cu.id', db.raw('COALESCE(o.end_customer_contact_id, a.primary_contact_id)'))
    .where('o.id', orderId)
    .first(
      ...ORDER_COLUMNS,
      'p.name as partner_name',
      'p.notification_email as partner_email',
      'a.name as account_name',
      'a.domain as account_domain',
      'va.path as virtual_account_path',
      'h.name as holding_account_name',
      // The holding account's virtual account the order's licenses sit in.
      db.raw(
        `(SELECT hva.path FROM entitlements e JOIN order_lines hl ON hl.id = e.order_line_id JOIN virtual_accounts hva ON hva.id = e.virtual_account_id
          WHERE hl.order_id = o.id AND e.account_id = o.holding_account_id LIMIT 1) AS holding_virtual_account_path`,
      ),
      'cu.email as customer_email',
      'cu.full_name as customer_name',
      db.raw(LINES_JSON),
    );
}

function factsOf(orderId: string, order: OrderFactsRow, lines: OrderFactsLineRow[]): OrderEmailFacts {
  return {
    orderId,
    externalReference: order.external_reference,
    partnerName: order.partner_name ?? order.partner_id,
    ...(order.account_name !== null
      ? { account: { name: order.account_name, domain: order.account_domain, virtualAccountPath: order.virtual_account_path } }
      : {}),
    ...(order.holding_account_name !== null
      ? { holdingAccount: { name: order.holding_account_name, virtualAccountPath: order.holding_virtual_account_path } }
      : {}),
    lines: lines.map((l) => ({
      lineNumber: l.line_number,
      sku: l.sku,
      quantity: l.quantity,
      licenseType: l.license_type,
      termMonths: l.term_months,
      state: l.state,
      shippedOn: l.shipped_on,
      subscription: l.starts_on ? { startsOn: l.starts_on, endsOn: l.ends_on } : null,
      ...(l.license_key ? { licenseKey: l.license_key } : {}),
    })),
    today: isoDateOf(Date.now()),
  };
}
