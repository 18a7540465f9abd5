import { PlacementRefusal, precheckPlacement } from '../accounts/placement-rules';
import { contactRefusalReason, smartAccountRequestRefused } from '../accounts/smart-account-requests';
import { actingPartner, partnerOf } from '../api/access';
import type { Principal } from '../api/auth';
import type { ApiDependencies } from '../api/dependencies';
import { forbidden } from '../api/errors';
import type { BookOrderRequest } from '../api/schemas';
import type { Db } from '../db/knex';
import type { DistributorResellerRow, UserRow } from '../db/rows';
import type { BookOrderInput } from './order';

/** R10: who an API key may book for. A partner books for itself; a distributor for itself or its resellers. */
export async function checkBookingParties(deps: ApiDependencies, principal: Principal, body: BookOrderRequest): Promise<BookOrderInput> {
  const bookedByPartnerId = actingPartner(principal, body.bookedByPartnerId, 'bookedByPartnerId');
  if (principal.role !== 'operator' && body.partnerId !== undefined && body.partnerId !== partnerOf(principal)) {
    const partnerId = partnerOf(principal);
    const isReseller =
      principal.role === 'distributor' &&
      (await deps
        .db<DistributorResellerRow>('distributor_resellers')
        .where({ distributor_id: partnerId, reseller_id: body.partnerId })
        .first());
    if (!isReseller) throw forbidden(`partnerId "${body.partnerId}" is not a reseller of "${partnerId}"`);
  }
  return { ...body, bookedByPartnerId };
}

/** Why the booked assignment will be refused, as the API's error body says it. */
export interface AssignmentRefusal {
  error: string;
  message: string;
}

/**
 * The placement activity's checks (src/accounts/placement-rules.ts), run against the booking
 * before its workflow starts: an account the order can never be placed in is refused at once.
 * The order is still booked (it is a sale; it waits for a valid assignment, S10), but the
 * caller learns why in the 201 instead of finding out from a partner email later.
 */
export async function assignmentRefusalOf(db: Db, booking: BookOrderInput): Promise<AssignmentRefusal | undefined> {
  const { assignment } = booking;
  if (assignment.kind === 'request_smart_account') return requestRefusalOf(db, assignment.domain, booking.endCustomerContact);
  if (assignment.kind !== 'smart_account' && assignment.kind !== 'holding_account') return undefined;
  try {
    // One statement, no lock: the order is booked either way, and the placement activity judges again, locked.
    const account = await precheckPlacement(db, assignment, booking.bookedByPartnerId);
    if (
      account.kind === 'holding_account' &&
      ![booking.partnerId ?? booking.bookedByPartnerId, booking.bookedByPartnerId].includes(account.owner_partner_id ?? '')
    ) {
      // R10: the order's partner's own holding account, or the distributor's that booked it.
      throw new PlacementRefusal(
        'NotAuthorized',
        `holding account "${account.id}" belongs to neither the order's partner nor the distributor that booked it`,
      );
    }
    return undefined;
  } catch (err) {
    if (err instanceof PlacementRefusal) return { error: err.type, message: err.message };
    throw err;
  }
}

/** The Smart Account request's contact rules (S5), judged before the workflow judges them again. */
async function requestRefusalOf(
  db: Db,
  domain: string,
  contact: BookOrderInput['endCustomerContact'],
): Promise<AssignmentRefusal | undefined> {
  if (!contact) return undefined;
  const known = await db<UserRow>('users').whereRaw('lower(email) = lower(?)', [contact.email]).first('registered_id');
  const reason = contactRefusalReason(domain, { email: contact.email, registered_id: known?.registered_id }, contact.registeredId);
  if (!reason) return undefined;
  const refusal = smartAccountRequestRefused(domain, reason);
  return { error: refusal.type, message: refusal.message };
}
