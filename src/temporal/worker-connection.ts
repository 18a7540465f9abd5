import { NativeConnection } from '@temporalio/worker';
import type { TemporalConnectionSettings } from '../config';
import { temporalConnectionOptions } from './connect';

/**
 * A worker's connection to the configured Temporal frontend (TLS, mTLS, API key as configured).
 * Apart from connect.ts so the API process never loads the worker's native module.
 */
export async function connectWorkerTemporal(temporal: TemporalConnectionSettings): Promise<NativeConnection> {
  return NativeConnection.connect(temporalConnectionOptions(temporal));
}
