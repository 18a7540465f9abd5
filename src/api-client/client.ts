import type { OperationId } from './operations';
import { callOperation, type OperationRequest, type Transport } from './transport';
import type {
  CreatePartnerRequest,
  Partner,
  LinkResellerRequest,
  ResellerLink,
  CreateHoldingAccountRequest,
  HoldingAccount,
  CreateUserRequest,
  User,
  OrderListItem,
  TokenListQuery,
  AddHoldingAccountMemberRequest,
  AlertListParams,
  AlertSubscription,
  Alerts,
  AssignSmartAccountRequest,
  BookOrderRequest,
  BookedOrder,
  CancelOrderRequest,
  CreateRegistrationTokenRequest,
  CreateVirtualAccountRequest,
  CreatedRegistrationToken,
  CreatedUserKey,
  DailyUseView,
  EmailList,
  EmailListParams,
  EmailResent,
  EventView,
  GrantRoleRequest,
  HealthStatus,
  HoldingAccountMember,
  HoldingAccountMemberList,
  InstanceMoveRequest,
  InstanceMoveResult,
  RemovedProductInstance,
  InstanceView,
  LicenseMoveRequest,
  LicenseMoveResult,
  LicenseView,
  GetOrderParams,
  ListOrdersParams,
  OrderList,
  OrderStatus,
  OrderTransferBatch,
  OrderTransferRequest,
  OverageAgreement,
  OverageAgreementRequest,
  RegistrationToken,
  RegistrationTokenList,
  ResendEmailRequest,
  ReportShipmentRequest,
  RoleGrant,
  RoleGrantList,
  ShipmentAcceptedResult,
  SmartAccountRequest,
  SmartAccountRequested,
  SmartAccountSearchResult,
  TokenView,
  TrueUp,
  TrueUps,
  UserProfile,
  ViewOptions,
  VirtualAccountCreated,
  VirtualAccountList,
} from './types';

export * from './types';
export * from './operations';

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
  /** Resends, after its Retry-After, a request turned away unprocessed (429 TooManyRequests, 503 Overloaded): default 3 times. */
  retries?: number;
  /** Longest Retry-After the client waits (ms; default 60 s). */
  maxRetryAfterMs?: number;
}

/**
 * One method per operation of the API (named by its operationId). Methods resolve with the
 * response body and reject with an ApiError when the API refuses.
 */
export class LicenseFulfillmentClient {
  readonly #transport: Transport;

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
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('no fetch available: use Node.js 20 or later, or pass options.fetch');
    const { apiKey, timeoutMs, retries, maxRetryAfterMs } = options;
    this.#transport = { baseUrl: url.toString().replace(/\/+$/, ''), apiKey, fetch: fetchImpl, timeoutMs, retries, maxRetryAfterMs };
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

  /**
   * The status of an order, as its workflow's last step committed it to Postgres (reads your
   * writes); `{ live: true }` asks the workflow itself (slower).
   */
  getOrder(orderId: string, options: GetOrderParams = {}): Promise<OrderStatus> {
    return this.#call('getOrder', { params: { orderId }, query: options.live ? { live: true } : undefined });
  }

  /** Assigns the customer's active Smart Account (R6); held licenses move there. */
  assignSmartAccount(orderId: string, assignment: AssignSmartAccountRequest): Promise<OrderStatus> {
    return this.#call('assignSmartAccount', { params: { orderId }, body: assignment });
  }

  /**
   * Assigns many held orders to one customer Smart Account as a durable batch (202; the same
   * requestKey and body again: the same batch, 200). Each order is judged by its own rules.
   */
  startOrderTransfer(request: OrderTransferRequest): Promise<OrderTransferBatch> {
    return this.#call('startOrderTransfer', { body: request });
  }

  /** A batch transfer's progress: succeeded, refused (with each order's reason), pending. */
  getOrderTransfer(batchId: string): Promise<OrderTransferBatch> {
    return this.#call('getOrderTransfer', { params: { batchId } });
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

  /**
   * Emails the customer a new delegation link; the order's earlier links die at once. The same
   * requestId sends one link (a retry answers `repeated: true`).
   */
  resendDelegationLink(orderId: string, request: { requestId: string }): Promise<{ orderId: string; sent: true; repeated: boolean }> {
    return this.#call('resendDelegationLink', { params: { orderId }, body: request });
  }

  /** The same for the activation link of a Smart Account pending activation (409 once it is active). */
  resendActivationLink(accountId: string, request: { requestId: string }): Promise<{ accountId: string; sent: true; repeated: boolean }> {
    return this.#call('resendActivationLink', { params: { accountId }, body: request });
  }

  /** Emails by delivery status, newest first; by default the ones the SMTP server refused for good, with its answer. */
  listEmails(query: EmailListParams = {}): Promise<EmailList> {
    return this.#call('listEmails', { query });
  }

  /** Sends a failed email again, to `to` if given; a second call sends nothing new (`repeated: true`). */
  resendEmail(emailId: string, request: ResendEmailRequest = {}): Promise<EmailResent> {
    return this.#call('resendEmail', { params: { emailId }, body: request });
  }

  // ------------------------------------------------------------ administration (operators)

  /** Creates a partner or distributor; the same request again answers the same partner. */
  createPartner(partner: CreatePartnerRequest): Promise<Partner> {
    return this.#call('createPartner', { body: partner });
  }

  /** Links a reseller to its distributor (R10). */
  linkReseller(distributorId: string, link: LinkResellerRequest): Promise<ResellerLink> {
    return this.#call('linkReseller', { params: { partnerId: distributorId }, body: link });
  }

  createHoldingAccount(account: CreateHoldingAccountRequest): Promise<HoldingAccount> {
    return this.#call('createHoldingAccount', { body: account });
  }

  /** Creates a user without a registered user ID (that comes from the user's own verification). */
  createUser(user: CreateUserRequest): Promise<User> {
    return this.#call('createUser', { body: user });
  }

  // ------------------------------------------------------------ the complete view (R23) and a user's own keys (R24)

  /** Licenses per virtual account and SKU: purchased, in use, balance, overage, next expiry. */
  listLicenses(accountId: string, options: ViewOptions = {}): Promise<LicenseView> {
    return this.#call('listLicenses', { params: { accountId }, query: { ...options } });
  }

  listInstances(
    accountId: string,
    options: ViewOptions & { includeRemoved?: boolean; limit?: number; after?: string } = {},
  ): Promise<InstanceView> {
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

  removeProductInstance(accountId: string, instanceId: string): Promise<RemovedProductInstance> {
    return this.#call('removeProductInstance', { params: { accountId, instanceId } });
  }

  // ------------------------------------------------------------ license use: registration tokens

  /** Creates a registration token in a VA (R15); the token is in this answer only. */
  createRegistrationToken(accountId: string, request: CreateRegistrationTokenRequest): Promise<CreatedRegistrationToken> {
    return this.#call('createRegistrationToken', { params: { accountId }, body: request });
  }

  listRegistrationTokens(accountId: string, query: TokenListQuery = {}): Promise<RegistrationTokenList> {
    return this.#call('listRegistrationTokens', { params: { accountId }, query });
  }

  revokeRegistrationToken(accountId: string, tokenId: string): Promise<RegistrationToken> {
    return this.#call('revokeRegistrationToken', { params: { accountId, tokenId } });
  }

  // ------------------------------------------------------------ transport

  #call<T>(operationId: OperationId, request: OperationRequest): Promise<T> {
    return callOperation<T>(this.#transport, operationId, request);
  }
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
