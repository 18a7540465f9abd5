import { ApplicationFailure } from '@temporalio/common';

/**
 * Business refusals: retrying cannot help, so they are non-retryable and carry a type the
 * workflow, the API and tests can map to a reason. Outages are plain errors and are retried.
 */
export type RefusalType =
  | 'UnknownPartner'
  | 'UnknownAccount'
  | 'UnknownVirtualAccount'
  | 'AccountNotActive'
  | 'NotAConsumptionTarget'
  | 'NotAHoldingAccount'
  | 'NotAuthorized'
  | 'UnknownOrder'
  | 'SmartAccountRequestRefused'
  | 'InvalidLink'
  | 'DomainMismatch';

export function refuse(type: RefusalType, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type, ...(details ? [details] : []));
}
