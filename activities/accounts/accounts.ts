import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import {
  createPendingAccount,
  requestSmartAccountForContact,
  smartAccountRequestRefused,
  startActivationWorkflow,
  type RequestedAccount,
} from '../../src/accounts/account-admin';
import type { Db } from '../../src/db/knex';
import { asRefusal, refuse } from '../shared/errors';
import { writeListStatus, type ListStatus, type StatusProjection } from '../orders/records';
import type { Outbox } from '../shared/outbox';
import type { createSecureLinkSender } from '../shared/secure-links';
import type { AccountRow, OrderRow, UserRow } from '../../src/db/rows';
import { activationLinkEmail } from './activation-link';

// The request logic (R2) lives in src/accounts/account-admin.ts, shared with the API's standalone
// request; these names stay importable from here.
export { requestedAccountId, type RequestedAccount } from '../../src/accounts/account-admin';

/** The account activities the order workers run: the R2 request, and the activation emails. */
export function createAccountActivities(deps: {
  db: Db;
  temporal: Client;
  sendLinkEmail: ReturnType<typeof createSecureLinkSender>;
  outbox: Pick<Outbox, 'withdraw'>;
}) {
  return {
    createPendingAccount,
    ...createAccountRequestActivities(deps),
    ...createActivationEmailActivities(deps),
  };
}

/** R2 requests and the orders that wait for a requested account's activation. */
function createAccountRequestActivities({ db, temporal }: { db: Db; temporal: Client }) {
  return {
    /**
     * R2: a partner requests a Smart Account for the end customer. The contact's email domain
     * must equal the requested domain and the contact must have a registered user ID; otherwise
     * the request is refused with the reason (and the refusal is recorded).
     */
    async requestSmartAccount(request: {
      orderId: string;
      domain: string;
      /** The registered user ID the booking gave for the contact, if any: it must be theirs. */
      claimedRegisteredId?: string;
    }): Promise<RequestedAccount> {
      const order = await db<OrderRow>('orders').where({ id: request.orderId }).first();
      if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
      const contact = order.end_customer_contact_id
        ? await db<UserRow>('users').where({ id: order.end_customer_contact_id }).first()
        : null;
      return asRefusal(async () => {
        if (!contact) throw smartAccountRequestRefused(request.domain, 'the order names no end-customer contact');
        const { account } = await requestSmartAccountForContact(db, {
          domain: request.domain,
          contact: { id: Number(contact.id), email: contact.email, registered_id: contact.registered_id },
          requestedByPartnerId: order.partner_id,
          ...(request.claimedRegisteredId ? { claimedRegisteredId: request.claimedRegisteredId } : {}),
        });
        return account;
      });
    },

    /**
     * Marks the order as waiting for the account's activation and registers it with the
     * account's activation workflow, starting that workflow if needed.
     */
    async registerForActivation(request: {
      orderId: string;
      accountId: string;
      domain: string;
      orderWorkflowId: string;
      listStatus: ListStatus;
      status?: StatusProjection;
    }): Promise<void> {
      await db.transaction(async (trx) => {
        await writeListStatus(trx, request.orderId, request.listStatus, {
          extra: { customer_domain: request.domain },
          projection: request.status,
          event: {
            type: 'awaiting_activation',
            idempotencyKey: `${request.orderWorkflowId}:awaiting-activation:${request.accountId}`,
            details: { accountId: request.accountId },
          },
        });
      });
      await startActivationWorkflow(temporal, {
        accountId: request.accountId,
        domain: request.domain,
        taskQueue: Context.current().info.taskQueue,
        waitingOrderWorkflowId: request.orderWorkflowId,
      });
    },

    async getAccountStatus(accountId: string): Promise<string> {
      const account = await db<AccountRow>('accounts').where({ id: accountId }).first('status');
      if (!account) throw refuse('UnknownAccount', `account "${accountId}" does not exist`);
      return account.status;
    },
  };
}

/** The activation link to a requested account's contact: the first request and the reminders. */
function createActivationEmailActivities(deps: {
  db: Db;
  sendLinkEmail: ReturnType<typeof createSecureLinkSender>;
  outbox: Pick<Outbox, 'withdraw'>;
}) {
  const { db, sendLinkEmail, outbox } = deps;
  return {
    /** Emails the account's contact a single-use activation link (first request or reminder). */
    async sendActivationRequest(request: {
      accountId: string;
      idempotencyKey: string;
      reminderNumber?: number;
    }): Promise<'sent' | 'already-active'> {
      const account = await db<AccountRow>('accounts').where({ id: request.accountId }).first();
      if (!account) throw refuse('UnknownAccount', `account "${request.accountId}" does not exist`);
      // Activated while we slept (and its signal lost or late): no reminder for an active account.
      if (account.status === 'active') {
        // An earlier attempt of this very email may have queued it (SMTP down, or Postgres gone
        // after SMTP accepted it): settle that row, or it would stay pending forever.
        await outbox.withdraw(request.idempotencyKey, 'not sent: the account was active at the next attempt');
        return 'already-active';
      }
      const contact = account.primary_contact_id ? await db<UserRow>('users').where({ id: account.primary_contact_id }).first() : null;
      if (!contact) throw refuse('UnknownAccount', `account "${request.accountId}" has no contact to activate it`);
      await sendLinkEmail({ ...activationLinkEmail(account, contact, request.reminderNumber), idempotencyKey: request.idempotencyKey });
      return 'sent';
    },
  };
}
