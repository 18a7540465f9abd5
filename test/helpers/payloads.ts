import type { Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, parseEncryptionKeys, SEALED_ENCODINGS } from '../../src/temporal/payload-codec';

/** Whether a value in a history is a Payload (it has metadata with an encoding, and data). */
function isPayload(value: unknown): value is Payload {
  if (!value || typeof value !== 'object') return false;
  const metadata = (value as { metadata?: Record<string, unknown> }).metadata;
  return Boolean(metadata && typeof metadata === 'object' && metadata.encoding);
}

/**
 * Every payload of a history (inputs, results, signals, updates, markers...), except search
 * attributes, which Temporal indexes and which therefore stay readable by design.
 */
export function payloadsOf(value: unknown, found: Payload[] = []): Payload[] {
  if (Array.isArray(value)) value.forEach((v) => payloadsOf(v, found));
  else if (isPayload(value)) found.push(value);
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) if (key !== 'searchAttributes') payloadsOf(v, found);
  }
  return found;
}

export const encodingOf = (payload: Payload): string => Buffer.from(payload.metadata!.encoding).toString('utf8');

/** Sealed by our codec, compressed first or not. */
export const isSealed = (payload: Payload): boolean => SEALED_ENCODINGS.includes(encodingOf(payload));

/**
 * The history with every sealed payload opened in place: what gets committed under
 * test/histories/, so the recorded histories replay with any key (they hold test data only).
 */
export async function openHistory<T>(history: T, payloadEncryptionKeys: string): Promise<T> {
  const codec = new AesGcmPayloadCodec(parseEncryptionKeys(payloadEncryptionKeys));
  const open = async (value: unknown): Promise<void> => {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (isPayload(value[i]) && isSealed(value[i])) value[i] = (await codec.decode([value[i]]))[0];
        else await open(value[i]);
      }
    } else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      for (const [key, v] of Object.entries(record)) {
        if (isPayload(v) && isSealed(v)) record[key] = (await codec.decode([v]))[0];
        else await open(v);
      }
    }
  };
  await open(history);
  return history;
}
