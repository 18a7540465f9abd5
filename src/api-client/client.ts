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
import type {
  AlertViewType,
  CreatedKeyType,
  DailyUseViewType,
  EventViewType,
  InstanceViewType,
  LicenseViewType,
  MeType,
  TokenViewType,
} from '../licensing/view-schemas';
import type {
  AgreementBody,
  AgreementView,
  AlertList,
  AlertListQuery,
  InstanceMoveBody,
  InstanceMoveResponse,
  LicenseMoveBody,
  LicenseMoveResponse,
  SubscriptionView,
  TrueUpList,
  TrueUpView,
} from '../licensing/time-schemas';
import type { CreatedTokenResponse, CreateTokenBodyType, TokenListQueryType, TokenListResponse, TokenResponse } from '../licensing/schemas';

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

// The complete view and a user's own keys (src/licensing/view-schemas.ts; R23, R24).
export type LicenseView = LicenseViewType;
export type InstanceView = InstanceViewType;
export type DailyUseView = DailyUseViewType;
export type TokenView = TokenViewType;
export type AlertView = AlertViewType;
export type EventView = EventViewType;
export type UserProfile = MeType;
export type CreatedUserKey = CreatedKeyType;
/** Narrows a view to one virtual account and its children. */
export interface ViewOptions {
  virtualAccountPath?: string;
}
// License use: alerts, agreements, true-ups, moves (src/licensing/time-schemas.ts).
export type AlertListParams = Static<typeof AlertListQuery>;
export type Alerts = Static<typeof AlertList>;
export type AlertSubscription = Static<typeof SubscriptionView>;
export type OverageAgreementRequest = Static<typeof AgreementBody>;
export type OverageAgreement = Static<typeof AgreementView>;
export type TrueUps = Static<typeof TrueUpList>;
export type TrueUp = Static<typeof TrueUpView>;
export type LicenseMoveRequest = Static<typeof LicenseMoveBody>;
export type LicenseMoveResult = Static<typeof LicenseMoveResponse>;
export type InstanceMoveRequest = Static<typeof InstanceMoveBody>;
export type InstanceMoveResult = Static<typeof InstanceMoveResponse>;
// License use (src/licensing/schemas.ts): registration tokens (R15).
export type CreateRegistrationTokenRequest = CreateTokenBodyType;
export type RegistrationToken = Static<typeof TokenResponse>;
export type CreatedRegistrationToken = Static<typeof CreatedTokenResponse>;
export type RegistrationTokenList = Static<typeof TokenListResponse>;

// ---------------------------------------------------------------- operations

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

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
  // ---- the complete view (R23) and a user's own keys (R24)
  listLicenses: { method: 'GET', path: '/v1/accounts/{accountId}/licenses' },
  listInstances: { method: 'GET', path: '/v1/accounts/{accountId}/instances' },
  getDailyUse: { method: 'GET', path: '/v1/accounts/{accountId}/daily-use' },
  listTokens: { method: 'GET', path: '/v1/accounts/{accountId}/tokens' },
  listEvents: { method: 'GET', path: '/v1/accounts/{accountId}/events' },
  exportEvents: { method: 'GET', path: '/v1/accounts/{accountId}/events.csv' },
  getMe: { method: 'GET', path: '/v1/me' },
  createMyApiKey: { method: 'POST', path: '/v1/me/api-keys' },
  revokeMyApiKey: { method: 'DELETE', path: '/v1/me/api-keys/{keyId}' },
  // ---- license use: what takes time (alerts, agreements, true-ups) and moves
  listAlerts: { method: 'GET', path: '/v1/accounts/{accountId}/alerts' },
  subscribeToAlerts: { method: 'PUT', path: '/v1/accounts/{accountId}/alert-subscriptions/{userId}' },
  unsubscribeFromAlerts: { method: 'DELETE', path: '/v1/accounts/{accountId}/alert-subscriptions/{userId}' },
  getOverageAgreement: { method: 'GET', path: '/v1/accounts/{accountId}/overage-agreement' },
  setOverageAgreement: { method: 'PUT', path: '/v1/accounts/{accountId}/overage-agreement' },
  listTrueUps: { method: 'GET', path: '/v1/accounts/{accountId}/true-ups' },
  approveTrueUp: { method: 'POST', path: '/v1/accounts/{accountId}/true-ups/{period}/approve' },
  moveLicenses: { method: 'POST', path: '/v1/accounts/{accountId}/license-moves' },
  moveProductInstance: { method: 'POST', path: '/v1/accounts/{accountId}/product-instances/{instanceId}/move' },
  createRegistrationToken: { method: 'POST', path: '/v1/accounts/{accountId}/registration-tokens' },
  listRegistrationTokens: { method: 'GET', path: '/v1/accounts/{accountId}/registration-tokens' },
  revokeRegistrationToken: { method: 'DELETE', path: '/v1/accounts/{accountId}/registration-tokens/{tokenId}' },
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

  /** Grants a partner or a user (registered user ID) a role (R11, R24); the caller's own roles decide (sa_admin, va_admin on the scope) or an operator. */
  grantRole(accountId: string, grant: GrantRoleRequest): Promise<RoleGrant> {
    return this.#call('grantRole', { params: { accountId }, body: grant });
  }

  revokeRole(accountId: string, grantId: string): Promise<void> {
    return this.#call('revokeRole', { params: { accountId, grantId } });
  }

  // ------------------------------------------------------------ the complete view (R23) and a user's own keys (R24)

  /** Licenses per virtual account and SKU: purchased, in use, balance, overage, next expiry. */
  listLicenses(accountId: string, options: ViewOptions = {}): Promise<LicenseView> {
    return this.#call('listLicenses', { params: { accountId }, query: { ...options } });
  }

  listInstances(accountId: string, options: ViewOptions & { includeRemoved?: boolean } = {}): Promise<InstanceView> {
    return this.#call('listInstances', { params: { accountId }, query: { ...options } });
  }

  /** The chart's data: use against purchase per day. */
  getDailyUse(accountId: string, options: ViewOptions & { days?: number } = {}): Promise<DailyUseView> {
    return this.#call('getDailyUse', { params: { accountId }, query: { ...options } });
  }

  listTokens(accountId: string, options: ViewOptions = {}): Promise<TokenView> {
    return this.#call('listTokens', { params: { accountId }, query: { ...options } });
  }

  /** The event log, newest first; pass the last eventId as `before` for older ones. */
  listEvents(accountId: string, options: ViewOptions & { limit?: number; before?: string } = {}): Promise<EventView> {
    return this.#call('listEvents', { params: { accountId }, query: { ...options } });
  }

  /** The event log as CSV text. */
  exportEvents(accountId: string, options: ViewOptions = {}): Promise<string> {
    return this.#call('exportEvents', { params: { accountId }, query: { ...options }, text: true });
  }

  /** The user a user key acts for (user keys only). */
  getMe(): Promise<UserProfile> {
    return this.#call('getMe', {});
  }

  /** Mints another key acting as this user; the key is in the answer, once. */
  createMyApiKey(label: string): Promise<CreatedUserKey> {
    return this.#call('createMyApiKey', { body: { label } });
  }

  revokeMyApiKey(keyId: string): Promise<void> {
    return this.#call('revokeMyApiKey', { params: { keyId } });
  }

  // ------------------------------------------------------------ license use: alerts, agreements, true-ups, moves

  /** The account's alerts, newest first (R25). */
  listAlerts(accountId: string, query: AlertListParams = {}): Promise<Alerts> {
    return this.#call('listAlerts', { params: { accountId }, query });
  }

  /** Emails the user the account's alerts; repeating it changes nothing. */
  subscribeToAlerts(accountId: string, userId: string): Promise<AlertSubscription> {
    return this.#call('subscribeToAlerts', { params: { accountId, userId } });
  }

  unsubscribeFromAlerts(accountId: string, userId: string): Promise<AlertSubscription> {
    return this.#call('unsubscribeFromAlerts', { params: { accountId, userId } });
  }

  getOverageAgreement(accountId: string): Promise<OverageAgreement> {
    return this.#call('getOverageAgreement', { params: { accountId } });
  }

  /** Sets the overage agreement (R20); the account's pools are re-judged at once. */
  setOverageAgreement(accountId: string, agreement: OverageAgreementRequest): Promise<OverageAgreement> {
    return this.#call('setOverageAgreement', { params: { accountId }, body: agreement });
  }

  listTrueUps(accountId: string): Promise<TrueUps> {
    return this.#call('listTrueUps', { params: { accountId } });
  }

  /** Approves a booked true-up (R20): its orders ship and provision. */
  approveTrueUp(accountId: string, period: string): Promise<TrueUp> {
    return this.#call('approveTrueUp', { params: { accountId, period } });
  }

  /** Moves licenses between two virtual accounts of one Smart Account (R21). */
  moveLicenses(accountId: string, move: LicenseMoveRequest): Promise<LicenseMoveResult> {
    return this.#call('moveLicenses', { params: { accountId }, body: move });
  }

  /** Moves a product instance and its use to another virtual account (R21). */
  moveProductInstance(accountId: string, instanceId: string, move: InstanceMoveRequest): Promise<InstanceMoveResult> {
    return this.#call('moveProductInstance', { params: { accountId, instanceId }, body: move });
  }

  // ------------------------------------------------------------ license use: registration tokens

  /** Creates a registration token in a VA (R15); the token is in this answer only. */
  createRegistrationToken(accountId: string, request: CreateRegistrationTokenRequest): Promise<CreatedRegistrationToken> {
    return this.#call('createRegistrationToken', { params: { accountId }, body: request });
  }

  listRegistrationTokens(accountId: string, query: TokenListQueryType = {}): Promise<RegistrationTokenList> {
    return this.#call('listRegistrationTokens', { params: { accountId }, query });
  }

  revokeRegistrationToken(accountId: string, tokenId: string): Promise<RegistrationToken> {
    return this.#call('revokeRegistrationToken', { params: { accountId, tokenId } });
  }

  // ------------------------------------------------------------ transport

  async #call<T>(
    operationId: OperationId,
    request: {
      params?: PathParams;
      query?: Query;
      body?: unknown;
      headers?: Record<string, string>;
      acceptStatuses?: number[];
      /** The answer is text (CSV), returned as is. */
      text?: boolean;
    },
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
      if (request.text) return text as T;
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
