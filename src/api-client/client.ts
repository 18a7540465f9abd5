import type { Static } from '@sinclair/typebox';
import type {
  AssignBody,
  BookOrderBody,
  BookedOrderResponse,
  CancelBody,
  ErrorResponse,
  ListOrdersQuery,
  OrderListResponse,
  OrderStatusResponse,
  OrderSummary,
  ShipmentAccepted,
  ShipmentBody,
} from '../api/schemas';
import type {
  AddMemberBodyType,
  CreatedVirtualAccountType,
  CreateVirtualAccountBodyType,
  GrantRoleBodyType,
  HoldingAccountMemberListType,
  HoldingAccountMemberType,
  RoleGrantListType,
  RoleGrantType,
  SmartAccountRequestBodyType,
  SmartAccountRequestResponseType,
  SmartAccountSearchResponseType,
  VirtualAccountListType,
} from '../accounts/schemas';

/**
 * The typed client of the license-fulfillment HTTP API, for ordering systems, partners and
 * operators. Its request and response types are the Static<> types of the very TypeBox schemas
 * the server validates with; they are imported as types only, so this module pulls in nothing
 * at run time (no TypeBox, no Fastify, no Temporal) and runs on Node 20's global fetch.
 */

// ---------------------------------------------------------------- types

export type BookOrderRequest = Static<typeof BookOrderBody>;
export type BookedOrder = Static<typeof BookedOrderResponse>;
export type OrderStatus = Static<typeof OrderStatusResponse>;
export type ListOrdersParams = Static<typeof ListOrdersQuery>;
export type OrderList = Static<typeof OrderListResponse>;
export type OrderListItem = Static<typeof OrderSummary>;
export type AssignSmartAccountRequest = Static<typeof AssignBody>;
export type ReportShipmentRequest = Static<typeof ShipmentBody>;
export type ShipmentAcceptedResult = Static<typeof ShipmentAccepted>;
export type CancelOrderRequest = Static<typeof CancelBody>;
export type ErrorBody = Static<typeof ErrorResponse>;
export type FieldError = NonNullable<ErrorBody['errors']>[number];

/** /healthz and /readyz (their schema is private to the health routes). */
export interface HealthStatus {
  status: 'ok' | 'unavailable';
  checks?: Record<string, { ok: boolean; error?: string }>;
}

// Accounts (src/accounts/schemas.ts).
export type SmartAccountSearchResult = SmartAccountSearchResponseType;
export type SmartAccountMatch = SmartAccountSearchResult['smartAccounts'][number];
export type SmartAccountRequest = SmartAccountRequestBodyType;
export type SmartAccountRequested = SmartAccountRequestResponseType;
export type VirtualAccountList = VirtualAccountListType;
export type VirtualAccount = VirtualAccountList['virtualAccounts'][number];
export type CreateVirtualAccountRequest = CreateVirtualAccountBodyType;
export type VirtualAccountCreated = CreatedVirtualAccountType;
export type HoldingAccountMember = HoldingAccountMemberType;
export type HoldingAccountMemberList = HoldingAccountMemberListType;
export type AddHoldingAccountMemberRequest = AddMemberBodyType;
export type RoleGrant = RoleGrantType;
export type RoleGrantList = RoleGrantListType;
export type RoleName = RoleGrant['role'];
export type GrantRoleRequest = GrantRoleBodyType;

// ---------------------------------------------------------------- operations

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/**
 * Every operation of the API the client calls: operationId → HTTP method and OpenAPI path.
 * The client builds each request from this table, and test/unit/api-client.test.ts holds it
 * against the OpenAPI document the real app generates, so a renamed route cannot drift unseen.
 */
export const OPERATIONS = {
  health: { method: 'GET', path: '/healthz' },
  ready: { method: 'GET', path: '/readyz' },
  bookOrder: { method: 'POST', path: '/v1/orders' },
  listOrders: { method: 'GET', path: '/v1/orders' },
  getOrder: { method: 'GET', path: '/v1/orders/{orderId}' },
  assignSmartAccount: { method: 'POST', path: '/v1/orders/{orderId}/assignment' },
  reportShipment: { method: 'POST', path: '/v1/orders/{orderId}/shipments' },
  cancelOrder: { method: 'POST', path: '/v1/orders/{orderId}/cancellation' },
  resendDelegationLink: { method: 'POST', path: '/v1/orders/{orderId}/delegation-link' },
  searchSmartAccounts: { method: 'GET', path: '/v1/smart-accounts' },
  requestSmartAccount: { method: 'POST', path: '/v1/smart-account-requests' },
  listVirtualAccounts: { method: 'GET', path: '/v1/accounts/{accountId}/virtual-accounts' },
  createVirtualAccount: { method: 'POST', path: '/v1/accounts/{accountId}/virtual-accounts' },
  listHoldingAccountMembers: { method: 'GET', path: '/v1/holding-accounts/{accountId}/members' },
  addHoldingAccountMember: { method: 'POST', path: '/v1/holding-accounts/{accountId}/members' },
  removeHoldingAccountMember: { method: 'DELETE', path: '/v1/holding-accounts/{accountId}/members/{email}' },
  listRoleGrants: { method: 'GET', path: '/v1/accounts/{accountId}/role-grants' },
  grantRole: { method: 'POST', path: '/v1/accounts/{accountId}/role-grants' },
  revokeRole: { method: 'DELETE', path: '/v1/accounts/{accountId}/role-grants/{grantId}' },
} as const satisfies Record<string, { method: HttpMethod; path: string }>;

export type OperationId = keyof typeof OPERATIONS;

// ---------------------------------------------------------------- errors

/**
 * A refusal or failure answered by the API: the HTTP status, the machine-readable code
 * (ValidationFailed, NotAuthorized, InvalidState, ...), the message, and for a 400 every field
 * at fault. An answer that is not the API's JSON (a proxy's HTML page) gets code
 * `UnexpectedResponse` and the start of the text as message.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fieldErrors: FieldError[] = [],
    readonly operationId?: OperationId,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

// ---------------------------------------------------------------- client

export interface LicenseFulfillmentClientOptions {
  /** Where the API is, e.g. https://licenses.example.com (a path prefix is kept). */
  baseUrl: string;
  /** An API key (lfk_...) issued by an operator. */
  apiKey: string;
  /** Defaults to the global fetch (Node 20+). */
  fetch?: typeof fetch;
  /** Gives up on a request after this long (default: no limit beyond fetch's own). */
  timeoutMs?: number;
}

type PathParams = Record<string, string | number>;
type Query = Record<string, string | number | boolean | undefined>;

/**
 * One method per operation of the API (named by its operationId). Methods resolve with the
 * response body and reject with an ApiError when the API refuses.
 */
export class LicenseFulfillmentClient {
  readonly #baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number | undefined;

  constructor(options: LicenseFulfillmentClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new TypeError(`baseUrl must be an absolute URL such as http://localhost:3000 (got "${options.baseUrl}")`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`baseUrl must be http:// or https:// (got "${url.protocol}")`);
    if (!options.apiKey) throw new TypeError('apiKey is required: an operator issues keys with `license-fulfillment keys create`');
    this.#baseUrl = url.toString().replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('no fetch available: use Node.js 20 or later, or pass options.fetch');
    this.#fetch = fetchImpl;
    this.#timeoutMs = options.timeoutMs;
  }

  // ------------------------------------------------------------ health

  /** Liveness: the API process is up. */
  health(): Promise<HealthStatus> {
    return this.#call('health', {});
  }

  /** Readiness: resolves with the checks whether they pass (200) or not (503). */
  ready(): Promise<HealthStatus> {
    return this.#call('ready', { acceptStatuses: [503] });
  }

  // ------------------------------------------------------------ orders

  /**
   * Books an order (its workflow starts). Re-sending the same externalReference, or the same
   * idempotencyKey with the same body, returns the same order with `alreadyBooked: true`.
   */
  bookOrder(booking: BookOrderRequest, options: { idempotencyKey?: string } = {}): Promise<BookedOrder> {
    return this.#call('bookOrder', {
      body: booking,
      headers: options.idempotencyKey !== undefined ? { 'idempotency-key': options.idempotencyKey } : undefined,
    });
  }

  /** One page of orders, newest first; pass `nextCursor` back as `cursor` for the next one. */
  listOrders(query: ListOrdersParams = {}): Promise<OrderList> {
    return this.#call('listOrders', { query });
  }

  /** The live status of an order, from its workflow. */
  getOrder(orderId: string): Promise<OrderStatus> {
    return this.#call('getOrder', { params: { orderId } });
  }

  /** Assigns the customer's active Smart Account (R6); held licenses move there. */
  assignSmartAccount(orderId: string, assignment: AssignSmartAccountRequest): Promise<OrderStatus> {
    return this.#call('assignSmartAccount', { params: { orderId }, body: assignment });
  }

  /** Reports that a line shipped on a business date (R7); accepted asynchronously (202). */
  reportShipment(orderId: string, shipment: ReportShipmentRequest): Promise<ShipmentAcceptedResult> {
    return this.#call('reportShipment', { params: { orderId }, body: shipment });
  }

  /** Cancels an order before provisioning (R13). */
  cancelOrder(orderId: string, cancellation: CancelOrderRequest = {}): Promise<OrderStatus> {
    return this.#call('cancelOrder', { params: { orderId }, body: cancellation });
  }

  /**
   * Emails the customer a new delegation link; the order's earlier links die at once. The same
   * requestId sends one link (a retry answers `repeated: true`).
   */
  resendDelegationLink(orderId: string, request: { requestId: string }): Promise<{ orderId: string; sent: true; repeated: boolean }> {
    return this.#call('resendDelegationLink', { params: { orderId }, body: request });
  }

  // ------------------------------------------------------------ accounts

  /** Smart Accounts of a domain (R2: does the customer have one already?). */
  searchSmartAccounts(domain: string): Promise<SmartAccountSearchResult> {
    return this.#call('searchSmartAccounts', { query: { domain } });
  }

  /** Requests a Smart Account for a customer contact (R2); repeating it changes nothing. */
  requestSmartAccount(request: SmartAccountRequest): Promise<SmartAccountRequested> {
    return this.#call('requestSmartAccount', { body: request });
  }

  listVirtualAccounts(accountId: string): Promise<VirtualAccountList> {
    return this.#call('listVirtualAccounts', { params: { accountId } });
  }

  /** Creates a virtual account and any missing parents; `created: false` when it existed. */
  createVirtualAccount(accountId: string, request: CreateVirtualAccountRequest): Promise<VirtualAccountCreated> {
    return this.#call('createVirtualAccount', { params: { accountId }, body: request });
  }

  listHoldingAccountMembers(accountId: string): Promise<HoldingAccountMemberList> {
    return this.#call('listHoldingAccountMembers', { params: { accountId } });
  }

  /** Signs a member up for the holding account's notifications (R9). */
  addHoldingAccountMember(accountId: string, member: AddHoldingAccountMemberRequest): Promise<HoldingAccountMember> {
    return this.#call('addHoldingAccountMember', { params: { accountId }, body: member });
  }

  removeHoldingAccountMember(accountId: string, email: string): Promise<void> {
    return this.#call('removeHoldingAccountMember', { params: { accountId, email } });
  }

  listRoleGrants(accountId: string): Promise<RoleGrantList> {
    return this.#call('listRoleGrants', { params: { accountId } });
  }

  /** Grants a partner a role on a customer account (R11); operators only. */
  grantRole(accountId: string, grant: GrantRoleRequest): Promise<RoleGrant> {
    return this.#call('grantRole', { params: { accountId }, body: grant });
  }

  revokeRole(accountId: string, grantId: string): Promise<void> {
    return this.#call('revokeRole', { params: { accountId, grantId } });
  }

  // ------------------------------------------------------------ transport

  async #call<T>(
    operationId: OperationId,
    request: { params?: PathParams; query?: Query; body?: unknown; headers?: Record<string, string>; acceptStatuses?: number[] },
  ): Promise<T> {
    const { method, path } = OPERATIONS[operationId];
    const url = new URL(this.#baseUrl + expandPath(path, request.params ?? {}));
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.#apiKey}`, ...request.headers };
    let body: string | undefined;
    if (request.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.body);
    }
    const response = await this.#fetch(url, {
      method,
      headers,
      body,
      ...(this.#timeoutMs !== undefined ? { signal: AbortSignal.timeout(this.#timeoutMs) } : {}),
    });
    const text = await response.text();
    let parsed: unknown;
    let isJson = false;
    if (text) {
      try {
        parsed = JSON.parse(text);
        isJson = true;
      } catch {
        // not JSON: handled below
      }
    }
    if (response.ok || request.acceptStatuses?.includes(response.status)) {
      if (response.status === 204 || !text) return undefined as T;
      if (!isJson)
        throw new ApiError(
          response.status,
          'UnexpectedResponse',
          `${method} ${path} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
          [],
          operationId,
        );
      return parsed as T;
    }
    if (isJson && isErrorBody(parsed)) {
      throw new ApiError(response.status, parsed.error, parsed.message, parsed.errors ?? [], operationId);
    }
    throw new ApiError(
      response.status,
      'UnexpectedResponse',
      `${method} ${path} answered ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
      [],
      operationId,
    );
  }
}

/** "/v1/orders/{orderId}" with each parameter percent-encoded, so an ID can never change the path. */
export function expandPath(path: string, params: PathParams): string {
  return path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined || value === '') throw new TypeError(`${name} is required`);
    return encodeURIComponent(String(value));
  });
}

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ErrorBody).error === 'string' &&
    typeof (value as ErrorBody).message === 'string'
  );
}

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
