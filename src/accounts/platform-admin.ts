import type { Knex } from 'knex';
import { HttpError } from '../api/errors';
import type { Db } from '../db/knex';
import type { AccountRow, DistributorResellerRow, PartnerRow, UserRow } from '../db/rows';
import type { FieldError } from '../orders/order';
import { PlacementRefusal } from './placement-rules';

/**
 * Platform administration without psql: partners (resellers and distributors), the two-tier link
 * between them (R10), Partner Holding Accounts (R4) and users. Operators call these through the
 * API and the CLI. Each is idempotent the same way: the same request again finds the resource
 * and changes nothing (created: false); a request that names an existing resource with other
 * values is a 409 naming each field that differs, and nothing is written.
 */

export type PartnerKind = 'partner' | 'distributor';

export interface PartnerView {
  partnerId: string;
  name: string;
  kind: PartnerKind;
  notificationEmail: string;
}

export interface HoldingAccountView {
  accountId: string;
  name: string;
  ownerPartnerId: string;
  status: string;
}

export interface UserView {
  userId: string;
  email: string;
  fullName: string | null;
  /** Set only by the user's own verification, never here. */
  registeredId: string | null;
}

/** 409: the resource exists with other values; `fields` names each one that differs. */
function conflict(what: string, differing: Array<[field: string, existing: unknown, requested: unknown]>): HttpError | undefined {
  const errors: FieldError[] = differing
    .filter(([, existing, requested]) => existing !== requested)
    .map(([field, existing]) => ({ field, reason: `differs from the existing ${what} (${JSON.stringify(existing)})` }));
  if (errors.length === 0) return undefined;
  return new HttpError(409, 'Conflict', `${what} exists with other values: ${errors.map((e) => e.field).join(', ')} differ`, errors);
}

async function insertedOrExisting<T extends object>(q: Knex, table: string, row: T, conflictColumns: string[]): Promise<boolean> {
  const inserted: unknown[] = await q(table).insert(row).onConflict(conflictColumns).ignore().returning(conflictColumns);
  return inserted.length > 0;
}

export async function createPartner(db: Db, request: PartnerView): Promise<{ partner: PartnerView; created: boolean }> {
  const row = { id: request.partnerId, name: request.name, kind: request.kind, notification_email: request.notificationEmail };
  const created = await insertedOrExisting(db, 'partners', row, ['id']);
  const existing = (await db<PartnerRow>('partners').where({ id: request.partnerId }).first())!;
  const partner: PartnerView = {
    partnerId: existing.id,
    name: existing.name,
    kind: existing.kind as PartnerKind,
    notificationEmail: existing.notification_email,
  };
  const differs = conflict(`partner "${request.partnerId}"`, [
    ['name', partner.name, request.name],
    ['kind', partner.kind, request.kind],
    ['notificationEmail', partner.notificationEmail, request.notificationEmail],
  ]);
  if (differs) throw differs;
  return { partner, created };
}

async function requirePartner(q: Knex, partnerId: string, field: string): Promise<PartnerRow> {
  const partner = await q<PartnerRow>('partners').where({ id: partnerId }).first();
  if (!partner) throw new PlacementRefusal('UnknownPartner', `${field}: partner "${partnerId}" does not exist`, { partnerId });
  return partner;
}

/** R10: a reseller (a partner of kind "partner") sells through a distributor. */
export async function linkReseller(
  db: Db,
  distributorId: string,
  resellerId: string,
): Promise<{ link: { distributorId: string; resellerId: string }; created: boolean }> {
  const distributor = await requirePartner(db, distributorId, 'distributorId');
  const reseller = await requirePartner(db, resellerId, 'resellerId');
  if (distributor.kind !== 'distributor') {
    throw new HttpError(422, 'NotADistributor', `partner "${distributorId}" is a ${distributor.kind}, not a distributor`);
  }
  if (reseller.kind !== 'partner') {
    throw new HttpError(422, 'NotAReseller', `partner "${resellerId}" is a ${reseller.kind}: only a partner of kind "partner" resells`);
  }
  const row: Omit<DistributorResellerRow, 'created_at'> = { distributor_id: distributorId, reseller_id: resellerId };
  const created = await insertedOrExisting(db, 'distributor_resellers', row, ['distributor_id', 'reseller_id']);
  return { link: { distributorId, resellerId }, created };
}

/** R4: a Partner Holding Account, owned by a partner or a distributor; active from the start. */
export async function createHoldingAccount(
  db: Db,
  request: { accountId: string; name: string; ownerPartnerId: string },
): Promise<{ account: HoldingAccountView; created: boolean }> {
  await requirePartner(db, request.ownerPartnerId, 'ownerPartnerId');
  const row = {
    id: request.accountId,
    kind: 'holding_account',
    name: request.name,
    status: 'active',
    owner_partner_id: request.ownerPartnerId,
  };
  const created = await insertedOrExisting(db, 'accounts', row, ['id']);
  const existing = (await db<AccountRow>('accounts').where({ id: request.accountId }).first())!;
  const differs = conflict(`account "${request.accountId}"`, [
    ['kind', existing.kind === 'holding_account' ? 'holding_account' : existing.kind, 'holding_account'],
    ['name', existing.name, request.name],
    ['ownerPartnerId', existing.owner_partner_id, request.ownerPartnerId],
  ]);
  if (differs) throw differs;
  const account = { accountId: existing.id, name: existing.name, ownerPartnerId: existing.owner_partner_id!, status: existing.status };
  return { account, created };
}

/**
 * A user known by email (case-insensitive), without a registered user ID: that comes only from
 * the user's own verification. A user known without a name gets the one given here.
 */
export async function createUser(db: Db, request: { email: string; fullName: string }): Promise<{ user: UserView; created: boolean }> {
  const result = await db.raw<{ rows: Array<Pick<UserRow, 'id'> & { inserted: boolean }> }>(
    `INSERT INTO users (email, full_name) VALUES (?, ?)
     ON CONFLICT ((lower(email))) DO UPDATE SET full_name = COALESCE(users.full_name, EXCLUDED.full_name)
     RETURNING id, (xmax = 0) AS inserted`,
    [request.email, request.fullName],
  );
  const { id, inserted } = result.rows[0];
  const existing = (await db<UserRow>('users').where({ id }).first())!;
  const differs = conflict(`user "${existing.email}"`, [['fullName', existing.full_name, request.fullName]]);
  if (differs) throw differs;
  const user = { userId: String(existing.id), email: existing.email, fullName: existing.full_name, registeredId: existing.registered_id };
  return { user, created: inserted };
}
