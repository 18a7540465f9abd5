/**
 * Row counts of everything the matrix's two customers, their partners and their users can reach:
 * a refused call must leave each of them as it was. Live rows only where a change is an update
 * (a revocation sets revoked_at), and orders by status (a cancellation changes no count).
 */
import type { MatrixContext } from './authorization-context';

export async function countsOf(ctx: MatrixContext): Promise<Record<string, string>> {
  const db = ctx.stack.db;
  const suffixes = [ctx.world.suffix, ctx.otherWorld.suffix];
  const like = (column: string) =>
    db.raw(
      `(${suffixes.map(() => `${column} LIKE ?`).join(' OR ')})`,
      suffixes.map((s) => `%${s}%`),
    );
  const accounts = () => db('accounts').where(like('id')).select('id');
  const partners = () => db('partners').where(like('id')).select('id');
  const users = () => db('users').where(like('email')).select('id');
  const count = async (query: ReturnType<typeof db>) => String((await query.count({ n: '*' }).first())?.n);
  const queries: Record<string, () => ReturnType<typeof db>> = {
    partners: () => db('partners').where(like('id')),
    resellers: () => db('distributor_resellers').whereIn('distributor_id', partners()),
    accounts: () => db('accounts').where(like('id')),
    activeAccounts: () => db('accounts').where(like('id')).where({ status: 'active' }),
    virtualAccounts: () => db('virtual_accounts').whereIn('account_id', accounts()),
    users: () => db('users').where(like('email')),
    members: () => db('holding_account_subscriptions').whereIn('account_id', accounts()),
    liveGrants: () => db('role_grants').whereIn('account_id', accounts()).whereNull('revoked_at'),
    requests: () => db('smart_account_requests').whereIn('requested_by_partner_id', partners()),
    liveApiKeys: () =>
      db('api_keys')
        .whereNull('revoked_at')
        .where((q) => void q.whereIn('partner_id', partners()).orWhereIn('user_id', users())),
    liveSessions: () => db('web_sessions').whereIn('user_id', users()).whereNull('revoked_at'),
    liveTokens: () => db('registration_tokens').whereIn('account_id', accounts()).whereNull('revoked_at'),
    instances: () => db('product_instances').whereIn('account_id', accounts()),
    liveInstances: () => db('product_instances').whereIn('account_id', accounts()).whereNot('state', 'removed'),
    usageReports: () => db('usage_reports').whereIn('instance_id', db('product_instances').whereIn('account_id', accounts()).select('id')),
    alertSubscriptions: () => db('alert_subscriptions').whereIn('account_id', accounts()),
    agreements: () => db('overage_agreements').whereIn('account_id', accounts()),
    trueUps: () => db('true_ups').whereIn('account_id', accounts()),
    licenseEvents: () => db('license_events').whereIn('account_id', accounts()),
    entitlements: () => db('entitlements').whereIn('account_id', accounts()),
    orders: () => db('orders').whereIn('partner_id', partners()),
    openOrders: () => db('orders').whereIn('partner_id', partners()).whereNull('cancelled_at'),
    orderEvents: () => db('order_events').whereIn('order_id', db('orders').whereIn('partner_id', partners()).select('id')),
    transferBatches: () => db('order_transfer_batches').whereIn('partner_id', partners()),
    outbox: () => db('email_outbox').whereIn('order_id', db('orders').whereIn('partner_id', partners()).select('id')),
  };
  const counts: Record<string, string> = {};
  for (const [name, query] of Object.entries(queries)) counts[name] = await count(query());
  return counts;
}
