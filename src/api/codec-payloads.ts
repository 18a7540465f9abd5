import { Type, type Static } from '@sinclair/typebox';
import type { Payload } from '@temporalio/common';

/** One payload in the codec server protocol: metadata values and data in base64. */
export const PayloadJson = Type.Object(
  {
    metadata: Type.Optional(Type.Record(Type.String(), Type.String({ description: 'base64' }))),
    data: Type.Optional(Type.String({ description: 'base64' })),
  },
  { additionalProperties: false },
);

/**
 * The request and answer body. `payloads` may be left out: the Temporal CLI sends `{}` for a
 * query or signal without arguments, which is an empty list, not a malformed request.
 */
export const PayloadsBody = Type.Object(
  { payloads: Type.Optional(Type.Array(PayloadJson, { maxItems: 1000 })) },
  { additionalProperties: false },
);
export type PayloadsBodyType = Static<typeof PayloadsBody>;

export function fromJson(p: Static<typeof PayloadJson>): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

export function toJson(p: Payload): Static<typeof PayloadJson> {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}
