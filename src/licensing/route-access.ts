import type { Db } from '../db/knex';
import { rolesOn, seesAccount, type Grantee, type HeldRole } from '../accounts/roles';
import type { Principal } from '../api/auth';
import { forbidden, notFound } from '../api/errors';
import { granteeOf } from '../api/grantee';

/** Who asks about a Smart Account, and the roles they hold on it (a caller without any sees nothing). */
export interface AccountCaller {
  grantee: Grantee;
  roles: HeldRole[];
  /** How events name them: "operator", "partner:<id>", "user:<id>". */
  actor: string;
}

export function actorOf(grantee: Grantee): string {
  return grantee.kind === 'operator' ? 'operator' : grantee.kind === 'partner' ? `partner:${grantee.partnerId}` : `user:${grantee.userId}`;
}

export async function callerOnSmartAccount(db: Db, principal: Principal, accountId: string): Promise<AccountCaller> {
  const account = await db('accounts').where({ id: accountId }).first<{ kind: string } | undefined>('kind');
  if (!account || account.kind !== 'smart_account') throw notFound(`Smart Account ${accountId}`);
  const grantee = granteeOf(principal);
  const roles = await rolesOn(db, grantee, accountId);
  if (!seesAccount(roles)) throw forbidden(`${actorOf(grantee)} has no role on Smart Account ${accountId}; the customer must grant one`);
  return { grantee, roles, actor: actorOf(grantee) };
}

/** A virtual account the caller named that does not exist, or that it may not see: the same 404 for both. */
export const unknownVirtualAccount = (accountId: string, path: string | undefined) =>
  notFound(`virtual account "${path}" of ${accountId} (or you may not see it)`);
