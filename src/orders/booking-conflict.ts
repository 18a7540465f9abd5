import { isGrpcServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { BookOrderInput, FieldError, OrderFulfillmentInput } from './order';
import { orderWorkflowId } from './workflow-api';

/**
 * S9 with a twist: a re-sent external reference books nothing new, but one sent with another
 * body (other lines, another assignment) would silently be ignored. The booked request is the
 * order workflow's own input (its first history event), so it is compared field by field and
 * every difference is named, like an Idempotency-Key reused with another body.
 */

type Json = unknown;

/** The dotted paths ("lines[1].quantity") where two JSON values differ; an absent field equals undefined. */
export function differingFields(booked: Json, requested: Json, path = ''): string[] {
  if (Array.isArray(booked) && Array.isArray(requested)) {
    if (booked.length !== requested.length) return [path || '(body)'];
    return booked.flatMap((item, i) => differingFields(item, requested[i], `${path}[${i}]`));
  }
  if (isObject(booked) && isObject(requested)) {
    const keys = [...new Set([...Object.keys(booked), ...Object.keys(requested)])].sort();
    return keys.flatMap((key) => differingFields(booked[key], requested[key], path ? `${path}.${key}` : key));
  }
  return booked === requested ? [] : [path || '(body)'];
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The parts of a booking that make the order; who booked it and its reference are its identity. */
function comparable(booking: Omit<BookOrderInput, 'partnerId'> & { partnerId?: string }): Record<string, Json> {
  return {
    partnerId: booking.partnerId ?? booking.bookedByPartnerId,
    assignment: booking.assignment,
    endCustomerContact: booking.endCustomerContact,
    lines: booking.lines,
  };
}

/** gRPC's NOT_FOUND: fetchHistory passes the service's error on as it is. */
const GRPC_NOT_FOUND = 5;

/** The input the order's workflow was started with, decoded (and decrypted) by the client's data converter. */
async function bookedInput(client: Client, orderId: string): Promise<OrderFulfillmentInput | undefined> {
  let history;
  try {
    history = await client.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
  } catch (err) {
    // The closed run is past the namespace's retention: nothing is left to compare with.
    if (err instanceof WorkflowNotFoundError || (isGrpcServiceError(err) && Number(err.code) === GRPC_NOT_FOUND)) return undefined;
    throw err;
  }
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started) return undefined;
  const [input] = await decodeArrayFromPayloads(client.options.loadedDataConverter, started.input?.payloads);
  return input as OrderFulfillmentInput;
}

/** The fields in which a re-sent booking differs from the booked order, each with its reason; empty when the same. */
export async function bookingDifferences(client: Client, orderId: string, booking: BookOrderInput): Promise<FieldError[]> {
  const booked = await bookedInput(client, orderId);
  if (!booked) return [];
  // A JSON round trip drops undefined fields, so "absent" and "undefined" compare equal.
  const normalise = (value: Json): Json => JSON.parse(JSON.stringify(value)) as Json;
  return differingFields(normalise(comparable(booked)), normalise(comparable(booking))).map((field) => ({
    field,
    reason: 'differs from the order booked with this externalReference',
  }));
}
