import type { Db } from '../../src/db/knex';
import { createVirtualAccountPath } from '../../src/dev/demo-data';

export interface TestWorld {
  suffix: string;
  partnerId: string;
  partnerEmail: string;
  /** A distributor that sells through partnerId (two-tier). */
  distributorId: string;
  distributorEmail: string;
  /** A partner with no role on the customer's account and no link to the order. */
  otherPartnerId: string;
  smartAccountId: string;
  smartAccountName: string;
  domain: string;
  customerEmail: string;
  customerContactId: number;
  pendingSmartAccountId: string;
  holdingAccountId: string;
  holdingMemberEmail: string;
}

/**
 * A self-contained world unique to `suffix`: a partner with a holding account (virtual account
 * EMEA, one member signed up for notifications), its distributor, an unrelated partner, an
 * active customer Smart Account `acme-<suffix>.test` (virtual accounts Finance and
 * Region-US/Finance/Sacramento; the partner holds the Smart Account user role) and a pending one.
 */
export async function createTestWorld(db: Db, suffix: string): Promise<TestWorld> {
  const world: TestWorld = {
    suffix,
    partnerId: `partner-${suffix}`,
    partnerEmail: `orders@partner-${suffix}.test`,
    distributorId: `distributor-${suffix}`,
    distributorEmail: `ops@distributor-${suffix}.test`,
    otherPartnerId: `other-${suffix}`,
    smartAccountId: `sa-${suffix}`,
    smartAccountName: `Acme ${suffix}`,
    domain: `acme-${suffix}.test`,
    customerEmail: `admin@acme-${suffix}.test`,
    customerContactId: 0,
    pendingSmartAccountId: `sa-pending-${suffix}`,
    holdingAccountId: `pha-${suffix}`,
    holdingMemberEmail: `member@partner-${suffix}.test`,
  };
  await db('partners').insert([
    { id: world.partnerId, name: `Partner ${suffix}`, kind: 'partner', notification_email: world.partnerEmail },
    { id: world.distributorId, name: `Distributor ${suffix}`, kind: 'distributor', notification_email: world.distributorEmail },
    { id: world.otherPartnerId, name: `Other ${suffix}`, kind: 'partner', notification_email: `orders@other-${suffix}.test` },
  ]);
  await db('distributor_resellers').insert({ distributor_id: world.distributorId, reseller_id: world.partnerId });
  const [contact] = await db('users')
    .insert({ email: world.customerEmail, full_name: 'Casey Customer', registered_id: `casey-${suffix}` })
    .returning('id');
  world.customerContactId = Number(contact.id);
  const [member] = await db('users')
    .insert({ email: world.holdingMemberEmail, full_name: 'Morgan Member', partner_id: world.partnerId })
    .returning('id');
  await db('accounts').insert([
    {
      id: world.smartAccountId,
      kind: 'smart_account',
      name: world.smartAccountName,
      domain: world.domain,
      status: 'active',
      primary_contact_id: contact.id,
    },
    {
      id: world.pendingSmartAccountId,
      kind: 'smart_account',
      name: `Pending ${suffix}`,
      domain: world.domain,
      status: 'pending_activation',
    },
    { id: world.holdingAccountId, kind: 'holding_account', name: `Holding ${suffix}`, status: 'active', owner_partner_id: world.partnerId },
  ]);
  await createVirtualAccountPath(db, world.smartAccountId, 'Finance');
  await createVirtualAccountPath(db, world.smartAccountId, 'Region-US/Finance/Sacramento');
  await createVirtualAccountPath(db, world.holdingAccountId, 'EMEA');
  await db('role_grants').insert({ account_id: world.smartAccountId, partner_id: world.partnerId, role: 'sa_user' });
  await db('holding_account_subscriptions').insert({ account_id: world.holdingAccountId, user_id: member.id });
  return world;
}

/** Puts a contact in the identity records with their registered user ID (what R2 checks). */
export async function registerContact(db: Db, contact: { email: string; fullName?: string; registeredId: string }): Promise<number> {
  const [row] = await db('users')
    .insert({ email: contact.email, full_name: contact.fullName ?? null, registered_id: contact.registeredId })
    .onConflict(db.raw('(lower(email))'))
    .merge({ registered_id: contact.registeredId })
    .returning('id');
  return Number(row.id);
}
