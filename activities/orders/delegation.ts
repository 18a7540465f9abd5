import type { Db } from '../../src/db/knex';
import { emailDomain } from '../../src/orders/order';
import type { CustomerChoice } from '../../src/orders/workflow-api';
import type { createAccountActivities, RequestedAccount } from '../accounts/accounts';
import { claimLink } from '../../src/security/link-claims';
import { refuse } from '../shared/errors';
import { writeListStatus, type ListStatus, type StatusProjection } from './records';
import { loadOrderFacts } from './order-facts';
import type { createSecureLinkSender } from '../shared/secure-links';
import type { AccessTokenRow, AccountRow, OrderRow, UserRow, VirtualAccountRow } from '../../src/db/rows';

export type RedeemedChoice =
  | { kind: 'active'; accountId: string; domain: string; virtualAccountPath?: string }
  | ({ kind: 'pending'; virtualAccountPath?: string } & RequestedAccount);

type CreatePendingAccount = ReturnType<typeof createAccountActivities>['createPendingAccount'];

/** R3: the delegation link to the end customer, and the choice they make through it. */
export function createDelegationActivities(deps: {
  db: Db;
  sendLinkEmail: ReturnType<typeof createSecureLinkSender>;
  createPendingAccount: CreatePendingAccount;
}) {
  return { ...createDelegationLinkActivities(deps), ...createCustomerChoiceActivities(deps) };
}

function createDelegationLinkActivities({ db, sendLinkEmail }: { db: Db; sendLinkEmail: ReturnType<typeof createSecureLinkSender> }) {
  return {
    /** R3: emails the end-customer contact a single-use link to pick or create their Smart Account. */
    async sendDelegationRequest(request: {
      orderId: string;
      idempotencyKey: string;
      listStatus: ListStatus;
      /** The status with this email sent: written with the email's outbox row. */
      status?: StatusProjection;
      reminderNumber?: number;
    }): Promise<void> {
      const { order, facts } = await loadOrderFacts(db, request.orderId);
      // The customer contact loadOrderFacts joined is the end-customer contact whenever the order names one.
      const contact =
        order.end_customer_contact_id !== null && order.customer_email !== null
          ? { id: order.end_customer_contact_id, email: order.customer_email, full_name: order.customer_name }
          : null;
      if (!contact) throw refuse('UnknownOrder', `order "${request.orderId}" names no end-customer contact to delegate to`);
      await sendLinkEmail({
        purpose: 'delegation',
        path: 'delegations',
        orderId: order.id,
        accountId: null,
        contact: { id: contact.id, email: contact.email, fullName: contact.full_name },
        template: 'delegation-request',
        facts: { ...facts, ...(request.reminderNumber ? { reminderNumber: request.reminderNumber } : {}) },
        idempotencyKey: request.idempotencyKey,
        // The order's new wait, its event and the email's outbox row commit together.
        alongside: async (trx) => {
          await writeListStatus(trx, request.orderId, request.listStatus, {
            extra: { customer_domain: emailDomain(contact.email) },
            projection: request.status,
            event: {
              type: request.reminderNumber ? 'delegation_reminder' : 'delegated_to_customer',
              idempotencyKey: request.idempotencyKey,
            },
          });
        },
      });
    },
  };
}

function createCustomerChoiceActivities({ db, createPendingAccount }: { db: Db; createPendingAccount: CreatePendingAccount }) {
  return {
    /**
     * Claims the delegation link (known, for this order, unused, unexpired: one UPDATE, so of two
     * concurrent uses exactly one gets it), checks the contact's choice (an account of their own
     * domain, or a new one) and records it, in one transaction. A refused choice rolls the claim
     * back and leaves the link usable.
     */
    async redeemCustomerChoice(request: { orderId: string; tokenHash: string; choice: CustomerChoice }): Promise<RedeemedChoice> {
      return db.transaction(async (trx) => {
        const token = await claimLink<Pick<AccessTokenRow, 'contact_id'>>(
          trx,
          'delegation',
          Buffer.from(request.tokenHash, 'hex'),
          ['contact_id'],
          { order_id: request.orderId },
        );
        if (token === 'unknown') throw refuse('InvalidLink', 'this link is not valid for this order');
        if (token === 'used') throw refuse('InvalidLink', 'this link has already been used');
        if (token === 'expired') throw refuse('InvalidLink', 'this link has expired');
        const contact = (await trx<UserRow>('users').where({ id: token.contact_id }).first())!;
        const domain = emailDomain(contact.email);
        const order = (await trx<OrderRow>('orders').where({ id: request.orderId }).first('partner_id'))!;

        const result =
          request.choice.kind === 'existing'
            ? await chooseExistingAccount(trx, request.choice, domain, contact.id)
            : await createChosenAccount(trx, createPendingAccount, request.choice.accountName, {
                domain,
                contactId: contact.id,
                requestedByPartnerId: order.partner_id,
              });
        // Every link of this order's delegation (first email, reminders, retried sends) dies now.
        await trx<AccessTokenRow>('access_tokens')
          .where({ order_id: request.orderId, purpose: 'delegation' })
          .whereNull('used_at')
          .update({ used_at: trx.fn.now() });
        return result;
      });
    },
  };
}

/** The contact picked one of their domain's Smart Accounts; a pending one gets them as its contact. */
async function chooseExistingAccount(
  trx: Db,
  choice: Extract<CustomerChoice, { kind: 'existing' }>,
  domain: string,
  contactId: UserRow['id'],
): Promise<RedeemedChoice> {
  const account = await trx<AccountRow>('accounts').where({ id: choice.accountId }).first();
  if (!account || account.kind !== 'smart_account' || account.domain !== domain) {
    throw refuse('DomainMismatch', `"${choice.accountId}" is not a Smart Account of ${domain}`);
  }
  if (account.status === 'closed') throw refuse('AccountNotActive', `Smart Account "${account.id}" is closed`);
  const path = choice.virtualAccountPath;
  if (path && !(await trx<VirtualAccountRow>('virtual_accounts').where({ account_id: account.id, path }).first('id'))) {
    throw refuse('UnknownVirtualAccount', `Smart Account "${account.id}" has no virtual account "${path}"`);
  }
  if (account.status !== 'active' && !account.primary_contact_id) {
    // The contact who chose it is who can activate it: the activation link goes to them.
    await trx<AccountRow>('accounts').where({ id: account.id }).whereNull('primary_contact_id').update({ primary_contact_id: contactId });
  }
  return account.status === 'active'
    ? { kind: 'active', accountId: account.id, domain, ...(path ? { virtualAccountPath: path } : {}) }
    : {
        kind: 'pending',
        accountId: account.id,
        domain,
        status: 'pending_activation',
        ...(path ? { virtualAccountPath: path } : {}),
      };
}

/** The contact asked for a new Smart Account of their domain, named as they typed it. */
async function createChosenAccount(
  trx: Db,
  createPendingAccount: CreatePendingAccount,
  accountName: string,
  owner: { domain: string; contactId: UserRow['id']; requestedByPartnerId: OrderRow['partner_id'] },
): Promise<RedeemedChoice> {
  const name = accountName.trim();
  if (!name || name.length > 120 || /[\u0000-\u001f\u007f]/.test(name))
    throw refuse('InvalidLink', 'the account name must be one line of 1-120 characters');
  const created = await createPendingAccount(trx, { ...owner, name });
  return created.status === 'active'
    ? { kind: 'active', accountId: created.accountId, domain: owner.domain }
    : { kind: 'pending', ...created };
}
