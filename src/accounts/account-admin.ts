import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { Db } from '../db/knex';
import { createVirtualAccountPath } from '../dev/demo-data';
import {
  DOMAIN_PATTERN,
  emailDomain,
  ID_PATTERN,
  CONTROL_CHARACTERS,
  isValidEmail,
  ValidationError,
  VIRTUAL_ACCOUNT_PATH_PATTERN,
  type ContactInput,
  type FieldError,
} from '../orders/order';
import {
  ACTIVATION_WORKFLOW_TYPE,
  activationWorkflowId,
  registerWaitingOrderSignal,
  type ActivationWorkflowInput,
} from '../orders/workflow-api';
import { findSmartAccountsByDomain } from './customer-links';
import { PlacementRefusal, type AccountRow } from './placement-rules';

/**
 * Account administration: Smart Account search and requests (R2), virtual accounts, holding-account
 * members (R9) and role grants (R11), as plain functions over Postgres and the Temporal client.
 * The HTTP API and the CLI share them; each decides who may call what, these decide what happens.
 * Refusals are PlacementRefusals (the API answers 422), malformed input a ValidationError (400),
 * so a caller gets the same reasons whichever door it came through. Every write is idempotent.
 */

// ---------------------------------------------------------------- accounts

export async function loadAccount(q: Knex, accountId: string): Promise<AccountRow | undefined> {
  return q('accounts').where({ id: accountId }).first('id', 'kind', 'name', 'domain', 'status', 'owner_partner_id');
}

/** The account, or a refusal naming it (for callers that did not load it themselves). */
async function requireAccount(q: Knex, accountId: string, forUpdate = false): Promise<AccountRow> {
  const query = q('accounts').where({ id: accountId });
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

function assertNotClosed(account: AccountRow): void {
  if (account.status === 'closed') {
    throw new PlacementRefusal('AccountNotActive', `account "${account.id}" is closed`, { accountId: account.id, status: account.status });
  }
}

function check(errors: FieldError[]): void {
  if (errors.length > 0) throw new ValidationError(errors);
}

const ID_REASON = 'must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
const PATH_REASON = 'must be names of 1-80 characters, not starting or ending with a space, joined by "/", at most 16 deep';
const NAME_REASON = 'must be one line of 1-200 characters';

function isOneLine(value: unknown, max: number): boolean {
  return typeof value === 'string' && value.length >= 1 && value.length <= max && !CONTROL_CHARACTERS.test(value);
}

/** Finds a user by email (case-insensitive) or creates one; a name is filled in only where none is known. */
export async function findOrCreateUser(q: Knex, user: { email: string; fullName?: string }): Promise<number> {
  const result = await q.raw(
    `INSERT INTO users (email, full_name) VALUES (?, ?)
     ON CONFLICT ((lower(email))) DO UPDATE SET full_name = COALESCE(users.full_name, EXCLUDED.full_name)
     RETURNING id`,
    [user.email, user.fullName ?? null],
  );
  return Number(result.rows[0].id);
}

// ---------------------------------------------------------------- Smart Account search (R2)

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
 * (`viewerPartnerId` undefined) or to a partner holding a live role on that account (R11).
 */
export async function searchSmartAccounts(db: Db, domain: string, viewerPartnerId?: string): Promise<SmartAccountSearchResult[]> {
  check(DOMAIN_PATTERN.test(domain) ? [] : [{ field: 'domain', reason: 'must be a lower-case domain name such as acme.com' }]);
  const accounts = await findSmartAccountsByDomain(db, domain);
  const visible =
    viewerPartnerId === undefined
      ? new Set(accounts.map((a) => a.accountId))
      : new Set<string>(
          await db('role_grants')
            .whereIn(
              'account_id',
              accounts.map((a) => a.accountId),
            )
            .where({ partner_id: viewerPartnerId })
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

// ---------------------------------------------------------------- Smart Account requests (R2, S5)

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

/**
 * Creates (or finds) the Smart Account pending activation requested for a contact and records the
 * request; one account per domain and contact. `alreadyRequested` tells whether this domain and
 * contact had a live request (pending or activated) before: then nothing new was written.
 */
export async function openSmartAccountRequest(
  trx: Knex,
  input: { domain: string; contactId: number; name: string; requestedByPartnerId: string },
): Promise<{ account: RequestedAccount; alreadyRequested: boolean }> {
  const accountId = requestedAccountId(input.domain, input.contactId);
  await trx('accounts')
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
  const inserted = await trx('smart_account_requests')
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
    const existing = await trx('smart_account_requests')
      .where({ domain: input.domain, contact_id: input.contactId })
      .forUpdate()
      .first('status', 'account_id');
    alreadyRequested = existing.status !== 'refused' && existing.account_id === accountId;
    if (!alreadyRequested) {
      // A refused request the contact now qualifies for (say, they registered an ID since).
      await trx('smart_account_requests')
        .where({ domain: input.domain, contact_id: input.contactId })
        .update({
          account_id: accountId,
          status: trx.raw("CASE WHEN status = 'activated' THEN 'activated' ELSE 'pending_activation' END"),
          refusal_reason: null,
        });
    }
  }
  const account = await trx('accounts').where({ id: accountId }).first('status');
  return {
    account: { accountId, domain: input.domain, status: account.status === 'active' ? 'active' : 'pending_activation' },
    alreadyRequested,
  };
}

/** The same, for callers that do not care whether it was new (delegation: the contact creates their account). */
export async function createPendingAccount(
  trx: Knex,
  input: { domain: string; contactId: number; name: string; requestedByPartnerId: string },
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
  let reason: string | undefined;
  if (emailDomain(contact.email) !== domain) {
    reason = `the contact's email domain "${emailDomain(contact.email)}" does not match the requested domain "${domain}"`;
  } else if (!contact.registered_id) {
    reason = 'the contact has no registered user ID; they must register one first';
  } else if (request.claimedRegisteredId && request.claimedRegisteredId !== contact.registered_id) {
    reason = "the registered user ID given for the contact is not the contact's";
  }
  if (reason) {
    await db('smart_account_requests')
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
  if (!(await db('partners').where({ id: request.requestedByPartnerId }).first('id'))) {
    throw new PlacementRefusal('UnknownPartner', `partner "${request.requestedByPartnerId}" does not exist`, {
      partnerId: request.requestedByPartnerId,
    });
  }
  const contactId = await findOrCreateUser(db, request.contact);
  const contact: RequestContact = await db('users').where({ id: contactId }).first('id', 'email', 'registered_id');
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

// ---------------------------------------------------------------- virtual accounts

export interface VirtualAccountView {
  path: string;
  name: string;
  parentPath: string | null;
}

function viewOfPath(path: string): VirtualAccountView {
  const cut = path.lastIndexOf('/');
  return { path, name: cut < 0 ? path : path.slice(cut + 1), parentPath: cut < 0 ? null : path.slice(0, cut) };
}

/** Every virtual account of a Smart Account or holding account, parents before their children. */
export async function listVirtualAccounts(db: Db, accountId: string): Promise<VirtualAccountView[]> {
  await requireAccount(db, accountId);
  const rows: Array<{ path: string; name: string; parent_path: string | null }> = await db('virtual_accounts as va')
    .leftJoin('virtual_accounts as parent', 'parent.id', 'va.parent_id')
    .where('va.account_id', accountId)
    .orderBy('va.path')
    .select('va.path', 'va.name', 'parent.path as parent_path');
  return rows.map((r) => ({ path: r.path, name: r.name, parentPath: r.parent_path }));
}

/**
 * Creates a virtual account ("Region-US/Finance/Sacramento") and any missing parents. `created`
 * is false when the path existed already (nothing written). The account row is locked for the
 * duration, so two concurrent creations of one path agree on which one created it.
 */
export async function createVirtualAccount(db: Db, accountId: string, path: string): Promise<VirtualAccountView & { created: boolean }> {
  check(typeof path === 'string' && VIRTUAL_ACCOUNT_PATH_PATTERN.test(path) ? [] : [{ field: 'path', reason: PATH_REASON }]);
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, accountId, true);
    assertNotClosed(account);
    const existed = await trx('virtual_accounts').where({ account_id: accountId, path }).first('id');
    if (!existed) await createVirtualAccountPath(trx, accountId, path);
    return { ...viewOfPath(path), created: !existed };
  });
}

// ---------------------------------------------------------------- holding-account members (R9)

export interface MemberView {
  email: string;
  fullName: string | null;
  subscribedAt: string;
}

async function requireHoldingAccount(q: Knex, accountId: string): Promise<AccountRow> {
  const account = await requireAccount(q, accountId);
  assertAccountKind(account, 'holding_account');
  return account;
}

function memberQuery(q: Knex, accountId: string) {
  return q('holding_account_subscriptions as s')
    .join('users as u', 'u.id', 's.user_id')
    .where('s.account_id', accountId)
    .select('u.email', 'u.full_name', 's.created_at');
}

function memberView(row: { email: string; full_name: string | null; created_at: Date }): MemberView {
  return { email: row.email, fullName: row.full_name, subscribedAt: new Date(row.created_at).toISOString() };
}

/** The members signed up to hear about the holding account's orders (told when one is fulfilled). */
export async function listHoldingAccountMembers(db: Db, accountId: string): Promise<MemberView[]> {
  await requireHoldingAccount(db, accountId);
  const rows = await memberQuery(db, accountId).orderBy([{ column: 's.created_at' }, { column: 'u.email' }]);
  return rows.map(memberView);
}

/** Signs a member up (the user is created if unknown); `added` is false when they were a member already. */
export async function addHoldingAccountMember(
  db: Db,
  accountId: string,
  member: { email: string; fullName?: string },
): Promise<{ member: MemberView; added: boolean }> {
  const errors: FieldError[] = [];
  if (typeof member.email !== 'string' || !isValidEmail(member.email)) errors.push({ field: 'email', reason: 'must be an email address' });
  if (member.fullName !== undefined && !isOneLine(member.fullName, 200)) errors.push({ field: 'fullName', reason: NAME_REASON });
  check(errors);
  return db.transaction(async (trx) => {
    const account = await requireHoldingAccount(trx, accountId);
    assertNotClosed(account);
    const userId = await findOrCreateUser(trx, member);
    const inserted = await trx('holding_account_subscriptions')
      .insert({ account_id: accountId, user_id: userId })
      .onConflict(['account_id', 'user_id'])
      .ignore()
      .returning('user_id');
    const row = await memberQuery(trx, accountId).where('u.id', userId).first();
    return { member: memberView(row), added: inserted.length > 0 };
  });
}

/** Removes a member's sign-up (the user stays known); false when they were not a member. */
export async function removeHoldingAccountMember(db: Db, accountId: string, email: string): Promise<boolean> {
  check(typeof email === 'string' && isValidEmail(email) ? [] : [{ field: 'email', reason: 'must be an email address' }]);
  await requireHoldingAccount(db, accountId);
  const removed = await db('holding_account_subscriptions')
    .where({ account_id: accountId })
    .whereIn('user_id', db('users').whereRaw('lower(email) = lower(?)', [email]).select('id'))
    .delete();
  return removed > 0;
}

// ---------------------------------------------------------------- role grants (R11)

export const ROLES = ['sa_admin', 'sa_user', 'va_admin', 'va_user'] as const;
export type Role = (typeof ROLES)[number];
const VIRTUAL_ACCOUNT_ROLES: readonly string[] = ['va_admin', 'va_user'];

export interface RoleGrantView {
  grantId: string;
  partnerId: string;
  role: Role;
  virtualAccountPath: string | null;
  grantedAt: string;
}

function grantQuery(q: Knex, accountId: string) {
  return q('role_grants as g')
    .leftJoin('virtual_accounts as va', 'va.id', 'g.virtual_account_id')
    .where('g.account_id', accountId)
    .whereNull('g.revoked_at')
    .select('g.id', 'g.partner_id', 'g.role', 'va.path', 'g.created_at');
}

function grantView(row: { id: string | number; partner_id: string; role: Role; path: string | null; created_at: Date }): RoleGrantView {
  return {
    grantId: String(row.id),
    partnerId: row.partner_id,
    role: row.role,
    virtualAccountPath: row.path,
    grantedAt: new Date(row.created_at).toISOString(),
  };
}

/** The live role grants on a Smart Account, all of them or one partner's. */
export async function listRoleGrants(db: Db, accountId: string, filter: { partnerId?: string } = {}): Promise<RoleGrantView[]> {
  assertAccountKind(await requireAccount(db, accountId), 'smart_account');
  let query = grantQuery(db, accountId);
  if (filter.partnerId !== undefined) query = query.where('g.partner_id', filter.partnerId);
  const rows = await query.orderBy('g.id');
  return rows.map(grantView);
}

/**
 * The customer grants a partner a role (operators record it for them). sa_* roles cover the whole
 * Smart Account and take no virtual account; va_* roles need one. `created` is false when the same
 * live grant existed: it is returned unchanged.
 */
export async function grantRole(
  db: Db,
  accountId: string,
  grant: { partnerId: string; role: Role; virtualAccountPath?: string },
): Promise<{ grant: RoleGrantView; created: boolean }> {
  const errors: FieldError[] = [];
  if (typeof grant.partnerId !== 'string' || !ID_PATTERN.test(grant.partnerId)) errors.push({ field: 'partnerId', reason: ID_REASON });
  if (!ROLES.includes(grant.role)) errors.push({ field: 'role', reason: `must be one of ${ROLES.join(', ')}` });
  const path = grant.virtualAccountPath;
  if (VIRTUAL_ACCOUNT_ROLES.includes(grant.role)) {
    if (path === undefined) errors.push({ field: 'virtualAccountPath', reason: `is required for a ${grant.role} role` });
    else if (typeof path !== 'string' || !VIRTUAL_ACCOUNT_PATH_PATTERN.test(path))
      errors.push({ field: 'virtualAccountPath', reason: PATH_REASON });
  } else if (ROLES.includes(grant.role) && path !== undefined) {
    errors.push({ field: 'virtualAccountPath', reason: `must be absent for an ${grant.role} role: it covers the whole Smart Account` });
  }
  check(errors);
  return db.transaction(async (trx) => {
    const account = await requireAccount(trx, accountId);
    assertAccountKind(account, 'smart_account');
    assertNotClosed(account);
    if (!(await trx('partners').where({ id: grant.partnerId }).first('id'))) {
      throw new PlacementRefusal('UnknownPartner', `partner "${grant.partnerId}" does not exist`, { partnerId: grant.partnerId });
    }
    let virtualAccountId: number | null = null;
    if (path !== undefined) {
      const va = await trx('virtual_accounts').where({ account_id: accountId, path }).first('id');
      if (!va) {
        throw new PlacementRefusal('UnknownVirtualAccount', `account "${accountId}" has no virtual account "${path}"`, {
          accountId,
          virtualAccountPath: path,
        });
      }
      virtualAccountId = Number(va.id);
    }
    // The partial unique index on live grants makes a repeated grant a no-op, even when concurrent.
    const inserted = await trx.raw(
      `INSERT INTO role_grants (account_id, virtual_account_id, partner_id, role) VALUES (?, ?, ?, ?)
       ON CONFLICT (account_id, virtual_account_id, partner_id, user_id, role) WHERE revoked_at IS NULL DO NOTHING
       RETURNING id`,
      [accountId, virtualAccountId, grant.partnerId, grant.role],
    );
    const row = await grantQuery(trx, accountId)
      .where({ 'g.partner_id': grant.partnerId, 'g.role': grant.role })
      .where((w) => (virtualAccountId === null ? w.whereNull('g.virtual_account_id') : w.where('g.virtual_account_id', virtualAccountId)))
      .first();
    return { grant: grantView(row), created: inserted.rows.length > 0 };
  });
}

/** Revokes a grant of this account: 'revoked', 'already-revoked' (nothing changes), or 'unknown'. */
export async function revokeRole(db: Db, accountId: string, grantId: string): Promise<'revoked' | 'already-revoked' | 'unknown'> {
  check(/^[1-9][0-9]{0,17}$/.test(grantId) ? [] : [{ field: 'grantId', reason: 'must be a grant ID (a whole number)' }]);
  assertAccountKind(await requireAccount(db, accountId), 'smart_account');
  const updated = await db('role_grants')
    .where({ id: grantId, account_id: accountId })
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() });
  if (updated > 0) return 'revoked';
  return (await db('role_grants').where({ id: grantId, account_id: accountId }).first('id')) ? 'already-revoked' : 'unknown';
}
