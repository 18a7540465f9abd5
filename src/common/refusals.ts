/**
 * Business refusals: retrying cannot help. The type names the reason so the workflow, the API
 * (which maps each to an HTTP status) and tests can tell them apart.
 */
export type RefusalType =
  | 'UnknownPartner'
  | 'UnknownAccount'
  | 'UnknownVirtualAccount'
  | 'AccountNotActive'
  | 'NotAConsumptionTarget'
  | 'NotAHoldingAccount'
  | 'NotASmartAccount'
  | 'NotAuthorized'
  | 'UnknownOrder'
  | 'SmartAccountRequestRefused'
  | 'InvalidLink'
  | 'DomainMismatch'
  | 'UnknownUser'
  | 'UnknownTransferBatch'
  | 'LastAccountAdmin';
