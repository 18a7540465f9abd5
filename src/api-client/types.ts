/** The request and response types of the typed client: the Static<> types of the server's own TypeBox schemas. */
import type { Static } from '@sinclair/typebox';
import type {
  HoldingAccountBodyType,
  HoldingAccountType,
  PartnerBodyType,
  PartnerType,
  ResellerBodyType,
  ResellerLinkType,
  UserBodyType,
  UserType,
} from '../accounts/admin-schemas';
import type {
  AssignBody,
  BookOrderBody,
  BookedOrderResponse,
  CancelBody,
  ErrorResponse,
  ListOrdersQuery,
  OrderStatusQuery,
  OrderListResponse,
  OrderStatusResponse,
  OrderSummary,
  ShipmentAccepted,
  ShipmentBody,
} from '../api/schemas';
import type { TransferBatchBody, TransferBatchResponse } from '../orders/transfer-schemas';
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
  InstanceRemoveResponse,
  LicenseMoveBody,
  LicenseMoveResponse,
  SubscriptionView,
  TrueUpList,
  TrueUpView,
} from '../licensing/time-schemas';
import type { CreatedTokenResponse, CreateTokenBodyType, TokenListQueryType, TokenListResponse, TokenResponse } from '../licensing/schemas';
import type { EmailListBody, EmailListQueryType, EmailResentBody, EmailViewBody, ResendEmailBodyType } from '../email/email-views';

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
/** `live: true` asks the order's workflow (a Query) rather than the status Postgres keeps. */
export type GetOrderParams = Static<typeof OrderStatusQuery>;
export type OrderList = Static<typeof OrderListResponse>;
export type OrderListItem = Static<typeof OrderSummary>;
export type AssignSmartAccountRequest = Static<typeof AssignBody>;
export type ReportShipmentRequest = Static<typeof ShipmentBody>;
export type ShipmentAcceptedResult = Static<typeof ShipmentAccepted>;
export type CancelOrderRequest = Static<typeof CancelBody>;
export type OrderTransferRequest = Static<typeof TransferBatchBody>;
export type OrderTransferBatch = Static<typeof TransferBatchResponse>;
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
/** The tokens view answers as listRegistrationTokens does: the same shape as RegistrationTokenList. */
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
export type RemovedProductInstance = Static<typeof InstanceRemoveResponse>;
// License use (src/licensing/schemas.ts): registration tokens (R15).
export type CreateRegistrationTokenRequest = CreateTokenBodyType;
export type RegistrationToken = Static<typeof TokenResponse>;
export type CreatedRegistrationToken = Static<typeof CreatedTokenResponse>;
export type RegistrationTokenList = Static<typeof TokenListResponse>;
export type TokenListQuery = TokenListQueryType;

// Administration (src/accounts/admin-schemas.ts).
export type CreatePartnerRequest = PartnerBodyType;
export type Partner = PartnerType;
export type LinkResellerRequest = ResellerBodyType;
export type ResellerLink = ResellerLinkType;
export type CreateHoldingAccountRequest = HoldingAccountBodyType;
export type HoldingAccount = HoldingAccountType;
export type CreateUserRequest = UserBodyType;
export type User = UserType;

// ---- the outbox (issue 18 item 1): failed emails and their resend
export type Email = EmailViewBody;
export type EmailListParams = EmailListQueryType;
export type EmailList = EmailListBody;
export type ResendEmailRequest = ResendEmailBodyType;
export type EmailResent = EmailResentBody;
