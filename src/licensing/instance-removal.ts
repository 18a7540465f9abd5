import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { isoDateOf } from '../common/dates';
import { raiseAlert } from './alerts';
import { recordLicenseEvent } from './events';
import { MoveRefused, unknownInstanceMessage } from './moves';
import { comparePoolKeys } from './pool-order';
import { lockPool, poolRowOf, recomputePool, type PoolKey, type PoolRow } from './pools';

/**
 * R19/R23, a customer's admin removes a product instance (a decommissioned device, one that lost
 * its key): what liveness does after a year of silence, at once. One transaction: the instance
 * row first, then its pools in (VA, SKU) order, as a usage report and a move lock them; its use
 * leaves each pool (AuthorizationExpired, which recomputePool leaves out) and each pool is
 * re-judged; the instance becomes `removed`, so its credential is refused InstanceRemoved and its
 * UDI may register again with a new key. Removing a removed instance writes nothing.
 */

export interface InstanceRemoval {
  accountId: string;
  instanceId: string;
  /** How the event log and the alert name who removed it ("user:7", "operator"). */
  actor: string;
  /**
   * Judges the caller against the instance's VA, read under the instance's lock (a move cannot
   * slip in between); throwing rolls the transaction back with nothing written.
   */
  authorize: (virtualAccountPath: string) => void;
}

export interface RemovedInstance {
  instanceId: string;
  virtualAccountPath: string;
  productId: string;
  serialNumber: string;
  hostname: string;
  removedAt: Date;
  /** The pools of the SKUs it used, as they are after the removal. */
  pools: PoolRow[];
}

interface LockedInstance {
  id: string;
  virtual_account_id: string;
  path: string;
  state: string;
  product_id: string;
  serial_number: string;
  hostname: string;
  removed_at: Date | null;
}

export async function removeProductInstance(db: Db, removal: InstanceRemoval): Promise<RemovedInstance> {
  return db.transaction(async (trx) => {
    const instance = await lockInstance(trx, removal.accountId, removal.instanceId);
    removal.authorize(instance.path);
    const uses = await usesOf(trx, instance.id);
    if (instance.state === 'removed')
      return answer(instance, instance.removed_at ?? new Date(), await currentPools(trx, removal.accountId, uses));

    for (const use of uses) await lockPool(trx, removal.accountId, use);
    const removedAt = new Date();
    await trx('product_instances')
      .where({ id: instance.id })
      .update({ state: 'removed', removed_at: removedAt, credential_expires_at: removedAt });
    await trx('instance_usage').where({ instance_id: instance.id }).update({ state: 'AuthorizationExpired' });
    const today = isoDateOf(removedAt.getTime());
    const pools: PoolRow[] = [];
    for (const use of uses) pools.push((await recomputePool(trx, removal.accountId, use, today)).pool);

    const about = {
      accountId: removal.accountId,
      virtualAccountId: String(instance.virtual_account_id),
      subject: `instance:${instance.id}`,
    };
    const details = {
      instanceId: instance.id,
      productId: instance.product_id,
      serialNumber: instance.serial_number,
      hostname: instance.hostname,
      released: uses.map((u) => u.sku),
      removedBy: removal.actor,
    };
    await raiseAlert(
      trx,
      {
        ...about,
        kind: 'instance_removed',
        message: `product instance ${instance.id} (${instance.hostname}) was removed by ${removal.actor}: its credentials are revoked and its licenses went back to the pool`,
        details,
      },
      today,
    );
    // The key liveness's removal uses: an instance is removed once, whoever removes it.
    await recordLicenseEvent(trx, {
      ...about,
      type: 'instance_removed',
      actor: removal.actor,
      details,
      idempotencyKey: `instance-removed:${instance.id}`,
    });
    return answer(instance, removedAt, pools);
  });
}

/** The instance, locked, in this account; an instance of another account is as unknown as one that never was. */
async function lockInstance(trx: Knex.Transaction, accountId: string, instanceId: string): Promise<LockedInstance> {
  const row = await trx('product_instances as p')
    .join('virtual_accounts as va', 'va.id', 'p.virtual_account_id')
    .where({ 'p.id': instanceId, 'p.account_id': accountId })
    .forUpdate('p')
    .first<LockedInstance | undefined>(
      'p.id',
      'p.virtual_account_id',
      'va.path',
      'p.state',
      'p.product_id',
      'p.serial_number',
      'p.hostname',
      'p.removed_at',
    );
  if (!row) throw new MoveRefused('UnknownInstance', unknownInstanceMessage(instanceId));
  return row;
}

async function usesOf(trx: Knex.Transaction, instanceId: string): Promise<PoolKey[]> {
  const rows: Array<{ sku: string; virtual_account_id: string }> = await trx('instance_usage')
    .where({ instance_id: instanceId })
    .select('sku', 'virtual_account_id');
  return rows.map((r) => ({ virtualAccountId: String(r.virtual_account_id), sku: r.sku })).sort(comparePoolKeys);
}

/** The pools as they are now, read without a lock: the answer to removing a removed instance again. */
async function currentPools(trx: Knex.Transaction, accountId: string, uses: PoolKey[]): Promise<PoolRow[]> {
  const pools: PoolRow[] = [];
  for (const use of uses) {
    const row = await trx('license_pools')
      .where({ account_id: accountId, virtual_account_id: use.virtualAccountId, sku: use.sku })
      .first<Record<string, unknown> | undefined>();
    if (row) pools.push(poolRowOf(row));
  }
  return pools;
}

function answer(instance: LockedInstance, removedAt: Date, pools: PoolRow[]): RemovedInstance {
  return {
    instanceId: instance.id,
    virtualAccountPath: instance.path,
    productId: instance.product_id,
    serialNumber: instance.serial_number,
    hostname: instance.hostname,
    removedAt,
    pools,
  };
}
