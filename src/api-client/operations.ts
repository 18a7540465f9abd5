import type { ErrorBody, FieldError } from './types';

export type PathParams = Record<string, string | number>;

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
  startOrderTransfer: { method: 'POST', path: '/v1/order-transfers' },
  getOrderTransfer: { method: 'GET', path: '/v1/order-transfers/{batchId}' },
  resendDelegationLink: { method: 'POST', path: '/v1/orders/{orderId}/delegation-link' },
  resendActivationLink: { method: 'POST', path: '/v1/accounts/{accountId}/activation-link' },
  listEmails: { method: 'GET', path: '/v1/emails' },
  resendEmail: { method: 'POST', path: '/v1/emails/{emailId}/resend' },
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
  createPartner: { method: 'POST', path: '/v1/partners' },
  linkReseller: { method: 'POST', path: '/v1/partners/{partnerId}/resellers' },
  createHoldingAccount: { method: 'POST', path: '/v1/holding-accounts' },
  createUser: { method: 'POST', path: '/v1/users' },
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
  removeProductInstance: { method: 'DELETE', path: '/v1/accounts/{accountId}/product-instances/{instanceId}' },
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

/** "/v1/orders/{orderId}" with each parameter percent-encoded, so an ID can never change the path. */
export function expandPath(path: string, params: PathParams): string {
  return path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined || value === '') throw new TypeError(`${name} is required`);
    return encodeURIComponent(String(value));
  });
}

export function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ErrorBody).error === 'string' &&
    typeof (value as ErrorBody).message === 'string'
  );
}
