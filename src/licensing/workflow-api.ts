import { defineQuery, defineUpdate } from '@temporalio/workflow';

/**
 * Names and messages of the license-use workflows, shared by the workflows, the worker, the API
 * and tests (safe to import from workflow code).
 */
export const LICENSE_CLOCK_WORKFLOW_TYPE = 'licenseClock';
export const TRUE_UP_WORKFLOW_TYPE = 'trueUp';
/** The Schedule that starts licenseClock; one per namespace and task queue. */
export const LICENSE_CLOCK_SCHEDULE_ID = 'license-clock';

export function trueUpWorkflowId(accountId: string, period: string): string {
  return `true-up-${accountId}-${period}`;
}

export interface LicenseClockInput {
  /** The instant the sweep judges against; the workflow's own clock when absent (tests pass a date). */
  asOfMs?: number;
  /** Rows each sweep step reads at most per batch. */
  batch?: number;
  /** Only this Smart Account (an operator's re-run for one customer; a test's own world). */
  accountId?: string;
}

export interface LicenseClockResult {
  asOf: string;
  failedToConnect: number;
  expired: number;
  removed: number;
  expiringAlerts: number;
  expiredPools: number;
  trueUpsStarted: string[];
  alertsEmailed: number;
}

export interface TrueUpInput {
  accountId: string;
  /** The period's first day (YYYY-MM-DD), its name. */
  period: string;
}

export type TrueUpPhase = 'Preparing' | 'AwaitingApproval' | 'Approved' | 'NothingToReconcile';

export interface ApproveTrueUpRequest {
  /** Who approves: "partner:<id>", "user:<id>" or "operator" (the API decides who may). */
  approvedBy: string;
}

export interface TrueUpStatusView {
  phase: TrueUpPhase;
  orderIds: string[];
  approvedBy?: string;
}

/** The approval of a booked true-up: its orders then ship and provision (R20). */
export const approveTrueUpUpdate = defineUpdate<TrueUpStatusView, [ApproveTrueUpRequest]>('approveTrueUp');
export const trueUpStatusQuery = defineQuery<TrueUpStatusView>('trueUpStatus');
