import { Client, Connection, type ClientInterceptors } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config';
import { AesGcmPayloadCodec, parseEncryptionKeys } from './payload-codec';

/**
 * R14: every process that talks to Temporal (worker, API, stack scripts, tests) seals payloads
 * with the same codec, so no contact name or email address reaches Temporal in clear. There is
 * deliberately no way to run without keys.
 */
export function dataConverterFor(config: Pick<Config, 'payloadEncryptionKeys'>): DataConverter {
  if (!config.payloadEncryptionKeys) {
    throw new Error(
      'PAYLOAD_ENCRYPTION_KEYS is required: payloads in Temporal carry customer contacts (R14). ' +
        'Generate a key with: echo "k1:$(openssl rand -base64 32)"',
    );
  }
  return { payloadCodecs: [new AesGcmPayloadCodec(parseEncryptionKeys(config.payloadEncryptionKeys))] };
}

/**
 * A Temporal client on its own connection, with the payload codec and, when tracing is on, its
 * interceptors (src/observability/tracing.ts). Close `connection` when done.
 */
export async function connectTemporalClient(
  config: Pick<Config, 'payloadEncryptionKeys'> & { temporal: Pick<Config['temporal'], 'address' | 'namespace'> },
  interceptors?: ClientInterceptors,
): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config),
    ...(interceptors ? { interceptors } : {}),
  });
  return { client, connection };
}
