import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkRole, checkTarget, partnersOfOrder } from '../accounts/placement-rules';
import { deriveOrderId, startOrderWorkflow, type BookedOrder } from './book-order';
import { preparedStatement } from '../db/prepared';
import { assignSmartAccount, cancelOrder, reportShipment } from './order-actions';
import { readOrderStatus } from './order-status';
import { ValidationError, validateBookOrderInput, type BookOrderInput } from './order';
import { orderWorkflowId } from './workflow-api';
import { actingPartner, authorizedOrder, partnerOf } from '../api/access';
import { bookingDifferences } from './booking-conflict';
import { checkShipment } from './shipment-checks';
import { assignmentRefusalOf, checkBookingParties } from './booking-checks';
import { fingerprint, releaseIdempotencyKey, reserveIdempotencyKey } from './idempotency-keys';
import { UPDATE_DEADLINE_MS, withinDeadline } from '../api/deadline';
import { listOrdersQuery, type OrderListRow } from './list-query';
import { badRequest, forbidden, HttpError } from '../api/errors';
import {
  AssignBody,
  BookOrderBody,
  BookedOrderResponse,
  CancelBody,
  errorResponses,
  IdempotencyHeaders,
  ListOrdersQuery,
  OrderIdParams,
  OrderListResponse,
  OrderStatusQuery,
  OrderStatusResponse,
  ShipmentAccepted,
  ShipmentBody,
  type AssignBodyType,
  type BookedOrderBody,
  type BookOrderRequest,
  type CancelBodyType,
  type ListOrdersQueryType,
  type OrderIdParamsType,
  type OrderStatusQueryType,
  type OrderSummaryBody,
  type ShipmentBodyType,
} from '../api/schemas';
import type { ApiDependencies } from '../api/dependencies';

const security = [{ apiKey: [] }];

/**
 * Keyset pagination over (booked_at, id), newest first: stable while orders keep arriving. The
 * cursor keeps Postgres' microseconds (`bookedAtText`): a JavaScript Date would cut them to
 * milliseconds, and orders booked earlier in the same millisecond would fall between two pages.
 */
function encodeCursor(bookedAtText: string, id: string): string {
  return Buffer.from(JSON.stringify([bookedAtText, id])).toString('base64url');
}
function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // Exactly what encodeCursor writes: a UTC time to the microsecond that Postgres accepts, an order ID.
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(value[0]) &&
      new Date(value[0].slice(0, 23) + 'Z').toISOString().slice(0, 23) === value[0].slice(0, 23) &&
      Number(value[0].slice(0, 4)) >= 1 &&
      typeof value[1] === 'string' &&
      /^[0-9a-f]{20}$/.test(value[1])
    ) {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw badRequest([{ field: 'cursor', reason: 'must be the nextCursor of a previous page' }]);
}

/** Every log line of an order's request, the response line included, names the order and its workflow. */
function withOrderLog(request: FastifyRequest, reply: FastifyReply, orderId: string) {
  const log = request.log.child({ orderId, workflowId: orderWorkflowId(orderId) });
  request.log = log;
  reply.log = log;
}

/** The order routes, one function each, registered in this order. */
export function registerOrderRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  registerBookOrderRoute(app, deps);
  registerListOrdersRoute(app, deps);
  registerGetOrderRoute(app, deps);
  registerAssignSmartAccountRoute(app, deps);
  registerReportShipmentRoute(app, deps);
  registerCancelOrderRoute(app, deps);
}

/** The order's workflow in the Temporal UI. */
function temporalUiLink(deps: ApiDependencies, workflowId: string): string {
  return `${deps.config.temporal.uiUrl}/namespaces/${encodeURIComponent(deps.config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

function registerBookOrderRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Body: BookOrderRequest; Headers: { 'idempotency-key'?: string } }>(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        operationId: 'bookOrder',
        summary: 'Book an order: starts its workflow',
        description:
          'Re-sending the same externalReference (or the same Idempotency-Key with the same body) returns the same order with 200 and starts nothing, ' +
          "also after Temporal's retention removed the closed order (its row in Postgres decides; the body is then not compared); " +
          'the same externalReference with a different body is a 409 BookingConflict naming each differing field. ' +
          'A new booking whose assignment the placement rules refuse (unknown or inactive account, a holding account as the Smart Account, no role) ' +
          'is still booked (201) and waits for a valid assignment; its body says why in assignmentRefused, as it does for a Smart Account request ' +
          'its contact cannot make (another domain, no registered user ID). ' +
          'A partner key books for its own partner; a distributor key may name one of its resellers as partnerId; an operator key must give bookedByPartnerId.',
        security,
        headers: IdempotencyHeaders,
        body: Type.Ref(BookOrderBody),
        response: {
          200: Type.Ref(BookedOrderResponse),
          201: Type.Ref(BookedOrderResponse),
          ...errorResponses(400, 401, 403, 409, 413, 422),
        },
      },
    },
    async (request, reply) => {
      const booking = await checkBookingParties(deps, request.principal, request.body);
      const errors = validateBookOrderInput(booking);
      if (errors.length > 0) throw new ValidationError(errors);
      const orderId = deriveOrderId(booking.bookedByPartnerId, booking.externalReference);
      withOrderLog(request, reply, orderId);
      const key = request.headers['idempotency-key'];
      const reservation = key ? await reserveIdempotencyKey(deps, request.principal, key, orderId, fingerprint(booking)) : 'new';
      let result;
      try {
        result = await startBooking(deps, booking, orderId, reservation === 'replay');
      } catch (err) {
        if (key && reservation === 'new') await releaseIdempotencyKey(deps, request.principal, key);
        throw err;
      }
      const { booked, assignmentRefused } = result;
      const alreadyBooked = booked.alreadyBooked || reservation === 'replay';
      request.log.info({ alreadyBooked, assignmentRefused }, alreadyBooked ? 'booking repeated: same order' : 'order booked');
      const body: BookedOrderBody = {
        orderId: booked.orderId,
        workflowId: booked.workflowId,
        alreadyBooked,
        links: { self: `/v1/orders/${booked.orderId}`, temporalUi: temporalUiLink(deps, booked.workflowId) },
        ...(assignmentRefused ? { assignmentRefused } : {}),
      };
      return reply
        .status(alreadyBooked ? 200 : 201)
        .header('location', body.links.self)
        .send(body);
    },
  );
}

/**
 * Starts the order's workflow. A new booking whose assignment the placement rules refuse is
 * still booked, with the refusal to report; a re-sent reference with another body is a 409
 * naming each difference (an Idempotency-Key replay was already matched by its fingerprint).
 */
async function startBooking(deps: ApiDependencies, booking: BookOrderInput, orderId: string, keyReplay: boolean) {
  // The refusal check and the start overlap: the check only reports (the order is booked either
  // way), so it need not hold the start up; a failed check fails the request and a retry answers 200.
  // The booking was validated and its order ID derived by the route.
  const [assignmentRefused, booked] = await Promise.all([
    keyReplay ? undefined : assignmentRefusalOf(deps.db, booking),
    startUnlessOnRecord(deps, booking, orderId),
  ]);
  if (!booked.alreadyBooked) return { booked, assignmentRefused };
  const differences = keyReplay ? [] : await bookingDifferences(deps.client, booked.orderId, booking);
  if (differences.length > 0) {
    throw new HttpError(
      409,
      'BookingConflict',
      `externalReference "${booking.externalReference}" was booked with a different request (${differences.map((d) => d.field).join(', ')} differ); ` +
        'send a new externalReference for a new order',
      differences,
    );
  }
  return { booked, assignmentRefused: undefined };
}

/**
 * Temporal refuses a second run of the order's ID only while it keeps the closed one (the
 * namespace's retention); Postgres keeps a booked order for good, so a reference re-sent after
 * that is still answered as the same order and starts nothing. A refused booking leaves no row.
 */
async function startUnlessOnRecord(deps: ApiDependencies, booking: BookOrderInput, orderId: string): Promise<BookedOrder> {
  const { rows } = await preparedStatement(deps.db, 'SELECT 1 FROM orders WHERE id = ?', [orderId]);
  if (rows.length > 0) return { orderId, workflowId: orderWorkflowId(orderId), alreadyBooked: true };
  return startOrderWorkflow(deps.client, deps.config.temporal.taskQueue, booking, orderId);
}

function registerListOrdersRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.get<{ Querystring: ListOrdersQueryType }>(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        operationId: 'listOrders',
        summary: 'List orders (from Postgres: reads your writes), newest first',
        security,
        querystring: ListOrdersQuery,
        response: { 200: OrderListResponse, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit ?? 50;
      const { cursor, limit: _limit, ...filters } = q;
      const decoded = cursor ? decodeCursor(cursor) : undefined;
      const rows: OrderListRow[] = await listOrdersQuery(
        deps.db,
        request.principal,
        filters,
        limit,
        decoded && { bookedAt: decoded[0], id: decoded[1] },
      );
      const page = rows.slice(0, limit);
      const orders: OrderSummaryBody[] = page.map((r) => ({
        orderId: r.id,
        externalReference: r.external_reference,
        partnerId: r.partner_id,
        bookedByPartnerId: r.booked_by_partner_id,
        status: r.status,
        waitingFor: r.waiting_for,
        assignmentKind: r.assignment_kind,
        accountId: r.account_id,
        holdingAccountId: r.holding_account_id,
        customerDomain: r.customer_domain,
        bookedAt: new Date(r.booked_at).toISOString(),
        updatedAt: new Date(r.updated_at).toISOString(),
      }));
      const last = page[page.length - 1];
      return { orders, nextCursor: rows.length > limit && last ? encodeCursor(last.booked_at_cursor, last.id) : null };
    },
  );
}

function registerGetOrderRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.get<{ Params: OrderIdParamsType; Querystring: OrderStatusQueryType }>(
    '/orders/:orderId',
    {
      schema: {
        tags: ['orders'],
        operationId: 'getOrder',
        summary: 'The status of an order: phase, what it waits for, each line, the emails sent',
        description:
          "By default one Postgres read of the status the order's workflow committed with its last step (no workflow wakes), so it " +
          'never goes backwards and already shows what an Update the API answered did. live=true asks the workflow itself ' +
          '(a Temporal Query: slower; an evicted run replays first). Orders whose workflow started before the status was kept ' +
          'in Postgres are answered by the workflow. The header Order-Status-Source says which answered (projection or workflow). ' +
          "A classic line's license key (LRP record) always comes from Postgres, and so do `emails`: each email's delivery " +
          "(sent, pending, failed with the SMTP server's answer; POST /v1/emails/{emailId}/resend sends a failed one again).",
        security,
        params: OrderIdParams,
        querystring: OrderStatusQuery,
        response: { 200: Type.Ref(OrderStatusResponse), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      withOrderLog(request, reply, request.params.orderId);
      const { status, source, emails } = await readOrderStatus(
        deps,
        request.principal,
        request.params.orderId,
        request.query.live === true,
      );
      return reply.header('order-status-source', source).send({ ...status, emails });
    },
  );
}

function registerAssignSmartAccountRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Params: OrderIdParamsType; Body: AssignBodyType }>(
    '/orders/:orderId/assignment',
    {
      schema: {
        tags: ['orders'],
        operationId: 'assignSmartAccount',
        summary: "Assign the customer's active Smart Account (R6): transfers held licenses",
        description:
          "200 with the new status. 403 without a role on the account (R11) or on someone else's order; " +
          '422 when the account is unknown, not active, a holding account or lacks the virtual account; 409 when the order no longer takes an assignment.',
        security,
        params: OrderIdParams,
        body: AssignBody,
        response: { 200: Type.Ref(OrderStatusResponse), ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { orderId } = request.params;
      withOrderLog(request, reply, orderId);
      const parties = await authorizedOrder(deps.db, deps.client, request.principal, orderId);
      const actingPartnerId = actingPartner(request.principal, request.body.actingPartnerId, 'actingPartnerId', parties.partnerId);
      // The same checks the placement activity makes, made first so a refusal never reaches the workflow.
      const target = {
        kind: 'smart_account' as const,
        accountId: request.body.accountId,
        virtualAccountPath: request.body.virtualAccountPath,
      };
      const { account } = await checkTarget(deps.db, target);
      if (
        !(await partnersOfOrder(deps.db, { partner_id: parties.partnerId, booked_by_partner_id: parties.bookedByPartnerId })).has(
          actingPartnerId,
        )
      ) {
        throw forbidden(`partner "${actingPartnerId}" may not act on order ${orderId}`);
      }
      await checkRole(deps.db, actingPartnerId, account, target.virtualAccountPath);
      return withinDeadline(deps.client, UPDATE_DEADLINE_MS, () =>
        assignSmartAccount(deps.client, orderId, {
          accountId: target.accountId,
          ...(target.virtualAccountPath ? { virtualAccountPath: target.virtualAccountPath } : {}),
          actingPartnerId,
        }),
      );
    },
  );
}

function registerReportShipmentRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Params: OrderIdParamsType; Body: ShipmentBodyType }>(
    '/orders/:orderId/shipments',
    {
      schema: {
        tags: ['orders'],
        operationId: 'reportShipment',
        summary: 'Report that a line shipped on a business date (R7); accepted asynchronously',
        description:
          'Reporting the same line again with the same date is harmless (202); another date for a shipped line is a 409 AlreadyShipped ' +
          'naming the recorded one (the first ship date counts: a term is fixed from it). A date after tomorrow (UTC) is a 400 naming shippedOn.',
        security,
        params: OrderIdParams,
        body: ShipmentBody,
        response: { 202: ShipmentAccepted, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { orderId } = request.params;
      withOrderLog(request, reply, orderId);
      // Judged on the stored status (authorizing the caller too): a shipment wakes the workflow once, by its signal.
      const { status } = await readOrderStatus(deps, request.principal, orderId);
      const { lineNumber, shippedOn } = request.body;
      checkShipment(status, orderId, lineNumber, shippedOn);
      await reportShipment(deps.client, orderId, { lineNumber, shippedOn });
      return reply.status(202).send({ orderId, lineNumber, shippedOn, accepted: true as const });
    },
  );
}

function registerCancelOrderRoute(app: FastifyInstance, deps: ApiDependencies): void {
  app.post<{ Params: OrderIdParamsType; Body: CancelBodyType }>(
    '/orders/:orderId/cancellation',
    {
      schema: {
        tags: ['orders'],
        operationId: 'cancelOrder',
        summary: 'Cancel an order before provisioning (R13): withdraws its licenses',
        description: '200 with the cancelled status (also when it was already cancelled); 409 once a line is provisioned.',
        security,
        params: OrderIdParams,
        body: Type.Optional(CancelBody),
        response: { 200: Type.Ref(OrderStatusResponse), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { orderId } = request.params;
      withOrderLog(request, reply, orderId);
      await authorizedOrder(deps.db, deps.client, request.principal, orderId);
      const actingPartnerId = request.principal.role === 'operator' ? undefined : partnerOf(request.principal);
      return withinDeadline(deps.client, UPDATE_DEADLINE_MS, () =>
        cancelOrder(deps.client, orderId, {
          ...(actingPartnerId ? { actingPartnerId } : {}),
          ...(request.body?.reason ? { reason: request.body.reason } : {}),
        }),
      );
    },
  );
}
