/**
 * How the drivers make the ordering system's and the partner's calls: straight through the
 * project's order functions (the dev-server run: one process, no API), or over HTTP through the
 * production shape's APIs, turn about, so both take the load and a call may land on either.
 */
import type { Client } from '@temporalio/client';
import { LicenseFulfillmentClient } from '../../src/api-client';
import { bookOrder } from '../../src/orders/book-order';
import { assignSmartAccount, cancelOrder, reportShipment } from '../../src/orders/order-actions';
import type { BookOrderInput } from '../../src/orders/order';

export interface OrderCalls {
  /** Where the calls go, for the report ("the order functions", "API 1 and API 2 over HTTP"). */
  via: string;
  book(booking: BookOrderInput): Promise<{ orderId: string; workflowId: string }>;
  ship(orderId: string, shipment: { lineNumber: number; shippedOn: string }): Promise<void>;
  assign(orderId: string, assignment: { accountId: string; virtualAccountPath: string; actingPartnerId: string }): Promise<void>;
  cancel(orderId: string, cancellation: { actingPartnerId: string; reason: string }): Promise<void>;
}

/** In process: the functions the API routes call, on the runner's own Temporal client. */
export function directCalls(client: Client, taskQueue: string): OrderCalls {
  return {
    via: 'the order functions (no API)',
    book: (booking) => bookOrder(client, taskQueue, booking),
    ship: (orderId, shipment) => reportShipment(client, orderId, shipment),
    assign: async (orderId, assignment) => void (await assignSmartAccount(client, orderId, assignment)),
    cancel: async (orderId, cancellation) => void (await cancelOrder(client, orderId, cancellation)),
  };
}

/**
 * Over HTTP with an operator key, through the typed client, each call to the next API in turn.
 * An operator names the booking partner and the acting partner, as the partner's own key would imply.
 */
export function apiCalls(baseUrls: string[], operatorKey: string, timeoutMs: number): OrderCalls {
  const clients = baseUrls.map((baseUrl) => new LicenseFulfillmentClient({ baseUrl, apiKey: operatorKey, timeoutMs }));
  let turn = 0;
  const next = () => clients[turn++ % clients.length];
  return {
    via: `${baseUrls.length} APIs over HTTP, turn about (${baseUrls.join(', ')})`,
    book: (booking) => next().bookOrder(booking),
    ship: async (orderId, shipment) => void (await next().reportShipment(orderId, shipment)),
    assign: async (orderId, assignment) => void (await next().assignSmartAccount(orderId, assignment)),
    cancel: async (orderId, cancellation) => void (await next().cancelOrder(orderId, { reason: cancellation.reason })),
  };
}
