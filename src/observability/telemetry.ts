import { makeTelemetryFilterString, type TelemetryOptions } from '@temporalio/worker';
import type { LogLevel } from '../config';

/**
 * The worker's Runtime telemetry: Core's own log lines are forwarded to the Runtime logger (so
 * they come out as the same JSON, not as Core's plain text on stderr), and every metric, the
 * SDK's and ours, is served by Core's Prometheus exporter at http://<listen>/metrics.
 */
export function workerTelemetryOptions(options: { logLevel: LogLevel; metricsListen: string }): TelemetryOptions {
  return {
    logging: { filter: makeTelemetryFilterString(coreLogFilter(options.logLevel)), forward: {} },
    metrics: { prometheus: { bindAddress: options.metricsListen } },
  };
}

const LEVEL_ORDER: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/**
 * Core (the SDK's Rust part) at LOG_LEVEL; the libraries under it (gRPC, HTTP) never below WARN,
 * because their INFO and DEBUG lines are per-request chatter an operator cannot act on.
 */
export function coreLogFilter(level: LogLevel): { core: LogLevel; other: LogLevel } {
  const other = LEVEL_ORDER.indexOf(level) >= LEVEL_ORDER.indexOf('WARN') ? level : 'WARN';
  return { core: level, other };
}
