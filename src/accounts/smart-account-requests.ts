import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { DOMAIN_PATTERN, emailDomain, ID_PATTERN, isValidEmail, type ContactInput, type FieldError } from '../orders/order';
import {
  ACTIVATION_WORKFLOW_TYPE,
  activationWorkflowId,
  registerWaitingOrderSignal,
  type ActivationWorkflowInput,
} from '../orders/workflow-api';
import { findSmartAccountsByDomain } from './customer-links';
import { PlacementRefusal, type AccountRow } from './placement-rules';
import type { AccountRow as AccountTableRow, PartnerRow, RoleGrantRow, SmartAccountRequestRow, UserRow } from '../db/rows';
import { check, findOrCreateUser, ID_REASON, isOneLine, NAME_REASON } from './account-records';
import type { Grantee } from './roles';

/** Smart Account search and requests (R2, S5): find a domain's accounts, request one for a contact, start its activation. */

export interface SmartAccountSearchResult {
  accountId: string;
  name: string;
  domain: string;
  status: string;
  /** Present only when the viewer may see inside the account. */
  virtualAccounts?: string[];
}

/**
 * The Smart Accounts of a domain (FAQ: "How can I determine if my customer has already set up…").
 * Anyone may learn that an account exists; its virtual accounts are shown only to an operator
 * or to a partner or user holding a live role on that account (R11, R24).
 */
export async function searchSmartAccounts(db: Db, domain: string, viewer: Grantee): Promise<SmartAccountSearchResult[]> {
  check(DOMAIN_PATTERN.test(domain) ? [] : [{ field: 'domain', reason: 'must be a lower-case domain name such as acme.com' }]);
  const accounts = await findSmartAccountsByDomain(db, domain);
  const visible =
    viewer.kind === 'operator'
      ? new Set(accounts.map((a) => a.accountId))
      : new Set<string>(
          await db<RoleGrantRow>('role_grants')
            .whereIn(
              'account_id',
              accounts.map((a) => a.accountId),
            )
            .where(viewer.kind === 'partner' ? { partner_id: viewer.partnerId } : { user_id: viewer.userId })
            .whereNull('revoked_at')
            .distinct()
            .pluck('account_id'),
        );
  return accounts.map((a) => ({
    accountId: a.accountId,
    name: a.name,
    domain,
    status: a.status,
    ...(visible.has(a.accountId) ? { virtualAccounts: a.virtualAccounts } : {}),
  }));
}

export interface RequestedAccount {
  accountId: string;
  domain: string;
  status: 'pending_activation' | 'active';
}

/** A stable account ID for a request, so a retried request creates nothing new. */
export function requestedAccountId(domain: string, contactId: string | number): string {
  const digest = createHash('sha256').update(`${domain}\n${contactId}`).digest('hex').slice(0, 8);
  return `sa-${domain.replace(/[^a-z0-9]+/g, '-')}-${digest}`;
}

/**
 * Creates (or finds) the Smart Account pending activation requested for a contact and records the
 * request; one account per domain and contact. `alreadyRequested` tells whether this domain and
 * contact had a live request (pending or activated) before: then nothing new was written.
 */
export async function openSmartAccountRequest(
  trx: Knex,
  input: { domain: string; contactId: string | number; name: string; requestedByPartnerId: string },
): Promise<{ account: RequestedAccount; alreadyRequested: boolean }> {
  const accountId = requestedAccountId(input.domain, input.contactId);
  await trx<AccountTableRow>('accounts')
    .insert({
      id: accountId,
      kind: 'smart_account',
      name: input.name,
      domain: input.domain,
      status: 'pending_activation',
      primary_contact_id: input.contactId,
    })
    .onConflict('id')
    .ignore();
  const inserted = await trx<SmartAccountRequestRow>('smart_account_requests')
    .insert({
      domain: input.domain,
      contact_id: input.contactId,
      requested_by_partner_id: input.requestedByPartnerId,
      account_id: accountId,
      status: 'pending_activation',
    })
    .onConflict(['domain', 'contact_id'])
    .ignore()
    .returning('id');
  let alreadyRequested = false;
  if (inserted.length === 0) {
    // Locked, so two requests for the same contact agree on which of them was the first.
    const existing = (await trx<SmartAccountRequestRow>('smart_account_requests')
      .where({ domain: input.domain, contact_id: input.contactId })
      .forUpdate()
      .first('status', 'account_id'))!;
    alreadyRequested = existing.status !== 'refused' && existing.account_id === accountId;
    if (!alreadyRequested) {
      // A refused request the contact now qualifies for (say, they registered an ID since).
      await trx<SmartAccountRequestRow>('smart_account_requests')
        .where({ domain: input.domain, contact_id: input.contactId })
        .update({
          account_id: accountId,
          status: trx.raw("CASE WHEN status = 'activated' THEN 'activated' ELSE 'pending_activation' END"),
          refusal_reason: null,
        });
    }
  }
  const account = (await trx<AccountRow>('accounts').where({ id: accountId }).first('status'))!;
  return {
    account: { accountId, domain: input.domain, status: account.status === 'active' ? 'active' : 'pending_activation' },
    alreadyRequested,
  };
}

/** The same, for callers that do not care whether it was new (delegation: the contact creates their account). */
export async function createPendingAccount(
  trx: Knex,
  input: { domain: string; contactId: string | number; name: string; requestedByPartnerId: string },
): Promise<RequestedAccount> {
  return (await openSmartAccountRequest(trx, input)).account;
}

export function smartAccountRequestRefused(domain: string, reason: string): PlacementRefusal {
  return new PlacementRefusal('SmartAccountRequestRefused', `Smart Account request for ${domain} refused: ${reason}`, { reason });
}

export interface RequestContact {
  id: number;
  email: string;
  registered_id: string | null;
}

/**
 * R2 (FAQ: "Can I request a Smart Account for my customers?"): the contact's email domain must
 * equal the requested domain and the contact must have a registered user ID, which comes only
 * from the identity records (users.registered_id): an ID the requester types must be the
 * contact's, but never stands in for one. A refusal is recorded against the domain and contact,
 * and thrown with the reason; otherwise the account is created pending activation (or found).
 * Orders (request_smart_account) and the standalone request both come through here.
 */
export async function requestSmartAccountForContact(
  db: Db,
  request: { domain: string; contact: RequestContact; requestedByPartnerId: string; claimedRegisteredId?: string; accountName?: string },
): Promise<{ account: RequestedAccount; alreadyRequested: boolean }> {
  const { domain, contact } = request;
  const reason = contactRefusalReason(domain, contact, request.claimedRegisteredId);
  if (reason) {
    await db<SmartAccountRequestRow>('smart_account_requests')
      .insert({
        domain,
        contact_id: contact.id,
        requested_by_partner_id: request.requestedByPartnerId,
        status: 'refused',
        refusal_reason: reason,
      })
      .onConflict(['domain', 'contact_id'])
      .merge({ status: 'refused', refusal_reason: reason });
    throw smartAccountRequestRefused(domain, reason);
  }
  return db.transaction((trx) =>
    openSmartAccountRequest(trx, {
      domain,
      contactId: contact.id,
      name: request.accountName ?? domain,
      requestedByPartnerId: request.requestedByPartnerId,
    }),
  );
}

/**
 * Why `contact` cannot be the contact of a new Smart Account for `domain`, or undefined: the
 * rules of requestSmartAccountForContact, also run by the booking's pre-check (its 201 says why).
 */
export function contactRefusalReason(
  domain: string,
  contact: { email: string; registered_id?: string | null },
  claimedRegisteredId?: string,
): string | undefined {
  if (emailDomain(contact.email) !== domain) {
    return `the contact's email domain "${emailDomain(contact.email)}" does not match the requested domain "${domain}"`;
  }
  if (!contact.registered_id) return 'the contact has no registered user ID; they must register one first';
  if (claimedRegisteredId && claimedRegisteredId !== contact.registered_id)
    return "the registered user ID given for the contact is not the contact's";
  return undefined;
}

/**
 * Starts the account's activation entity workflow (`smart-account-<accountId>`), which emails the
 * contact an activation link once and reminds them. An order registers itself as waiting
 * (signal-with-start); a request without an order only makes sure the workflow runs, joining the
 * running one if there is one, so a repeated request sends nothing new.
 */
export async function startActivationWorkflow(
  client: Client,
  request: { accountId: string; domain: string; taskQueue: string; waitingOrderWorkflowId?: string },
): Promise<void> {
  const input: ActivationWorkflowInput = { accountId: request.accountId, domain: request.domain };
  const options = {
    workflowId: activationWorkflowId(request.accountId),
    taskQueue: request.taskQueue,
    args: [input] as [ActivationWorkflowInput],
    staticSummary: `Activation of Smart Account ${request.accountId} (${request.domain})`,
  };
  if (request.waitingOrderWorkflowId) {
    await client.workflow.signalWithStart(ACTIVATION_WORKFLOW_TYPE, {
      ...options,
      signal: registerWaitingOrderSignal,
      signalArgs: [{ workflowId: request.waitingOrderWorkflowId }],
    });
  } else {
    await client.workflow.start(ACTIVATION_WORKFLOW_TYPE, { ...options, workflowIdConflictPolicy: 'USE_EXISTING' });
  }
}

export interface SmartAccountRequestResult extends RequestedAccount {
  alreadyRequested: boolean;
}

/**
 * A partner requests a Smart Account for an end customer outside any order (R2). The contact
 * becomes known (like a booking naming them), the R2 checks run, and a valid request creates the
 * account pending activation and starts its activation workflow, which emails the contact.
 * Repeating it for the same domain and contact writes and mails nothing new.
 */
export async function requestSmartAccount(
  deps: { db: Db; client: Client; taskQueue: string },
  request: { domain: string; contact: ContactInput; requestedByPartnerId: string },
): Promise<SmartAccountRequestResult> {
  const errors: FieldError[] = [];
  if (typeof request.domain !== 'string' || !DOMAIN_PATTERN.test(request.domain)) {
    errors.push({ field: 'domain', reason: 'must be a lower-case domain name such as acme.com' });
  }
  if (typeof request.contact?.email !== 'string' || !isValidEmail(request.contact.email))
    errors.push({ field: 'contact.email', reason: 'must be an email address' });
  if (request.contact?.fullName !== undefined && !isOneLine(request.contact.fullName, 200))
    errors.push({ field: 'contact.fullName', reason: NAME_REASON });
  if (request.contact?.registeredId !== undefined && !ID_PATTERN.test(request.contact.registeredId)) {
    errors.push({ field: 'contact.registeredId', reason: ID_REASON });
  }
  if (typeof request.requestedByPartnerId !== 'string' || !ID_PATTERN.test(request.requestedByPartnerId)) {
    errors.push({ field: 'requestedByPartnerId', reason: ID_REASON });
  }
  check(errors);
  const { db } = deps;
  if (!(await db<PartnerRow>('partners').where({ id: request.requestedByPartnerId }).first('id'))) {
    throw new PlacementRefusal('UnknownPartner', `partner "${request.requestedByPartnerId}" does not exist`, {
      partnerId: request.requestedByPartnerId,
    });
  }
  const contactId = await findOrCreateUser(db, request.contact);
  const contact = (await db<UserRow>('users').where({ id: contactId }).first('id', 'email', 'registered_id'))!;
  const { account, alreadyRequested } = await requestSmartAccountForContact(db, {
    domain: request.domain,
    contact: { ...contact, id: Number(contact.id) },
    requestedByPartnerId: request.requestedByPartnerId,
    ...(request.contact.registeredId ? { claimedRegisteredId: request.contact.registeredId } : {}),
  });
  // Also on a repeat: if the first attempt stopped between the rows and the workflow, this
  // finishes it; a running workflow is joined, and an email already sent is not sent again.
  if (account.status !== 'active') {
    await startActivationWorkflow(deps.client, { accountId: account.accountId, domain: account.domain, taskQueue: deps.taskQueue });
  }
  return { ...account, alreadyRequested };
}
