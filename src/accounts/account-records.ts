import type { Knex } from 'knex';
import { CONTROL_CHARACTERS, ValidationError, type FieldError } from '../orders/order';
import { PlacementRefusal, type AccountRow } from './placement-rules';

/** The account rows every part of account administration reads, the checks they share, and users by email. */

export async function loadAccount(q: Knex, accountId: string): Promise<AccountRow | undefined> {
  return q<AccountRow>('accounts').where({ id: accountId }).first('id', 'kind', 'name', 'domain', 'status', 'owner_partner_id');
}

/** The account, or a refusal naming it (for callers that did not load it themselves). */
export async function requireAccount(q: Knex, accountId: string, forUpdate = false): Promise<AccountRow> {
  const query = q<AccountRow>('accounts').where({ id: accountId });
  const account: AccountRow | undefined = await (forUpdate ? query.forUpdate() : query).first(
    'id',
    'kind',
    'name',
    'domain',
    'status',
    'owner_partner_id',
  );
  if (!account) throw new PlacementRefusal('UnknownAccount', `account "${accountId}" does not exist`, { accountId });
  return account;
}

/** Members sign up on Partner Holding Accounts only; roles are granted on customer Smart Accounts only. */
export function assertAccountKind(account: AccountRow, kind: AccountRow['kind']): void {
  if (account.kind === kind) return;
  if (kind === 'holding_account') {
    throw new PlacementRefusal('NotAHoldingAccount', `account "${account.id}" is a customer Smart Account, not a Partner Holding Account`, {
      accountId: account.id,
    });
  }
  throw new PlacementRefusal(
    'NotASmartAccount',
    `account "${account.id}" is a Partner Holding Account, not a customer Smart Account: roles are granted on Smart Accounts only`,
    { accountId: account.id },
  );
}

export function assertNotClosed(account: AccountRow): void {
  if (account.status === 'closed') {
    throw new PlacementRefusal('AccountNotActive', `account "${account.id}" is closed`, { accountId: account.id, status: account.status });
  }
}

export function check(errors: FieldError[]): void {
  if (errors.length > 0) throw new ValidationError(errors);
}

export const ID_REASON = 'must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
export const PATH_REASON = 'must be names of 1-80 characters, not starting or ending with a space, joined by "/", at most 16 deep';
export const NAME_REASON = 'must be one line of 1-200 characters';

export function isOneLine(value: unknown, max: number): boolean {
  return typeof value === 'string' && value.length >= 1 && value.length <= max && !CONTROL_CHARACTERS.test(value);
}

/** Finds a user by email (case-insensitive) or creates one; a name is filled in only where none is known. */
export async function findOrCreateUser(q: Knex, user: { email: string; fullName?: string }): Promise<number> {
  const result = await q.raw<{ rows: { id: string }[] }>(
    `INSERT INTO users (email, full_name) VALUES (?, ?)
     ON CONFLICT ((lower(email))) DO UPDATE SET full_name = COALESCE(users.full_name, EXCLUDED.full_name)
     RETURNING id`,
    [user.email, user.fullName ?? null],
  );
  return Number(result.rows[0].id);
}
