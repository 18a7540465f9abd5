/**
 * One interface per table: the row as node-postgres returns it (bigint and numeric as strings,
 * timestamptz as Date, date as "YYYY-MM-DD" — see knex.ts), for typed knex queries:
 * `db<OrderRow>('orders')`. Written from information_schema after every migration; keep in step
 * with migrations/ when a column changes. jsonb columns are `unknown`: callers narrow them.
 */

/** A bigint key: node-postgres reads it as a string; code that created the row may hold it as a number. */
export type BigintId = string | number;
/** A bigint count (a sum of use, migration 20261209_100): read as a string, so a reader converts it with Number(). */
export type BigintCount = string | number;

/** Table `access_tokens`. */
export interface AccessTokenRow {
  id: BigintId;
  token_hash: Buffer;
  purpose: string;
  order_id: string | null;
  account_id: string | null;
  contact_id: BigintId;
  email_idempotency_key: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: Date;
}

/** Table `accounts`. */
export interface AccountRow {
  id: string;
  kind: string;
  name: string;
  domain: string | null;
  status: string;
  owner_partner_id: string | null;
  primary_contact_id: BigintId | null;
  created_at: Date;
  activated_at: Date | null;
}

/** Table `alert_subscriptions`. */
export interface AlertSubscriptionRow {
  account_id: string;
  user_id: BigintId;
  created_at: Date;
}

/** Table `api_idempotency_keys`. */
export interface ApiIdempotencyKeyRow {
  api_key_id: BigintId;
  idempotency_key: string;
  request_fingerprint: string;
  order_id: string;
  created_at: Date;
}

/** Table `api_keys`. */
export interface ApiKeyRow {
  id: BigintId;
  key_hash: Buffer;
  role: 'partner' | 'distributor' | 'operator' | 'user';
  partner_id: string | null;
  label: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  user_id: BigintId | null;
}

/** Table `distributor_resellers`. */
export interface DistributorResellerRow {
  distributor_id: string;
  reseller_id: string;
  created_at: Date;
}

/** Table `email_outbox`. */
export interface EmailOutboxRow {
  id: BigintId;
  idempotency_key: string;
  order_id: string | null;
  template: string;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  message_id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  sent_at: Date | null;
  /** The alert an alert email is for (migration 20261207_130). */
  alert_id: BigintId | null;
  /** The failed email this row resends; at most one resend per email. */
  resend_of: BigintId | null;
  /** Who asked for the resend: operator, partner:<id>. */
  resent_by: string | null;
}

/** Table `entitlements`. */
export interface EntitlementRow {
  id: BigintId;
  order_line_id: BigintId;
  account_id: string;
  virtual_account_id: BigintId | null;
  sku: string;
  quantity: number;
  status: string;
  deposited_at: Date;
  activated_at: Date | null;
  updated_at: Date;
}

/** Table `holding_account_subscriptions`. */
export interface HoldingAccountSubscriptionRow {
  account_id: string;
  user_id: BigintId;
  created_at: Date;
}

/** Table `instance_usage`. */
export interface InstanceUsageRow {
  instance_id: string;
  sku: string;
  virtual_account_id: BigintId;
  count: number;
  state: string;
  reported_at: Date;
}

/** Table `license_alerts`. */
export interface LicenseAlertRow {
  id: BigintId;
  account_id: string;
  virtual_account_id: BigintId | null;
  kind: string;
  subject: string;
  day: string;
  message: string;
  details: unknown;
  created_at: Date;
}

/** Table `license_allocations`. */
export interface LicenseAllocationRow {
  id: BigintId;
  entitlement_id: BigintId;
  account_id: string;
  virtual_account_id: BigintId;
  sku: string;
  quantity: number;
  ends_on: string | null;
  created_at: Date;
  updated_at: Date;
}

/** Table `license_events`. */
export interface LicenseEventRow {
  id: BigintId;
  account_id: string;
  virtual_account_id: BigintId | null;
  type: string;
  subject: string;
  actor: string;
  details: unknown;
  idempotency_key: string | null;
  created_at: Date;
}

/** Table `license_pools`. */
export interface LicensePoolRow {
  virtual_account_id: BigintId;
  sku: string;
  account_id: string;
  purchased: BigintCount;
  authorized: BigintCount;
  overage: BigintCount;
  unserved: BigintCount;
  next_expiry_on: string | null;
  insufficient_since: Date | null;
  updated_at: Date;
}

/** Table `lrp_records`. */
export interface LrpRecordRow {
  id: BigintId;
  order_line_id: BigintId;
  account_id: string;
  license_key: string;
  created_at: Date;
}

/** Table `order_events`. */
export interface OrderEventRow {
  id: BigintId;
  order_id: string;
  type: string;
  details: unknown;
  idempotency_key: string;
  created_at: Date;
}

/** Table `order_lines`. */
export interface OrderLineRow {
  id: BigintId;
  order_id: string;
  line_number: number;
  sku: string;
  quantity: number;
  license_type: 'smart' | 'classic';
  term_months: number | null;
  sa_mandatory: boolean;
  state: string;
  shipped_on: string | null;
}

/** Table `orders`. */
export interface OrderRow {
  id: string;
  external_reference: string;
  booked_by_partner_id: string;
  partner_id: string;
  workflow_id: string;
  assignment_kind: string;
  account_id: string | null;
  virtual_account_id: BigintId | null;
  holding_account_id: string | null;
  customer_domain: string | null;
  end_customer_contact_id: BigintId | null;
  status: string;
  waiting_for: string | null;
  booked_at: Date;
  updated_at: Date;
  fulfilled_at: Date | null;
  cancelled_at: Date | null;
  /** The OrderStatus the workflow derived at status_version (migration 040); NULL for older runs. */
  status_document: unknown;
  status_version: number | null;
}

/** Table `overage_agreements`. */
export interface OverageAgreementRow {
  account_id: string;
  kind: string;
  allowance_factor: string | null;
  cadence: string;
  first_period_starts_on: string;
  partner_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** Table `overage_peaks`. */
export interface OveragePeakRow {
  account_id: string;
  virtual_account_id: BigintId;
  sku: string;
  period: string;
  peak: BigintCount;
  updated_at: Date;
}

/** Table `partners`. */
export interface PartnerRow {
  id: string;
  name: string;
  kind: string;
  notification_email: string;
  created_at: Date;
}

/** Table `pool_daily_use`. */
export interface PoolDailyUseRow {
  virtual_account_id: BigintId;
  sku: string;
  day: string;
  purchased: BigintCount;
  in_use: BigintCount;
}

/** Table `product_instances`. */
export interface ProductInstanceRow {
  id: string;
  account_id: string;
  virtual_account_id: BigintId;
  product_id: string;
  serial_number: string;
  hostname: string;
  public_key: string;
  registration_token_id: BigintId | null;
  state: string;
  credential_serial: string;
  credential_expires_at: Date;
  registered_at: Date;
  last_contact_at: Date;
  removed_at: Date | null;
}

/** Table `registration_tokens`. */
export interface RegistrationTokenRow {
  id: BigintId;
  token_hash: Buffer;
  account_id: string;
  virtual_account_id: BigintId;
  description: string;
  export_controlled: boolean;
  max_uses: number;
  uses: number;
  expires_at: Date;
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
}

/** Table `role_grants`. */
export interface RoleGrantRow {
  id: BigintId;
  account_id: string;
  virtual_account_id: BigintId | null;
  partner_id: string | null;
  role: string;
  created_at: Date;
  revoked_at: Date | null;
  user_id: BigintId | null;
  granted_by: string | null;
}

/** Table `smart_account_requests`. */
export interface SmartAccountRequestRow {
  id: BigintId;
  domain: string;
  contact_id: BigintId;
  requested_by_partner_id: string;
  account_id: string | null;
  status: string;
  refusal_reason: string | null;
  created_at: Date;
}

/** Table `subscriptions`. */
export interface SubscriptionRow {
  id: BigintId;
  order_line_id: BigintId;
  term_months: number;
  starts_on: string;
  ends_on: string;
  created_at: Date;
}

/** Table `true_ups`. */
export interface TrueUpRow {
  id: BigintId;
  account_id: string;
  period: string;
  status: string;
  order_id: string | null;
  report: unknown;
  created_at: Date;
  updated_at: Date;
}

/** Table `usage_reports`. */
export interface UsageReportRow {
  instance_id: string;
  report_id: string;
  answer: string; // the signed answer's JSON as sent (text: stored and handed back whole, never queried)
  signature_hash: Buffer | null; // SHA-256 of its request's signature (null before 20261210_100): that request again is a replay
  received_at: Date;
}

/** Table `users`. */
export interface UserRow {
  id: BigintId;
  email: string;
  full_name: string | null;
  registered_id: string | null;
  partner_id: string | null;
  created_at: Date;
  email_verified_at: Date | null;
}

/** Table `virtual_accounts`. */
export interface VirtualAccountRow {
  id: BigintId;
  account_id: string;
  parent_id: BigintId | null;
  name: string;
  path: string;
  created_at: Date;
}

/** Table `web_sessions`. */
export interface WebSessionRow {
  id: BigintId;
  session_hash: Buffer;
  user_id: BigintId;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}
