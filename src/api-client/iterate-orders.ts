import type { LicenseFulfillmentClient, ListOrdersParams, OrderListItem } from './client';

/**
 * Every order matching `query`, page after page (the client follows `nextCursor`). `limit` is
 * the page size. Not a method: the client's methods are exactly the API's operations.
 */
export async function* iterateOrders(
  client: LicenseFulfillmentClient,
  query: Omit<ListOrdersParams, 'cursor'> = {},
): AsyncGenerator<OrderListItem> {
  let cursor: string | undefined;
  do {
    const page = await client.listOrders({ ...query, ...(cursor ? { cursor } : {}) });
    yield* page.orders;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}
