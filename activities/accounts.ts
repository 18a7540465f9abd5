import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Db } from '../src/db/knex';
import { emailDomain } from '../src/domain/order';
import { isoDateOf } from '../src/domain/dates';
import {
  ACTIVATION_WORKFLOW_TYPE,
  activationWorkflowId,
  registerWaitingOrderSignal,
  type ActivationWorkflowInput,
} from '../src/temporal/order-workflow-api';
import { refuse } from './errors';
import { recordOrderEvent, writeListStatus, type ListStatus } from './records';
import type { createSecureLinkSender } from './secure-links';

export interface RequestedAccount {
  accountId: string;
  domain: string;
  status: 'pending_activation' | 'active';
}

/** A stable account ID for a request, so a retried request creates nothing new. */
export function requestedAccountId(domain: string, contactId: number): string {
  const digest = createHash('sha256').update(`${domain}\n${contactId}`).digest('hex').slice(0, 8);
  return `sa-${domain.replace(/[^a-z0-9]+/g, '-')}-${digest}`;
}

export function createAccountActivities(deps: {
  db: Db;
  temporal: Client;
  sendLinkEmail: ReturnType<typeof createSecureLinkSender>;
}) {
  const { db, temporal, sendLinkEmail } = deps;

  /** Creates (or finds) a Smart Account pending activation for a contact and records the request. */
  async function createPendingAccount(
    trx: Db,
    input: { domain: string; contactId: number; name: string; requestedByPartnerId: string },
  ): Promise<RequestedAccount> {
    const accountId = requestedAccountId(input.domain, input.contactId);
    await trx('accounts')
      .insert({ id: accountId, kind: 'smart_account', name: input.name, domain: input.domain, status: 'pending_activation', primary_contact_id: input.contactId })
      .onConflict('id')
      .ignore();
    await trx('smart_account_requests')
      .insert({ domain: input.domain, contact_id: input.contactId, requested_by_partner_id: input.requestedByPartnerId, account_id: accountId, status: 'pending_activation' })
      .onConflict(['domain', 'contact_id'])
      .merge({ account_id: accountId, status: trx.raw("CASE WHEN smart_account_requests.status = 'activated' THEN 'activated' ELSE 'pending_activation' END"), refusal_reason: null });
    const account = await trx('accounts').where({ id: accountId }).first('status');
    return { accountId, domain: input.domain, status: account.status === 'active' ? 'active' : 'pending_activation' };
  }

  return {
    createPendingAccount,

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
      const order = await db('orders').where({ id: request.orderId }).first();
      if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
      const contact = order.end_customer_contact_id ? await db('users').where({ id: order.end_customer_contact_id }).first() : null;
      let reason: string | undefined;
      if (!contact) reason = 'the order names no end-customer contact';
      else if (emailDomain(contact.email) !== request.domain) {
        reason = `the contact's email domain "${emailDomain(contact.email)}" does not match the requested domain "${request.domain}"`;
      } else if (!contact.registered_id) {
        reason = 'the contact has no registered user ID; they must register one first';
      } else if (request.claimedRegisteredId && request.claimedRegisteredId !== contact.registered_id) {
        reason = "the registered user ID given for the contact is not the contact's";
      }
      if (reason) {
        if (contact) {
          await db('smart_account_requests')
            .insert({ domain: request.domain, contact_id: contact.id, requested_by_partner_id: order.partner_id, status: 'refused', refusal_reason: reason })
            .onConflict(['domain', 'contact_id'])
            .merge({ status: 'refused', refusal_reason: reason });
        }
        throw refuse('SmartAccountRequestRefused', `Smart Account request for ${request.domain} refused: ${reason}`, { reason });
      }
      return db.transaction((trx) =>
        createPendingAccount(trx, { domain: request.domain, contactId: contact.id, name: request.domain, requestedByPartnerId: order.partner_id }),
      );
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
    }): Promise<void> {
      await db.transaction(async (trx) => {
        await writeListStatus(trx, request.orderId, request.listStatus, { customer_domain: request.domain });
        await recordOrderEvent(trx, {
          orderId: request.orderId,
          type: 'awaiting_activation',
          idempotencyKey: `${request.orderWorkflowId}:awaiting-activation:${request.accountId}`,
          details: { accountId: request.accountId },
        });
      });
      const input: ActivationWorkflowInput = { accountId: request.accountId, domain: request.domain };
      await temporal.workflow.signalWithStart(ACTIVATION_WORKFLOW_TYPE, {
        workflowId: activationWorkflowId(request.accountId),
        taskQueue: Context.current().info.taskQueue,
        args: [input],
        signal: registerWaitingOrderSignal,
        signalArgs: [{ workflowId: request.orderWorkflowId }],
        staticSummary: `Activation of Smart Account ${request.accountId} (${request.domain})`,
      });
    },

    async getAccountStatus(accountId: string): Promise<string> {
      const account = await db('accounts').where({ id: accountId }).first('status');
      if (!account) throw refuse('UnknownAccount', `account "${accountId}" does not exist`);
      return account.status;
    },

    /** Emails the account's contact a single-use activation link (first request or reminder). */
    async sendActivationRequest(request: {
      accountId: string;
      idempotencyKey: string;
      reminderNumber?: number;
    }): Promise<'sent' | 'already-active'> {
      const account = await db('accounts').where({ id: request.accountId }).first();
      if (!account) throw refuse('UnknownAccount', `account "${request.accountId}" does not exist`);
      // Activated while we slept (and its signal lost or late): no reminder for an active account.
      if (account.status === 'active') return 'already-active';
      const contact = account.primary_contact_id ? await db('users').where({ id: account.primary_contact_id }).first() : null;
      if (!contact) throw refuse('UnknownAccount', `account "${request.accountId}" has no contact to activate it`);
      await sendLinkEmail({
        purpose: 'activation',
        path: 'activations',
        orderId: null,
        accountId: account.id,
        contact: { id: contact.id, email: contact.email, fullName: contact.full_name },
        template: 'activation-request',
        // About the account only: the orders waiting for it may be several, of several partners.
        facts: {
          orderId: '',
          externalReference: '',
          partnerName: '',
          lines: [],
          today: isoDateOf(Date.now()),
          requestedDomain: account.domain,
          ...(request.reminderNumber ? { reminderNumber: request.reminderNumber } : {}),
        },
        idempotencyKey: request.idempotencyKey,
      });
      return 'sent';
    },
  };
}
