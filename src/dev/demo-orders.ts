import type { BookOrderInput } from '../orders/order';
import type { OrderStatus } from '../orders/order-lifecycle';
import { DEMO, demoHeldOrder, demoOrder } from './demo-data';
import { callApi, expectStatus, waitUntil } from './stack-api';

/**
 * The quick start's demo orders have fixed external references, so a restarted stack finds the
 * orders it booked before (`alreadyBooked`) instead of booking another held order that reminds
 * and escalates for ever: a week of restarts leaves one held demo order, not dozens.
 */
export const DEMO_DIRECT_REFERENCE = 'DEMO-DIRECT';
export const DEMO_HELD_REFERENCE = 'DEMO-HELD';

/** The held demo orders earlier versions booked on every start (`DEMO-HELD-20261129T052458`). */
const STAMPED_HELD_REFERENCE = /^DEMO-HELD-\d{8}T\d{6}$/;

export interface DemoOrder {
  orderId: string;
  workflowId: string;
  externalReference: string;
  alreadyBooked: boolean;
  status: OrderStatus;
}

export interface DemoResult {
  direct: DemoOrder;
  held: DemoOrder;
  /** Held demo orders of earlier starts (stamped references) cancelled now. */
  cancelledLeftovers: string[];
}

interface Booked {
  orderId: string;
  workflowId: string;
  alreadyBooked: boolean;
}

/** The booking as an ordering system sends it: the partner comes from the API key, not the body. */
export function bookingBody(order: BookOrderInput): Omit<BookOrderInput, 'bookedByPartnerId'> {
  const { bookedByPartnerId: _fromTheKey, ...body } = order;
  return body;
}

/**
 * Books (or finds) the two demo orders through the API with the demo partner's key: the direct
 * one shipped until it is fulfilled, the held one waiting for the partner's transfer. Held demo
 * orders that earlier starts left behind are cancelled first.
 */
export async function runDemo(
  apiBase: string,
  partnerKey: string,
  options: { today?: string; timeoutMs?: number; progress?: (message: string) => void } = {},
): Promise<DemoResult> {
  // Generous: the first workflow tasks of a fresh worker can be slow on a loaded machine.
  const asPartner = { key: partnerKey, timeoutMs: options.timeoutMs ?? 60_000 };
  const progress = options.progress ?? (() => undefined);
  const cancelledLeftovers = await cancelStampedHeldOrders(apiBase, asPartner);
  if (cancelledLeftovers.length) progress(`Demo: cancelled ${cancelledLeftovers.length} held demo order(s) of earlier starts`);

  const directOrder = demoOrder(DEMO_DIRECT_REFERENCE);
  progress(`Demo: booking order ${DEMO_DIRECT_REFERENCE} through the API (2 lines into Smart Account acme.com, virtual account Finance)`);
  const direct = await book(apiBase, asPartner, directOrder);
  let directStatus = await orderStatus(apiBase, asPartner, direct.orderId, (s) => s.phase !== 'Booked');
  if (!['Fulfilled', 'Cancelled'].includes(directStatus.phase)) {
    const today = options.today ?? new Date().toISOString().slice(0, 10);
    for (const line of directStatus.lines.filter((l) => !l.shippedOn)) {
      expectStatus(
        await callApi(apiBase, 'POST', `/v1/orders/${direct.orderId}/shipments`, {
          ...asPartner,
          body: { lineNumber: line.lineNumber, shippedOn: today },
        }),
        [202],
        `POST /v1/orders/${direct.orderId}/shipments (line ${line.lineNumber})`,
      );
    }
    directStatus = await orderStatus(apiBase, asPartner, direct.orderId, (s) => s.phase === 'Fulfilled', 120_000);
  }

  progress(`Demo: booking order ${DEMO_HELD_REFERENCE} through the API into the partner's holding account (customer unknown)`);
  const held = await book(apiBase, asPartner, demoHeldOrder(DEMO_HELD_REFERENCE));
  const heldStatus = await orderStatus(apiBase, asPartner, held.orderId, (s) => s.phase !== 'Booked');
  return {
    direct: { ...direct, externalReference: DEMO_DIRECT_REFERENCE, status: directStatus },
    held: { ...held, externalReference: DEMO_HELD_REFERENCE, status: heldStatus },
    cancelledLeftovers,
  };
}

type AsPartner = { key: string; timeoutMs: number };

async function book(apiBase: string, asPartner: AsPartner, order: BookOrderInput): Promise<Booked> {
  return expectStatus<Booked>(
    await callApi(apiBase, 'POST', '/v1/orders', { ...asPartner, body: bookingBody(order) }),
    [200, 201],
    `POST /v1/orders (${order.externalReference})`,
  );
}

/** The order's live status once `done` holds (or whatever it is after `timeoutMs`). */
async function orderStatus(
  apiBase: string,
  asPartner: AsPartner,
  orderId: string,
  done: (status: OrderStatus) => boolean,
  timeoutMs = 60_000,
): Promise<OrderStatus> {
  const answer = await waitUntil(
    () => callApi(apiBase, 'GET', `/v1/orders/${orderId}`, asPartner),
    (a) => a.status === 200 && done(a.body as OrderStatus),
    timeoutMs,
  );
  return expectStatus<OrderStatus>(answer, [200], `GET /v1/orders/${orderId}`);
}

/** Cancels the demo partner's held orders with a stamped demo reference; returns their references. */
async function cancelStampedHeldOrders(apiBase: string, asPartner: AsPartner): Promise<string[]> {
  const leftovers: Array<{ orderId: string; externalReference: string }> = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ status: 'AwaitingSmartAccount', partnerId: DEMO.partnerId, limit: '500' });
    if (cursor) query.set('cursor', cursor);
    const page: { orders: Array<{ orderId: string; externalReference: string }>; nextCursor: string | null } = expectStatus(
      await callApi(apiBase, 'GET', `/v1/orders?${query.toString()}`, asPartner),
      [200],
      'GET /v1/orders (held demo orders of earlier starts)',
    );
    leftovers.push(...page.orders.filter((o) => STAMPED_HELD_REFERENCE.test(o.externalReference)));
    cursor = page.nextCursor;
  } while (cursor);
  for (const { orderId } of leftovers) {
    expectStatus(
      await callApi(apiBase, 'POST', `/v1/orders/${orderId}/cancellation`, {
        ...asPartner,
        body: { reason: 'demo order of an earlier npm start' },
      }),
      [200, 404],
      `POST /v1/orders/${orderId}/cancellation`,
    );
  }
  return leftovers.map((o) => o.externalReference);
}
