import type { Config } from '../../src/config';

/**
 * The API's limits where tests, fault runs and benchmarks build it: a test file books through one
 * key and registers many devices from one address, and a benchmark drives thousands of requests a
 * second from one key, so the per-key, per-device and per-registration limits are far above what
 * any of them sends, and the event-loop and heap signals are off (a shared CI machine stalls now
 * and then). The pages keep their production limits, which the security tests prove. A test of the
 * limits themselves sets its own.
 */
export function withGenerousApiLimits(config: Config): Config {
  const generous = { max: 1_000_000, timeWindowMs: 60_000 };
  return {
    ...config,
    rateLimits: {
      ...config.rateLimits,
      perApiKey: generous,
      perDeviceCredential: generous,
      deviceRegistrationPerIp: generous,
    },
    loadShedding: { maxInFlight: 100_000, maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0, retryAfterS: config.loadShedding.retryAfterS },
  };
}
