import type { Config } from '../../src/config';
import { isoDateOf } from '../../src/common/dates';
import type { Db } from '../../src/db/knex';
import type { AccountRow, UserRow } from '../../src/db/rows';
import type { Mailer } from '../../src/email/mailer';
import { LinkResendRefusal } from '../../src/orders/link-routes';
import { createLinkReplacer } from '../shared/link-resend';
import type { LinkEmail } from '../shared/secure-links';

export type ResendActivationLink = (accountId: string, requestKey: string) => Promise<{ repeated: boolean }>;

/** The activation email of an account to its contact: the first request, a reminder, or a resent link. */
export function activationLinkEmail(
  account: Pick<AccountRow, 'id' | 'domain'>,
  contact: Pick<UserRow, 'id' | 'email' | 'full_name'>,
  reminderNumber?: number,
): Omit<LinkEmail, 'idempotencyKey'> {
  return {
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
      requestedDomain: account.domain ?? undefined,
      ...(reminderNumber ? { reminderNumber } : {}),
    },
  };
}

/**
 * A new activation link for a Smart Account pending activation, asked for by the partner who
 * requested it or an operator (the pages tell a contact with a dead link to ask that partner).
 * The account's earlier activation links die at once (activities/shared/link-resend.ts); the
 * activation workflow's reminders go on, and any link activates the account.
 */
export function createActivationLinkResender(deps: { db: Db; mailer: Mailer; config: Config }): ResendActivationLink {
  const { db } = deps;
  const replaceLink = createLinkReplacer(deps);
  return async function resendActivationLink(accountId, requestKey) {
    const account = await db<AccountRow>('accounts').where({ id: accountId }).first();
    if (account?.kind !== 'smart_account' || account.status !== 'pending_activation') {
      const state = account ? `is ${account.status === 'active' ? 'already active' : account.status}` : 'does not exist';
      throw new LinkResendRefusal(`Smart Account ${accountId} ${state}, so it has no activation link to replace`);
    }
    const contact = account.primary_contact_id ? await db<UserRow>('users').where({ id: account.primary_contact_id }).first() : undefined;
    if (!contact) throw new LinkResendRefusal(`Smart Account ${accountId} has no contact to activate it`);
    return replaceLink(activationLinkEmail(account, contact), requestKey);
  };
}
