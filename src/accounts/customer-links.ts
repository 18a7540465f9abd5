import type { Client } from '@temporalio/client';
import type { Db } from '../db/knex';
import { emailDomain } from '../orders/order';
import type { OrderStatus } from '../orders/order-lifecycle';
import { claimLink, isLinkProblem, type LinkProblem } from '../security/link-claims';
import { hashToken, isWellFormedToken, tokenHashHex } from '../security/tokens';
import {
  accountActivatedSignal,
  ACTIVATION_WORKFLOW_TYPE,
  activationWorkflowId,
  submitCustomerChoiceUpdate,
  type ActivationWorkflowInput,
  type CustomerChoice,
} from '../orders/workflow-api';
import type { AccessTokenRow, AccountRow, OrderRow, SmartAccountRequestRow, UserRow, VirtualAccountRow } from '../db/rows';

/**
 * What the customer page behind the email links does: open a delegation link (the order and the
 * Smart Accounts of the contact's domain), submit the contact's choice, and activate a Smart
 * Account through an activation link. The page (HTTP) is a thin layer over these.
 */

export class LinkError extends Error {
  constructor(readonly reason: LinkProblem) {
    super(
      reason === 'unknown' ? 'this link is not valid' : reason === 'used' ? 'this link has already been used' : 'this link has expired',
    );
    this.name = 'LinkError';
  }
}

async function openToken(db: Db, token: string, purpose: 'delegation' | 'activation') {
  if (!isWellFormedToken(token)) throw new LinkError('unknown');
  const row = await db<AccessTokenRow>('access_tokens')
    .where({ token_hash: hashToken(token), purpose })
    .first();
  if (!row) throw new LinkError('unknown');
  if (row.used_at) throw new LinkError('used');
  if (new Date(row.expires_at).getTime() <= Date.now()) throw new LinkError('expired');
  return row;
}

/** The account an activation link activates, without using the link (the page shows it first). */
export async function openActivation(
  db: Db,
  token: string,
): Promise<{ account: { id: string; name: string; domain: string; status: string } }> {
  const row = await openToken(db, token, 'activation');
  const account = await db<AccountRow>('accounts').where({ id: row.account_id! }).first('id', 'name', 'domain', 'status');
  if (!account) throw new LinkError('unknown');
  return { account: { ...account, domain: account.domain! } };
}

export interface SmartAccountChoice {
  accountId: string;
  name: string;
  status: string;
  virtualAccounts: string[];
}

/** R2/S4: the Smart Accounts of a domain with their virtual accounts, for search and the delegation page. */
export async function findSmartAccountsByDomain(db: Db, domain: string): Promise<SmartAccountChoice[]> {
  const accounts = await db<AccountRow>('accounts')
    .where({ kind: 'smart_account', domain: domain.toLowerCase() })
    .whereNot('status', 'closed')
    .orderBy('name')
    .select('id', 'name', 'status');
  const vas = await db<VirtualAccountRow>('virtual_accounts')
    .whereIn(
      'account_id',
      accounts.map((a) => a.id),
    )
    .orderBy('path')
    .select('account_id', 'path');
  return accounts.map((a) => ({
    accountId: a.id,
    name: a.name,
    status: a.status,
    virtualAccounts: vas.filter((v) => v.account_id === a.id).map((v) => v.path),
  }));
}

export interface OpenedDelegation {
  orderId: string;
  workflowId: string;
  domain: string;
  smartAccounts: SmartAccountChoice[];
}

export async function openDelegation(db: Db, token: string): Promise<OpenedDelegation> {
  const row = await openToken(db, token, 'delegation');
  const order = (await db<OrderRow>('orders').where({ id: row.order_id! }).first('id', 'workflow_id'))!;
  const contact = (await db<UserRow>('users').where({ id: row.contact_id }).first('email'))!;
  const domain = emailDomain(contact.email);
  return { orderId: order.id, workflowId: order.workflow_id, domain, smartAccounts: await findSmartAccountsByDomain(db, domain) };
}

/** Sends the contact's choice to the order as an Update; the workflow checks and uses up the link. */
export async function submitCustomerChoice(deps: { db: Db; client: Client }, token: string, choice: CustomerChoice): Promise<OrderStatus> {
  const opened = await openDelegation(deps.db, token);
  return deps.client.workflow
    .getHandle(opened.workflowId)
    .executeUpdate(submitCustomerChoiceUpdate, { args: [{ tokenHash: tokenHashHex(token), choice }] });
}

/**
 * S5/S4: the contact activates their new Smart Account through the activation link. The account
 * becomes active in Postgres, the link is used up, and the account's activation workflow is told,
 * which tells every order waiting for it.
 */
export async function activateSmartAccount(
  deps: { db: Db; client: Client; taskQueue: string },
  token: string,
): Promise<{ accountId: string }> {
  const account = await deps.db.transaction(async (trx): Promise<{ id: string; domain: string }> => {
    // The claim comes first: of two concurrent activations one gets the row, the other LinkError('used').
    const row = await claimLink<Pick<AccessTokenRow, 'id' | 'account_id'>>(trx, 'activation', token, ['id', 'account_id']);
    if (isLinkProblem(row)) throw new LinkError(row);
    // The account's other activation links (reminders, retried sends) die with it.
    await trx<AccessTokenRow>('access_tokens')
      .where({ account_id: row.account_id!, purpose: 'activation' })
      .whereNull('used_at')
      .update({ used_at: trx.fn.now() });
    await trx<AccountRow>('accounts')
      .where({ id: row.account_id! })
      .whereIn('status', ['requested', 'pending_activation'])
      .update({ status: 'active', activated_at: trx.fn.now() });
    await trx<SmartAccountRequestRow>('smart_account_requests').where({ account_id: row.account_id! }).update({ status: 'activated' });
    const activated = (await trx<AccountRow>('accounts').where({ id: row.account_id! }).first('id', 'domain'))!;
    return { id: activated.id, domain: activated.domain! };
  });
  const input: ActivationWorkflowInput = { accountId: account.id, domain: account.domain };
  await deps.client.workflow.signalWithStart(ACTIVATION_WORKFLOW_TYPE, {
    workflowId: activationWorkflowId(account.id),
    taskQueue: deps.taskQueue,
    args: [input],
    signal: accountActivatedSignal,
    signalArgs: [],
  });
  return { accountId: account.id };
}
