import type { Db } from '../../src/db/knex';
import { createVirtualAccountPath } from '../../src/dev/demo-data';

export interface TestWorld {
  partnerId: string;
  partnerEmail: string;
  smartAccountId: string;
  domain: string;
  customerEmail: string;
  pendingSmartAccountId: string;
  holdingAccountId: string;
}

/** A partner, its holding account, and an active and a pending customer Smart Account, all unique to `suffix`. */
export async function createTestWorld(db: Db, suffix: string): Promise<TestWorld> {
  const world: TestWorld = {
    partnerId: `partner-${suffix}`,
    partnerEmail: `orders@partner-${suffix}.test`,
    smartAccountId: `sa-${suffix}`,
    domain: `acme-${suffix}.test`,
    customerEmail: `admin@acme-${suffix}.test`,
    pendingSmartAccountId: `sa-pending-${suffix}`,
    holdingAccountId: `pha-${suffix}`,
  };
  await db('partners').insert({ id: world.partnerId, name: `Partner ${suffix}`, kind: 'partner', notification_email: world.partnerEmail });
  const [contact] = await db('users').insert({ email: world.customerEmail, full_name: 'Casey Customer', registered_id: `casey-${suffix}` }).returning('id');
  await db('accounts').insert([
    { id: world.smartAccountId, kind: 'smart_account', name: `Acme ${suffix}`, domain: world.domain, status: 'active', primary_contact_id: contact.id },
    { id: world.pendingSmartAccountId, kind: 'smart_account', name: `Pending ${suffix}`, domain: `pending-${suffix}.test`, status: 'pending_activation' },
    { id: world.holdingAccountId, kind: 'holding_account', name: `Holding ${suffix}`, status: 'active', owner_partner_id: world.partnerId },
  ]);
  await createVirtualAccountPath(db, world.smartAccountId, 'Finance');
  return world;
}
