import type { Db } from '../db/knex';
import type { LrpRecordRow, OrderLineRow } from '../db/rows';
import type { OrderStatus } from './order-lifecycle';

/**
 * Classic licenses are used through their License Registration Portal record (R8), whose key
 * Postgres holds (`lrp_records`), not the workflow. The order's status, as a caller allowed to
 * see the order reads it, gets each classic line's key added.
 */
export type OrderStatusWithKeys = OrderStatus & { lines: Array<{ licenseKey?: string }> };

export async function withLicenseKeys(db: Db, status: OrderStatus): Promise<OrderStatusWithKeys> {
  if (!status.lines.some((line) => line.licenseType === 'classic')) return status;
  const records: Array<Pick<OrderLineRow, 'line_number'> & Pick<LrpRecordRow, 'license_key'>> = await db('lrp_records as r')
    .join('order_lines as l', 'l.id', 'r.order_line_id')
    .where('l.order_id', status.orderId)
    .select('l.line_number', 'r.license_key');
  const keyOf = new Map(records.map((r) => [r.line_number, r.license_key]));
  return {
    ...status,
    lines: status.lines.map((line) => (keyOf.has(line.lineNumber) ? { ...line, licenseKey: keyOf.get(line.lineNumber)! } : line)),
  };
}
