import type { Db } from '../db/knex';
import { createVirtualAccountPath } from '../dev/demo-data';
import { VIRTUAL_ACCOUNT_PATH_PATTERN } from '../orders/order';
import type { VirtualAccountRow } from '../db/rows';
import { assertNotClosed, check, PATH_REASON, requireAccount } from './account-records';

/** Virtual accounts: the folders of a Smart Account, listed and created by path. */

export interface VirtualAccountView {
  path: string;
  name: string;
  parentPath: string | null;
}

function viewOfPath(path: string): VirtualAccountView {
  const cut = path.lastIndexOf('/');
  return { path, name: cut < 0 ? path : path.slice(cut + 1), parentPath: cut < 0 ? null : path.slice(0, cut) };
}

/** Every virtual account of a Smart Account or holding account, parents before their children. */
export async function listVirtualAccounts(db: Db, accountId: string): Promise<VirtualAccountView[]> {
  await requireAccount(db, accountId);
  const rows: Array<{ path: string; name: string; parent_path: string | null }> = await db('virtual_accounts as va')
    .leftJoin('virtual_accounts as parent', 'parent.id', 'va.parent_id')
    .where('va.account_id', accountId)
    .orderBy('va.path')
    .select('va.path', 'va.name', 'parent.path as parent_path');
  return rows.map((r) => ({ path: r.path, name: r.name, parentPath: r.parent_path }));
}

/**
 * Creates a virtual account ("Region-US/Finance/Sacramento") and any missing parents. `created`
 * is false when the path existed already (nothing written). The account row is locked for the
 * duration, so two concurrent creations of one path agree on which one created it.
 */
export async function createVirtualAccount(db: Db, accountId: string, path: string): Promise<VirtualAccountView & { created: boolean }> {
  check(typeof path === 'string' && VIRTUAL_ACCOUNT_PATH_PATTERN.test(path) ? [] : [{ field: 'path', reason: PATH_REASON }]);
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, accountId, true);
    assertNotClosed(account);
    const existed = await trx<VirtualAccountRow>('virtual_accounts').where({ account_id: accountId, path }).first('id');
    if (!existed) await createVirtualAccountPath(trx, accountId, path);
    return { ...viewOfPath(path), created: !existed };
  });
}
