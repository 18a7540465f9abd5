import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OrderStatus } from './order-lifecycle';

/**
 * Names and message definitions shared by the workflows, the worker, the client, the CLI and
 * tests, so none of them repeats a string. Safe to import from workflow code.
 */
export const ORDER_WORKFLOW_TYPE = 'orderFulfillment';
export const ACTIVATION_WORKFLOW_TYPE = 'smartAccountActivation';

export function orderWorkflowId(orderId: string): string {
  return `order-${orderId}`;
}

/** One entity workflow per Smart Account awaiting activation, shared by every order that waits for it. */
export function activationWorkflowId(accountId: string): string {
  return `smart-account-${accountId}`;
}

// ---- order workflow ----

/** The full, readable status of one order (per line state, account, subscription, what it waits for, emails). */
export const orderStatusQuery = defineQuery<OrderStatus>('orderStatus');

export interface LineShipped {
  lineNumber: number;
  /** The business ship date, YYYY-MM-DD (never the clock of whoever reports it). */
  shippedOn: string;
}
/** A fact from the ordering system: fire and forget (R7). */
export const lineShippedSignal = defineSignal<[LineShipped]>('lineShipped');

export interface AssignSmartAccountRequest {
  accountId: string;
  virtualAccountPath?: string;
  /** The partner or distributor that assigns; it needs a role on the account (R11). */
  actingPartnerId: string;
}
/** R6: the customer's active Smart Account for an order in a holding account or awaiting assignment. */
export const assignSmartAccountUpdate = defineUpdate<OrderStatus, [AssignSmartAccountRequest]>('assignSmartAccount');

export interface CancelOrderRequest {
  actingPartnerId?: string;
  reason?: string;
}
/** R13: cancels an order before provisioning and withdraws its licenses. */
export const cancelOrderUpdate = defineUpdate<OrderStatus, [CancelOrderRequest]>('cancelOrder');

export type CustomerChoice = { kind: 'existing'; accountId: string; virtualAccountPath?: string } | { kind: 'create'; accountName: string };
export interface SubmitCustomerChoiceRequest {
  /** SHA-256 (hex) of the delegation link's token; the token itself never enters history. */
  tokenHash: string;
  choice: CustomerChoice;
}
/** R3: the end-customer contact's answer through the delegation link. */
export const submitCustomerChoiceUpdate = defineUpdate<OrderStatus, [SubmitCustomerChoiceRequest]>('submitCustomerChoice');

/** Sent by the activation workflow when the Smart Account an order waits for is active. */
export const smartAccountActivatedSignal = defineSignal<[{ accountId: string }]>('smartAccountActivated');

// ---- Smart Account activation workflow ----

export interface ActivationWorkflowInput {
  accountId: string;
  domain: string;
}
/** An order that waits for this account to become active. */
export const registerWaitingOrderSignal = defineSignal<[{ workflowId: string }]>('registerWaitingOrder');
/** An order no longer waits (cancelled, or assigned another account). */
export const withdrawWaitingOrderSignal = defineSignal<[{ workflowId: string }]>('withdrawWaitingOrder');
/** The account was activated (by its contact through the activation link). */
export const accountActivatedSignal = defineSignal<[]>('accountActivated');
export const activationStatusQuery = defineQuery<{ accountId: string; activated: boolean; waitingOrders: string[]; remindersSent: number }>(
  'activationStatus',
);
