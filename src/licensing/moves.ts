import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { isoDateOf } from '../common/dates';
import { ValidationError } from '../orders/order';
import { inUse } from './compliance';
import { comparePoolKeys } from './pool-order';
import { recordLicenseEvent } from './events';
import { lockPool, recomputePool, type PoolKey, type PoolRow } from './pools';

/**
 * R21, moves between the virtual accounts of one Smart Account: licenses (any part of a pool,
 * splitting allocations) and product instances (with their use). Both pools change in one
 * transaction, locked in the fixed (VA, SKU) order every pool writer uses, and are re-judged at
 * once. Both VAs are looked up inside the one account, so nothing moves between Smart Accounts.
 */

/** A move the account's state does not allow (the API answers 422 with `code`). */
export class MoveRefused extends Error {
  constructor(
    readonly code: 'UnknownVirtualAccount' | 'UnknownInstance' | 'NotEnoughLicenses' | 'WouldLeaveShortfall',
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'MoveRefused';
  }
}

export interface VirtualAccountRef {
  id: string;
  path: string;
}

export async function virtualAccountByPath(q: Knex, accountId: string, path: string, field: string): Promise<VirtualAccountRef> {
  const row = await q('virtual_accounts')
    .where({ account_id: accountId, path })
    .first<{ id: string; path: string } | undefined>('id', 'path');
  if (!row) throw new MoveRefused('UnknownVirtualAccount', `${field}: virtual account "${path}" does not exist in ${accountId}`);
  return { id: String(row.id), path: row.path };
}

/** Locks the pools in the fixed order, so two moves (or a move and a report) never deadlock. */
async function lockInOrder(trx: Knex.Transaction, accountId: string, keys: PoolKey[]): Promise<Map<string, PoolRow>> {
  const sorted = [...keys].sort(comparePoolKeys);
  const rows = new Map<string, PoolRow>();
  for (const key of sorted) rows.set(`${key.virtualAccountId}\u0000${key.sku}`, await lockPool(trx, accountId, key));
  return rows;
}

export interface LicenseMove {
  accountId: string;
  from: VirtualAccountRef;
  to: VirtualAccountRef;
  sku: string;
  quantity: number;
  /** Move even when the source is left with less than it uses (R21: "without saying so" is refused). */
  allowShortfall: boolean;
  actor: string;
}

export interface LicenseMoveResult {
  moved: number;
  shortfall: number;
  from: PoolRow;
  to: PoolRow;
}

export async function moveLicenses(db: Db, move: LicenseMove): Promise<LicenseMoveResult> {
  if (move.from.id === move.to.id)
    throw new ValidationError([{ field: 'toVirtualAccountPath', reason: 'must differ from fromVirtualAccountPath' }]);
  const today = isoDateOf(Date.now());
  return db.transaction(async (trx) => {
    const fromKey = { virtualAccountId: move.from.id, sku: move.sku };
    const toKey = { virtualAccountId: move.to.id, sku: move.sku };
    await lockInOrder(trx, move.accountId, [fromKey, toKey]);
    const source = (await recomputePool(trx, move.accountId, fromKey, today)).pool;
    // Unexpired allocations of active entitlements; the longest-lived move first (perpetual, then latest end).
    const allocations: Array<{ id: string; entitlement_id: string; quantity: number; ends_on: string | null }> = await trx(
      'license_allocations as a',
    )
      .join('entitlements as e', 'e.id', 'a.entitlement_id')
      .where({ 'a.virtual_account_id': move.from.id, 'a.sku': move.sku, 'e.status': 'active' })
      .where('a.quantity', '>', 0)
      .whereRaw('(a.ends_on IS NULL OR a.ends_on > ?::date)', [today])
      .orderByRaw('a.ends_on DESC NULLS FIRST, a.id')
      .select('a.id', 'a.entitlement_id', 'a.quantity', trx.raw(`to_char(a.ends_on, 'YYYY-MM-DD') AS ends_on`));
    const available = allocations.reduce((sum, a) => sum + a.quantity, 0);
    if (available < move.quantity) {
      throw new MoveRefused(
        'NotEnoughLicenses',
        `${move.from.path} holds ${available} unexpired ${move.sku} licenses, fewer than ${move.quantity}`,
        {
          available,
        },
      );
    }
    const free = Math.max(0, source.purchased - inUse(source));
    const shortfall = Math.max(0, move.quantity - free);
    if (shortfall > 0 && !move.allowShortfall) {
      throw new MoveRefused(
        'WouldLeaveShortfall',
        `moving ${move.quantity} ${move.sku} leaves ${move.from.path} short by ${shortfall}: ${inUse(source)} of its ${source.purchased} are in use; send allowShortfall: true to move them anyway`,
        { shortfall, inUse: inUse(source), purchased: source.purchased },
      );
    }
    let remaining = move.quantity;
    for (const allocation of allocations) {
      if (remaining === 0) break;
      const take = Math.min(remaining, allocation.quantity);
      remaining -= take;
      if (take === allocation.quantity) await trx('license_allocations').where({ id: allocation.id }).delete();
      else
        await trx('license_allocations')
          .where({ id: allocation.id })
          .update({ quantity: allocation.quantity - take, updated_at: trx.fn.now() });
      await trx.raw(
        `INSERT INTO license_allocations (entitlement_id, account_id, virtual_account_id, sku, quantity, ends_on) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (entitlement_id, virtual_account_id) DO UPDATE SET quantity = license_allocations.quantity + EXCLUDED.quantity, updated_at = now()`,
        [allocation.entitlement_id, move.accountId, move.to.id, move.sku, take, allocation.ends_on],
      );
    }
    const [from, to] = await recomputeBoth(trx, move.accountId, fromKey, toKey, today);
    for (const [side, pool, other] of [
      ['out', from, move.to],
      ['in', to, move.from],
    ] as const) {
      await recordLicenseEvent(trx, {
        accountId: move.accountId,
        virtualAccountId: pool.virtualAccountId,
        type: 'licenses_moved',
        subject: `pool:${pool.virtualAccountId}:${move.sku}`,
        actor: move.actor,
        details: {
          direction: side,
          quantity: move.quantity,
          sku: move.sku,
          [side === 'out' ? 'to' : 'from']: other.path,
          purchased: pool.purchased,
          shortfall,
        },
      });
    }
    return { moved: move.quantity, shortfall, from, to };
  });
}

async function recomputeBoth(trx: Knex.Transaction, accountId: string, a: PoolKey, b: PoolKey, today: string): Promise<[PoolRow, PoolRow]> {
  const first = comparePoolKeys(a, b) <= 0;
  const [x, y] = first ? [a, b] : [b, a];
  const px = (await recomputePool(trx, accountId, x, today)).pool;
  const py = (await recomputePool(trx, accountId, y, today)).pool;
  return first ? [px, py] : [py, px];
}

export interface InstanceMove {
  accountId: string;
  instanceId: string;
  to: VirtualAccountRef;
  actor: string;
}

/** The same words for an instance that is not there and one the caller may not see (no existence leak). */
export const UNKNOWN_INSTANCE_REASON = 'is not a product instance of this Smart Account that you may see';
export const unknownInstanceMessage = (instanceId: string) => `instanceId: product instance ${instanceId} ${UNKNOWN_INSTANCE_REASON}`;

/** The instance's VA path, for the caller's authorization on the source side. */
export async function instanceLocation(q: Knex, accountId: string, instanceId: string): Promise<VirtualAccountRef> {
  const row = await q('product_instances as p')
    .join('virtual_accounts as va', 'va.id', 'p.virtual_account_id')
    .where({ 'p.id': instanceId, 'p.account_id': accountId })
    .whereNot('p.state', 'removed')
    .first<{ id: string; path: string } | undefined>('va.id', 'va.path');
  if (!row) throw new MoveRefused('UnknownInstance', unknownInstanceMessage(instanceId));
  return { id: String(row.id), path: row.path };
}

/** Moves a product instance and its use; its use joins the target pool as a newcomer (judged after those already served). */
export async function moveInstance(db: Db, move: InstanceMove): Promise<{ from: PoolRow[]; to: PoolRow[] }> {
  return db.transaction(async (trx) => {
    // The instance before its pools, as a usage report locks them: the two never deadlock, and
    // the SKUs read below are the instance's last word.
    await trx('product_instances').where({ id: move.instanceId, account_id: move.accountId }).forUpdate().first('id');
    const from = await instanceLocation(trx, move.accountId, move.instanceId);
    if (from.id === move.to.id) throw new ValidationError([{ field: 'toVirtualAccountPath', reason: 'is where the instance already is' }]);
    const skus = (await trx('instance_usage').where({ instance_id: move.instanceId }).orderBy('sku').pluck('sku')) as string[];
    const keys = skus.flatMap((sku) => [
      { virtualAccountId: from.id, sku },
      { virtualAccountId: move.to.id, sku },
    ]);
    await lockInOrder(trx, move.accountId, keys);
    await trx('product_instances').where({ id: move.instanceId }).update({ virtual_account_id: move.to.id });
    await trx('instance_usage').where({ instance_id: move.instanceId }).update({ virtual_account_id: move.to.id });
    await trx('instance_usage')
      .where({ instance_id: move.instanceId })
      .whereNot('state', 'AuthorizationExpired')
      .update({ state: 'OutOfCompliance', reported_at: trx.fn.now() });
    const fromPools: PoolRow[] = [];
    const toPools: PoolRow[] = [];
    for (const sku of skus) {
      const [f, t] = await recomputeBoth(
        trx,
        move.accountId,
        { virtualAccountId: from.id, sku },
        { virtualAccountId: move.to.id, sku },
        isoDateOf(Date.now()),
      );
      fromPools.push(f);
      toPools.push(t);
    }
    for (const [side, va, other] of [
      ['out', from, move.to],
      ['in', move.to, from],
    ] as const) {
      await recordLicenseEvent(trx, {
        accountId: move.accountId,
        virtualAccountId: va.id,
        type: 'instance_moved',
        subject: `instance:${move.instanceId}`,
        actor: move.actor,
        details: { direction: side, [side === 'out' ? 'to' : 'from']: other.path, skus },
      });
    }
    return { from: fromPools, to: toPools };
  });
}
