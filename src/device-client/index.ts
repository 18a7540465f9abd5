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
export { keysFromPublished, type PublishedSigningKeys } from './protocol';
export { verifyAnswer, type AnswerProof, type SignedUsageAnswer, type UsageAnswerBody } from './answers';
