import type { Knex } from 'knex';
import { isoDateOf } from '../src/domain/dates';
import type { OrderEmailFacts } from '../src/email/templates';

/** Everything an order email says about the order, read from Postgres (the system of record). */
export async function loadOrderFacts(db: Knex, orderId: string): Promise<{ order: any; facts: OrderEmailFacts }> {
  const order = await db('orders').where({ id: orderId }).first();
  const partner = await db('partners').where({ id: order.partner_id }).first('name');
  const account = order.account_id ? await db('accounts').where({ id: order.account_id }).first('name', 'domain') : null;
  const va = order.virtual_account_id ? await db('virtual_accounts').where({ id: order.virtual_account_id }).first('path') : null;
  const holding = order.holding_account_id ? await db('accounts').where({ id: order.holding_account_id }).first('name') : null;
  const holdingVa = order.holding_account_id
    ? await db('entitlements as e')
        .join('order_lines as l', 'l.id', 'e.order_line_id')
        .join('virtual_accounts as va', 'va.id', 'e.virtual_account_id')
        .where({ 'l.order_id': orderId, 'e.account_id': order.holding_account_id })
        .first('va.path')
    : null;
  const lines = await db('order_lines as l')
    .leftJoin('subscriptions as s', 's.order_line_id', 'l.id')
    .where('l.order_id', orderId)
    .orderBy('l.line_number')
    .select('l.line_number', 'l.sku', 'l.quantity', 'l.license_type', 'l.term_months', 'l.state', 'l.shipped_on', 's.starts_on', 's.ends_on');
  return {
    order,
    facts: {
      orderId,
      externalReference: order.external_reference,
      partnerName: partner?.name ?? order.partner_id,
      ...(account ? { account: { name: account.name, domain: account.domain, virtualAccountPath: va?.path ?? null } } : {}),
      ...(holding ? { holdingAccount: { name: holding.name, virtualAccountPath: holdingVa?.path ?? null } } : {}),
      lines: lines.map((l) => ({
        lineNumber: l.line_number,
        sku: l.sku,
        quantity: l.quantity,
        licenseType: l.license_type,
        termMonths: l.term_months,
        state: l.state,
        shippedOn: l.shipped_on,
        subscription: l.starts_on ? { startsOn: l.starts_on, endsOn: l.ends_on } : null,
      })),
      today: isoDateOf(Date.now()),
    },
  };
}
