import type { Knex } from 'knex';
import type { Db } from '../src/db/knex';
import type { LineState } from '../src/domain/order';
import { refuse } from './errors';
import { recordOrderEvent, refreshOrderStatus } from './records';

export interface DepositRequest {
  orderId: string;
  /** Where the licenses go: a customer Smart Account (deposited) or a holding account (held, R4). */
  target: { kind: 'smart_account' | 'holding_account'; accountId: string; virtualAccountPath?: string };
  /** Derived by the workflow from its ID and a purpose; one deposit per key. */
  idempotencyKey: string;
}

export interface DepositResult {
  accountId: string;
  accountName: string;
  accountDomain: string | null;
  virtualAccountPath?: string;
  lines: Array<{ lineNumber: number; state: LineState }>;
}

interface AccountRow {
  id: string;
  kind: 'smart_account' | 'holding_account';
  name: string;
  domain: string | null;
  status: string;
}

/** Loads the target account and refuses, with the reason, any that cannot receive this deposit. */
async function lockTargetAccount(trx: Knex.Transaction, target: DepositRequest['target']) {
  const account: AccountRow | undefined = await trx('accounts').where({ id: target.accountId }).forShare().first();
  if (!account) throw refuse('UnknownAccount', `account "${target.accountId}" does not exist`, { accountId: target.accountId });
  if (target.kind === 'smart_account' && account.kind !== 'smart_account') {
    throw refuse(
      'NotAConsumptionTarget',
      `account "${account.id}" is a Partner Holding Account: licenses there cannot be consumed; assign the customer's Smart Account`,
      { accountId: account.id },
    );
  }
  if (target.kind === 'holding_account' && account.kind !== 'holding_account') {
    throw refuse('NotAHoldingAccount', `account "${account.id}" is not a Partner Holding Account`, { accountId: account.id });
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
      throw refuse(
        'UnknownVirtualAccount',
        `account "${account.id}" has no virtual account "${target.virtualAccountPath}"`,
        { accountId: account.id, virtualAccountPath: target.virtualAccountPath },
      );
    }
    virtualAccountId = Number(va.id);
  }
  return { account, virtualAccountId };
}

export function createDepositActivities(db: Db) {
  return {
    /**
     * Deposits every booked line of the order into the target in one transaction. One
     * entitlement per line (unique order_line_id) makes a retried or repeated deposit a no-op.
     */
    async depositLines(request: DepositRequest): Promise<DepositResult> {
      return db.transaction(async (trx) => {
        const order = await trx('orders').where({ id: request.orderId }).forUpdate().first('id', 'customer_domain');
        if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
        const { account, virtualAccountId } = await lockTargetAccount(trx, request.target);
        const entitlementStatus = request.target.kind === 'smart_account' ? 'deposited' : 'held';
        const lineState: LineState = request.target.kind === 'smart_account' ? 'deposited' : 'held';

        const lines = await trx('order_lines').where({ order_id: request.orderId }).orderBy('line_number');
        const booked = lines.filter((l) => l.state === 'booked');
        if (booked.length > 0) {
          await trx('entitlements')
            .insert(
              booked.map((l) => ({
                order_line_id: l.id,
                account_id: account.id,
                virtual_account_id: virtualAccountId,
                sku: l.sku,
                quantity: l.quantity,
                status: entitlementStatus,
              })),
            )
            .onConflict('order_line_id')
            .ignore();
          await trx('order_lines')
            .whereIn('id', booked.map((l) => l.id))
            .update({ state: lineState });
        }
        await trx('orders')
          .where({ id: request.orderId })
          .update({ account_id: account.id, virtual_account_id: virtualAccountId, customer_domain: account.domain ?? order.customer_domain });
        await refreshOrderStatus(trx, request.orderId);
        await recordOrderEvent(trx, {
          orderId: request.orderId,
          type: entitlementStatus === 'held' ? 'held_in_holding_account' : 'deposited',
          idempotencyKey: request.idempotencyKey,
          details: { accountId: account.id, virtualAccountPath: request.target.virtualAccountPath ?? null, lines: booked.length },
        });
        const bookedIds = new Set(booked.map((l) => l.id));
        return {
          accountId: account.id,
          accountName: account.name,
          accountDomain: account.domain,
          ...(request.target.virtualAccountPath ? { virtualAccountPath: request.target.virtualAccountPath } : {}),
          lines: lines.map((l) => ({ lineNumber: l.line_number, state: bookedIds.has(l.id) ? lineState : l.state })),
        };
      });
    },
  };
}
