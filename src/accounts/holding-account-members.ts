import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { isValidEmail, type FieldError } from '../orders/order';
import { type AccountRow } from './placement-rules';
import type { HoldingAccountSubscriptionRow, UserRow } from '../db/rows';
import { assertAccountKind, assertNotClosed, check, findOrCreateUser, isOneLine, NAME_REASON, requireAccount } from './account-records';

/** Holding-account members (R9): the users who receive a partner's held-order emails. */

export interface MemberView {
  email: string;
  fullName: string | null;
  subscribedAt: string;
}

async function requireHoldingAccount(q: Knex, accountId: string): Promise<AccountRow> {
  const account = await requireAccount(q, accountId);
  assertAccountKind(account, 'holding_account');
  return account;
}

/** A holding-account member as memberQuery selects it. */
interface MemberRow {
  email: string;
  full_name: string | null;
  created_at: Date;
}

function memberQuery(q: Knex, accountId: string) {
  return q('holding_account_subscriptions as s')
    .join('users as u', 'u.id', 's.user_id')
    .where('s.account_id', accountId)
    .select<MemberRow[]>('u.email', 'u.full_name', 's.created_at');
}

function memberView(row: { email: string; full_name: string | null; created_at: Date }): MemberView {
  return { email: row.email, fullName: row.full_name, subscribedAt: new Date(row.created_at).toISOString() };
}

/** The members signed up to hear about the holding account's orders (told when one is fulfilled). */
export async function listHoldingAccountMembers(db: Db, accountId: string): Promise<MemberView[]> {
  await requireHoldingAccount(db, accountId);
  const rows = await memberQuery(db, accountId).orderBy([{ column: 's.created_at' }, { column: 'u.email' }]);
  return rows.map(memberView);
}

/** Signs a member up (the user is created if unknown); `added` is false when they were a member already. */
export async function addHoldingAccountMember(
  db: Db,
  accountId: string,
  member: { email: string; fullName?: string },
): Promise<{ member: MemberView; added: boolean }> {
  const errors: FieldError[] = [];
  if (typeof member.email !== 'string' || !isValidEmail(member.email)) errors.push({ field: 'email', reason: 'must be an email address' });
  if (member.fullName !== undefined && !isOneLine(member.fullName, 200)) errors.push({ field: 'fullName', reason: NAME_REASON });
  check(errors);
  return db.transaction(async (trx) => {
    const account = await requireHoldingAccount(trx, accountId);
    assertNotClosed(account);
    const userId = await findOrCreateUser(trx, member);
    const inserted = await trx<HoldingAccountSubscriptionRow>('holding_account_subscriptions')
      .insert({ account_id: accountId, user_id: userId })
      .onConflict(['account_id', 'user_id'])
      .ignore()
      .returning('user_id');
    const row = await memberQuery(trx, accountId).where('u.id', userId).first();
    return { member: memberView(row!), added: inserted.length > 0 };
  });
}

/** Removes a member's sign-up (the user stays known); false when they were not a member. */
export async function removeHoldingAccountMember(db: Db, accountId: string, email: string): Promise<boolean> {
  check(typeof email === 'string' && isValidEmail(email) ? [] : [{ field: 'email', reason: 'must be an email address' }]);
  await requireHoldingAccount(db, accountId);
  const removed = await db<HoldingAccountSubscriptionRow>('holding_account_subscriptions')
    .where({ account_id: accountId })
    .whereIn('user_id', db<UserRow>('users').whereRaw('lower(email) = lower(?)', [email]).select('id'))
    .delete();
  return removed > 0;
}
