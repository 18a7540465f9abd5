import { Client, Connection, type ClientInterceptors, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { toClientOptions } from '@temporalio/envconfig';
import type { Config, TemporalConnectionSettings } from '../config';
import { AesGcmPayloadCodec, parseEncryptionKeys } from './payload-codec';

/**
 * R14: every process that talks to Temporal (worker, API, stack scripts, tests) seals payloads
 * with the same codec, so no contact name or email address reaches Temporal in clear. There is
 * deliberately no way to run without keys.
 */
export function dataConverterFor(
  config: Pick<Config, 'payloadEncryptionKeys'> & Partial<Pick<Config, 'payloadCompression'>>,
): DataConverter {
  if (!config.payloadEncryptionKeys) {
    throw new Error(
      'PAYLOAD_ENCRYPTION_KEYS is required: payloads in Temporal carry customer contacts (R14). ' +
        'Generate a key with: echo "k1:$(openssl rand -base64 32)"',
    );
  }
  const keys = parseEncryptionKeys(config.payloadEncryptionKeys);
  return { payloadCodecs: [new AesGcmPayloadCodec(keys, { compress: config.payloadCompression ?? true })] };
}

/**
 * The options of every connection to Temporal, client or worker (worker-connection.ts): address,
 * TLS / mTLS and API key as Temporal's own tools turn a profile into them. Certificates are read
 * from their files here, so a renewed one is picked up by the next connection.
 */
export function temporalConnectionOptions(temporal: TemporalConnectionSettings): TemporalConnectionOptions {
  // envconfig's rule: TLS when the profile says so, or by default once an API key is given.
  const { tls } = toClientOptions(temporal).connectionOptions;
  const { address, apiKey, grpcMeta } = temporal;
  return {
    address,
    ...(tls ? { tls } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(grpcMeta && Object.keys(grpcMeta).length > 0 ? { metadata: grpcMeta } : {}),
  };
}

/** What both Connection (client) and NativeConnection (worker) accept. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: NonNullable<ConnectionOptions['tls']>;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** How the connection proves itself, for a start-up log line: never the key or a certificate itself. */
export function describeTemporalSecurity(temporal: TemporalConnectionSettings): string {
  const { tls, apiKey } = temporalConnectionOptions(temporal);
  const parts = [tls ? (typeof tls === 'object' && tls.clientCertPair ? 'mTLS' : 'TLS') : 'plain'];
  if (apiKey !== undefined) parts.push('API key');
  return parts.join(' + ');
}

/** A client connection to the configured Temporal frontend; `extra` adds such as connectTimeout. Close it when done. */
export async function connectTemporal(
  temporal: TemporalConnectionSettings,
  extra: Omit<ConnectionOptions, 'address'> = {},
): Promise<Connection> {
  return Connection.connect({ ...temporalConnectionOptions(temporal), ...extra });
}

/**
 * A Temporal client on its own connection, with the payload codec and, when tracing is on, its
 * interceptors (src/observability/tracing.ts). Close `connection` when done.
 */
export async function connectTemporalClient(
  config: Pick<Config, 'payloadEncryptionKeys'> & { temporal: TemporalConnectionSettings },
  interceptors?: ClientInterceptors,
): Promise<{ client: Client; connection: Connection }> {
  const connection = await connectTemporal(config.temporal);
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config),
    ...(interceptors ? { interceptors } : {}),
  });
  return { client, connection };
}
