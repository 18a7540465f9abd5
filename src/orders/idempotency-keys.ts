import { createHash } from 'node:crypto';
import type { Principal } from '../api/auth';
import type { ApiDependencies } from '../api/dependencies';
import { HttpError } from '../api/errors';
import type { ApiIdempotencyKeyRow } from '../db/rows';
import type { BookOrderInput } from './order';

export function fingerprint(booking: BookOrderInput): string {
  return createHash('sha256').update(JSON.stringify(booking)).digest('hex');
}

/**
 * Idempotency-Key: the first request with a key reserves it for its order; a replay with the same
 * body gets that order back, the same key with another body is refused. The reservation is
 * removed again if the booking fails, so a corrected request can reuse the key.
 */
export async function reserveIdempotencyKey(
  deps: ApiDependencies,
  principal: Principal,
  key: string,
  orderId: string,
  print: string,
): Promise<'new' | 'replay'> {
  const inserted = await deps
    .db<ApiIdempotencyKeyRow>('api_idempotency_keys')
    .insert({ api_key_id: principal.keyId, idempotency_key: key, request_fingerprint: print, order_id: orderId })
    .onConflict(['api_key_id', 'idempotency_key'])
    .ignore()
    .returning('order_id');
  if (inserted.length > 0) return 'new';
  const existing = (await deps
    .db<ApiIdempotencyKeyRow>('api_idempotency_keys')
    .where({ api_key_id: principal.keyId, idempotency_key: key })
    .first('request_fingerprint', 'order_id'))!;
  if (existing.request_fingerprint !== print || existing.order_id !== orderId) {
    throw new HttpError(
      422,
      'IdempotencyKeyReused',
      'this Idempotency-Key was used with a different request; use a new key for a new order',
    );
  }
  return 'replay';
}

/** Frees a key reserved by a booking that then failed, so the corrected request may use it. */
export async function releaseIdempotencyKey(deps: ApiDependencies, principal: Principal, key: string): Promise<void> {
  await deps.db<ApiIdempotencyKeyRow>('api_idempotency_keys').where({ api_key_id: principal.keyId, idempotency_key: key }).delete();
}
