import type { Db } from '../db/knex';
import type { BookOrderInput } from '../orders/order';
import type { AccountRow, DistributorResellerRow, PartnerRow, VirtualAccountRow } from '../db/rows';

/**
 * Demo accounts for the quick start: a partner with a holding account, its distributor, and
 * an active customer Smart Account `acme.com` with nested virtual accounts and a role granted
 * to the partner. Idempotent: running it again changes nothing.
 */
export const DEMO = {
  partnerId: 'northwind-partners',
  distributorId: 'contoso-distribution',
  holdingAccountId: 'pha-northwind',
  smartAccountId: 'sa-acme',
  pendingSmartAccountId: 'sa-initech',
  /** acme.com's administrator: signs in to the pages (emailed link) and sees the demo devices. */
  adminEmail: 'admin@acme.com',
} as const;

export async function seedDemoData(db: Db): Promise<void> {
  await db.transaction(async (trx) => {
    await trx<PartnerRow>('partners')
      .insert([
        { id: DEMO.partnerId, name: 'Northwind Partners', kind: 'partner', notification_email: 'orders@northwind-partners.example' },
        {
          id: DEMO.distributorId,
          name: 'Contoso Distribution',
          kind: 'distributor',
          notification_email: 'ops@contoso-distribution.example',
        },
      ])
      .onConflict('id')
      .ignore();
    await trx<DistributorResellerRow>('distributor_resellers')
      .insert({ distributor_id: DEMO.distributorId, reseller_id: DEMO.partnerId })
      .onConflict(['distributor_id', 'reseller_id'])
      .ignore();
    const [contact] = await trx
      .raw(
        `INSERT INTO users (email, full_name, registered_id) VALUES ('it-admin@acme.com', 'Ada Admin', 'ada.admin')
       ON CONFLICT ((lower(email))) DO UPDATE SET email = users.email RETURNING id`,
      )
      .then((r: { rows: Array<{ id: string }> }) => r.rows);
    await trx<AccountRow>('accounts')
      .insert([
        {
          id: DEMO.holdingAccountId,
          kind: 'holding_account',
          name: 'Northwind Holding',
          status: 'active',
          owner_partner_id: DEMO.partnerId,
        },
        {
          id: DEMO.smartAccountId,
          kind: 'smart_account',
          name: 'Acme Corp',
          domain: 'acme.com',
          status: 'active',
          primary_contact_id: contact.id,
          activated_at: trx.fn.now(),
        },
        { id: DEMO.pendingSmartAccountId, kind: 'smart_account', name: 'Initech', domain: 'initech.com', status: 'pending_activation' },
      ])
      .onConflict('id')
      .ignore();
    for (const [accountId, path] of [
      [DEMO.smartAccountId, 'Finance'],
      [DEMO.smartAccountId, 'Region-US'],
      [DEMO.smartAccountId, 'Region-US/Finance'],
      [DEMO.smartAccountId, 'Region-US/Finance/Sacramento'],
      [DEMO.holdingAccountId, 'EMEA'],
    ] as const) {
      await createVirtualAccountPath(trx, accountId, path);
    }
    await trx.raw(`INSERT INTO role_grants (account_id, partner_id, role) VALUES (?, ?, 'sa_user') ON CONFLICT DO NOTHING`, [
      DEMO.smartAccountId,
      DEMO.partnerId,
    ]);
    await seedDemoAdmin(trx);
  });
}

/** A verified user with a registered ID and sa_admin on acme.com, so the pages have someone to sign in. */
async function seedDemoAdmin(trx: Db): Promise<void> {
  const [admin] = await trx
    .raw(
      `INSERT INTO users (email, full_name, registered_id, email_verified_at) VALUES (?, 'Alex Admin', 'alex.admin', now())
       ON CONFLICT ((lower(email))) DO UPDATE SET email_verified_at = COALESCE(users.email_verified_at, now()) RETURNING id`,
      [DEMO.adminEmail],
    )
    .then((r: { rows: Array<{ id: string }> }) => r.rows);
  await trx.raw(
    `INSERT INTO role_grants (account_id, user_id, role, granted_by) VALUES (?, ?, 'sa_admin', 'demo') ON CONFLICT DO NOTHING`,
    [DEMO.smartAccountId, admin.id],
  );
}

/** Creates a nested virtual account and any missing parents ("Region-US/Finance/Sacramento"). */
export async function createVirtualAccountPath(db: Db, accountId: string, path: string): Promise<number> {
  let parentId: number | null = null;
  const names = path.split('/');
  for (let depth = 1; depth <= names.length; depth++) {
    const prefix = names.slice(0, depth).join('/');
    await db<VirtualAccountRow>('virtual_accounts')
      .insert({ account_id: accountId, parent_id: parentId, name: names[depth - 1], path: prefix })
      .onConflict(['account_id', 'path'])
      .ignore();
    const row: { id: string } = await db<VirtualAccountRow>('virtual_accounts').where({ account_id: accountId, path: prefix }).first('id');
    parentId = Number(row.id);
  }
  return parentId!;
}

/** The demo order the quick start books: a perpetual line and a 36-month term line into acme.com / Finance. */
export function demoOrder(externalReference: string): BookOrderInput {
  return {
    externalReference,
    bookedByPartnerId: DEMO.partnerId,
    assignment: { kind: 'smart_account', accountId: DEMO.smartAccountId, virtualAccountPath: 'Finance' },
    lines: [
      { lineNumber: 1, sku: 'C9300-DNA-E-3Y', quantity: 10, licenseType: 'smart', termMonths: 36, smartAccountMandatory: true },
      { lineNumber: 2, sku: 'ISR4K-SEC-PERP', quantity: 2, licenseType: 'smart', smartAccountMandatory: true },
    ],
  };
}

/** The demo order of a customer not known yet: held in the partner's holding account, virtual account EMEA. */
export function demoHeldOrder(externalReference: string): BookOrderInput {
  return {
    externalReference,
    bookedByPartnerId: DEMO.partnerId,
    assignment: { kind: 'holding_account', accountId: DEMO.holdingAccountId, virtualAccountPath: 'EMEA' },
    lines: [{ lineNumber: 1, sku: 'C9200-DNA-A-5Y', quantity: 24, licenseType: 'smart', termMonths: 60, smartAccountMandatory: true }],
  };
}
