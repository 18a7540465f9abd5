import type { Db } from '../../src/db/knex';
import { preparedQuery } from '../../src/db/prepared';
import type { OrderFulfillmentInput } from '../../src/orders/order';
import { countPhaseEnteredOnCommit } from '../../src/orders/phase-metrics';
import { initialOrderState, orderStatusOf } from '../../src/orders/order-lifecycle';
import { refuse } from '../shared/errors';

/**
 * The booking in one statement (issue 16: it was a transaction of five to seven): the refusal
 * judged first (both partners known; R10: only a distributor books for another partner, and only
 * for its own resellers), and only without one the contact, the order, its lines and its
 * "booked" event. The order's lines reference its row inserted by the same statement, which
 * Postgres checks at the statement's end.
 */
const BOOKING_SQL = `
WITH refusal AS (
  SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM partners WHERE id = :bookedBy) THEN :bookedBy
    WHEN NOT EXISTS (SELECT 1 FROM partners WHERE id = :partner) THEN :partner
    WHEN :partner <> :bookedBy
     AND NOT EXISTS (SELECT 1 FROM distributor_resellers WHERE distributor_id = :bookedBy AND reseller_id = :partner) THEN 'not-a-reseller'
  END AS reason
),
contact AS (
  INSERT INTO users (email, full_name) SELECT :contactEmail, :contactName
   WHERE :contactEmail::text IS NOT NULL AND (SELECT reason FROM refusal) IS NULL
  ON CONFLICT ((lower(email))) DO UPDATE SET full_name = COALESCE(users.full_name, EXCLUDED.full_name)
  RETURNING id
),
booked AS (
  INSERT INTO orders (id, external_reference, booked_by_partner_id, partner_id, workflow_id, assignment_kind, customer_domain,
                      end_customer_contact_id, status, status_document, status_version)
  SELECT :orderId, :externalReference, :bookedBy, :partner, :workflowId, :assignmentKind, :customerDomain,
         (SELECT id FROM contact), 'Booked', :statusDocument::jsonb, 0
   WHERE (SELECT reason FROM refusal) IS NULL
  ON CONFLICT (id) DO NOTHING
  RETURNING id
),
lines AS (
  INSERT INTO order_lines (order_id, line_number, sku, quantity, license_type, term_months, sa_mandatory, state)
  SELECT :orderId, x.line_number, x.sku, x.quantity, x.license_type, x.term_months, x.sa_mandatory, 'booked'
    FROM json_to_recordset(:lines::json)
      AS x(line_number int, sku text, quantity int, license_type text, term_months int, sa_mandatory boolean)
   WHERE (SELECT reason FROM refusal) IS NULL
  ON CONFLICT (order_id, line_number) DO NOTHING
),
event AS (
  INSERT INTO order_events (order_id, type, idempotency_key, details)
  SELECT :orderId, 'booked', :eventKey, :eventDetails::jsonb WHERE (SELECT reason FROM refusal) IS NULL
  ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT (SELECT reason FROM refusal) AS refusal, EXISTS (SELECT 1 FROM booked) AS created`;

/** Writes the booked order, its lines and a "booked" event in one statement; a retry writes nothing new. */
export function createBookingActivities(db: Db) {
  return {
    async recordBooking(input: OrderFulfillmentInput, workflowId: string): Promise<void> {
      const contact = input.endCustomerContact;
      // Prepared: Postgres plans the statement (three refusal checks, four writes) once per connection.
      const { rows } = await preparedQuery<{ refusal: string | null; created: boolean }>(
        db,
        db.raw(BOOKING_SQL, {
          bookedBy: input.bookedByPartnerId,
          partner: input.partnerId,
          contactEmail: contact?.email ?? null,
          contactName: contact?.fullName ?? null,
          orderId: input.orderId,
          externalReference: input.externalReference,
          workflowId,
          assignmentKind: input.assignment.kind,
          customerDomain: input.assignment.kind === 'request_smart_account' ? input.assignment.domain : null,
          // The first status (version 0): every later step's write has a higher version.
          statusDocument: JSON.stringify(orderStatusOf(initialOrderState(input))),
          lines: JSON.stringify(
            input.lines.map((line) => ({
              line_number: line.lineNumber,
              sku: line.sku,
              quantity: line.quantity,
              license_type: line.licenseType,
              term_months: line.termMonths ?? null,
              sa_mandatory: line.smartAccountMandatory,
            })),
          ),
          eventKey: `${workflowId}:booked`,
          eventDetails: JSON.stringify({
            externalReference: input.externalReference,
            assignment: input.assignment.kind,
            lines: input.lines.length,
          }),
        }),
      );
      const [{ refusal, created }] = rows;
      if (refusal === 'not-a-reseller') {
        throw refuse('NotAuthorized', `partner "${input.partnerId}" is not a reseller of "${input.bookedByPartnerId}"`, {
          partnerId: input.partnerId,
        });
      }
      if (refusal !== null) throw refuse('UnknownPartner', `partner "${refusal}" does not exist`, { partnerId: refusal });
      // Only the attempt that creates the row counts the order as Booked: a retry inserts nothing.
      if (created) countPhaseEnteredOnCommit(db, { orderId: input.orderId, phase: 'Booked', waitingFor: 'Booking' });
    },
  };
}
