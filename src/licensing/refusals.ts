import { HttpError } from '../api/errors';

/**
 * Refusals of the license-use paths, each with its HTTP status and a code a device or script can
 * act on: unknown credentials 401, not allowed or no longer usable 403, used up or taken 409.
 * An HttpError, so the API's one error handler answers them with the documented error body.
 */
export type LicenseRefusalCode =
  | 'UnknownToken'
  | 'TokenExpired'
  | 'TokenRevoked'
  | 'TokenUsedUp'
  | 'HoldingAccountToken'
  | 'AccountNotActive'
  | 'UdiRegisteredWithAnotherKey'
  | 'UdiRegisteredElsewhere'
  | 'InvalidCredential'
  | 'StaleRequest'
  | 'ReplayedRequest'
  | 'InvalidSignature'
  | 'InvalidSession'
  | 'SessionExpired'
  | 'NotThisInstance'
  | 'InstanceRemoved'
  | 'SigningNotConfigured';

const STATUS: Record<LicenseRefusalCode, number> = {
  UnknownToken: 401,
  TokenExpired: 403,
  TokenRevoked: 403,
  TokenUsedUp: 409,
  HoldingAccountToken: 403,
  AccountNotActive: 403,
  UdiRegisteredWithAnotherKey: 409,
  UdiRegisteredElsewhere: 409,
  InvalidCredential: 401,
  StaleRequest: 401,
  ReplayedRequest: 401,
  InvalidSignature: 401,
  InvalidSession: 401,
  SessionExpired: 401,
  NotThisInstance: 403,
  InstanceRemoved: 403,
  SigningNotConfigured: 503,
};

export class LicenseRefusal extends HttpError {
  constructor(
    readonly refusal: LicenseRefusalCode,
    message: string,
  ) {
    super(STATUS[refusal], refusal, message);
    this.name = 'LicenseRefusal';
  }
}
