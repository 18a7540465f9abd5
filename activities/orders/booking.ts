import type { Db } from '../../src/db/knex';
import type { OrderFulfillmentInput } from '../../src/orders/order';
import { findOrCreateUser } from '../../src/accounts/account-admin';
import { countPhaseEnteredOnCommit } from '../../src/orders/phase-metrics';
import { initialOrderState, orderStatusOf } from '../../src/orders/order-lifecycle';
import { refuse } from '../shared/errors';
import { recordOrderEvent } from './records';
import type { DistributorResellerRow, OrderLineRow, OrderRow, PartnerRow } from '../../src/db/rows';

/** Writes the booked order, its lines and a "booked" event in one transaction; a retry writes nothing new. */
export function createBookingActivities(db: Db) {
  return {
    async recordBooking(input: OrderFulfillmentInput, workflowId: string): Promise<void> {
      await db.transaction(async (trx) => {
        const partnerIds = [...new Set([input.bookedByPartnerId, input.partnerId])];
        const partners = await trx<PartnerRow>('partners').whereIn('id', partnerIds).pluck('id');
        for (const id of partnerIds) {
          if (!partners.includes(id)) throw refuse('UnknownPartner', `partner "${id}" does not exist`, { partnerId: id });
        }
        // R10: only a distributor books for another partner, and only for its own resellers.
        if (input.partnerId !== input.bookedByPartnerId) {
          const link = await trx<DistributorResellerRow>('distributor_resellers')
            .where({ distributor_id: input.bookedByPartnerId, reseller_id: input.partnerId })
            .first();
          if (!link) {
            throw refuse('NotAuthorized', `partner "${input.partnerId}" is not a reseller of "${input.bookedByPartnerId}"`, {
              partnerId: input.partnerId,
            });
          }
        }
        const contactId = input.endCustomerContact ? await findOrCreateUser(trx, input.endCustomerContact) : null;
        const inserted = await trx<OrderRow>('orders')
          .insert({
            id: input.orderId,
            external_reference: input.externalReference,
            booked_by_partner_id: input.bookedByPartnerId,
            partner_id: input.partnerId,
            workflow_id: workflowId,
            assignment_kind: input.assignment.kind,
            customer_domain: input.assignment.kind === 'request_smart_account' ? input.assignment.domain : null,
            end_customer_contact_id: contactId,
            status: 'Booked',
            // The first status (version 0): every later step's write has a higher version.
            status_document: JSON.stringify(orderStatusOf(initialOrderState(input))),
            status_version: 0,
          })
          .onConflict('id')
          .ignore()
          .returning('id');
        // Only the attempt that creates the row counts the order as Booked: a retry inserts nothing.
        if (inserted.length > 0) countPhaseEnteredOnCommit(trx, { orderId: input.orderId, phase: 'Booked', waitingFor: 'Booking' });
        await trx<OrderLineRow>('order_lines')
          .insert(
            input.lines.map((line) => ({
              order_id: input.orderId,
              line_number: line.lineNumber,
              sku: line.sku,
              quantity: line.quantity,
              license_type: line.licenseType,
              term_months: line.termMonths ?? null,
              sa_mandatory: line.smartAccountMandatory,
              state: 'booked',
            })),
          )
          .onConflict(['order_id', 'line_number'])
          .ignore();
        await recordOrderEvent(trx, {
          orderId: input.orderId,
          type: 'booked',
          idempotencyKey: `${workflowId}:booked`,
          details: { externalReference: input.externalReference, assignment: input.assignment.kind, lines: input.lines.length },
        });
      });
    },
  };
}
