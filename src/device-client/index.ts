/** The device client: what a device maker embeds to register, report and verify (R16, R17). */
export {
  DeviceApiError,
  DeviceClient,
  generateDeviceKeys,
  type DeviceClientOptions,
  type DeviceIdentity,
  type DeviceSession,
  type DeviceState,
  type Registration,
} from './client';
export {
  keysFromPublished,
  verifyAnswer,
  type AnswerProof,
  type PublishedSigningKeys,
  type SignedUsageAnswer,
  type UsageAnswerBody,
} from './protocol';
