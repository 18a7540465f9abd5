import type { OrderListItem, OrderStatus } from '../api-client';
import { formatKeyValues, formatTable } from '../cli/table';

/** How the CLI shows an order and a list of orders to people (--json prints the API's body instead). */

export function renderOrderStatus(status: OrderStatus): string {
  const header = formatKeyValues([
    ['Order', status.orderId],
    ['Reference', status.externalReference],
    [
      'Partner',
      status.partnerId === status.bookedByPartnerId ? status.partnerId : `${status.partnerId} (booked by ${status.bookedByPartnerId})`,
    ],
    ['Phase', status.phase],
    ['Waiting for', status.waitingFor],
    ['Next action', status.pendingAction],
    ['Assignment', (status.assignment as { kind?: string }).kind],
    ['Customer account', status.customerAccountId],
    ['Holding account', status.holdingAccountId],
  ]);
  const lines = formatTable(
    ['LINE', 'SKU', 'QTY', 'TYPE', 'TERM', 'STATE', 'ACCOUNT', 'VIRTUAL ACCOUNT', 'SHIPPED', 'SUBSCRIPTION', 'LICENSE KEY'],
    status.lines.map((l) => [
      l.lineNumber,
      l.sku,
      l.quantity,
      l.licenseType,
      l.termMonths ? `${l.termMonths} months` : 'perpetual',
      l.state,
      l.accountId,
      l.virtualAccountPath,
      l.shippedOn,
      l.subscription ? `${l.subscription.startsOn} to ${l.subscription.endsOn}` : undefined,
      l.licenseKey,
    ]),
  );
  return `${header}\n\n${lines}\n\nEmails sent: ${status.emailsSent.length > 0 ? status.emailsSent.join(', ') : 'none'}`;
}

export function renderOrderList(orders: OrderListItem[]): string {
  if (orders.length === 0) return 'No orders match.';
  return formatTable(
    ['ORDER ID', 'REFERENCE', 'PARTNER', 'STATUS', 'WAITING FOR', 'ASSIGNMENT', 'ACCOUNT', 'HOLDING ACCOUNT', 'BOOKED AT'],
    orders.map((o) => [
      o.orderId,
      o.externalReference,
      o.partnerId,
      o.status,
      o.waitingFor,
      o.assignmentKind,
      o.accountId,
      o.holdingAccountId,
      o.bookedAt,
    ]),
  );
}
