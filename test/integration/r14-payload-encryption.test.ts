/**
 * R14: no personal data in Temporal in clear. A delegated order carries the end customer's name
 * and email address in its input; the raw history, as the server stores it and as anyone with
 * access to Temporal (or its database) would read it, must not show them. With the key, the
 * same history opens to the original input.
 */
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, COMPRESSED_ENCODING, parseEncryptionKeys, SEALED_ENCODINGS } from '../../src/temporal/payload-codec';
import { createTestWorld } from '../helpers/fixtures';
import { book, directBooking, waitForPhase } from '../helpers/orders';
import { encodingOf, payloadsOf } from '../helpers/payloads';
import { mailOf, uniqueSuffix, useTestStack, waitForMail } from '../helpers/stack';

const stack = useTestStack(__filename);

test("a delegated order's raw history holds no contact name or email; every payload is sealed; the key opens it", async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const contact = { email: `jordan.privacy-${world.suffix}@${world.domain}`, fullName: `Jordan Private ${world.suffix}` };
  const booked = await book(
    stack.client,
    stack.taskQueue,
    directBooking(world, { externalReference: `R14-${world.suffix}`, assignment: { kind: 'delegate' }, endCustomerContact: contact }),
  );
  await waitForPhase(stack.client, booked.workflowId, 'AwaitingSmartAccount');
  await waitForMail(mailOf(booked.orderId, 'delegation-request'));

  // A client without the codec sees what the server stores.
  const connection = await Connection.connect({ address: stack.config.temporal.address });
  try {
    const raw = new Client({ connection, namespace: stack.config.temporal.namespace });
    const history = await raw.workflow.getHandle(booked.workflowId).fetchHistory();
    const text = JSON.stringify(history, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
    for (const secret of [contact.email, contact.fullName, contact.email.split('@')[0]]) expect(text).not.toContain(secret);

    // Every payload is sealed, except two kinds that hold no personal data by design: search
    // attributes (Temporal indexes them) and the SDK's own bookkeeping in markers: of a local
    // activity (its sequence number, attempt and times; the activity's result itself is sealed)
    // and of a patch (its ID, docs/EVOLVING-WORKFLOWS.md).
    const bookkeeping = history.events!.flatMap((e) => {
      const marker = e.markerRecordedEventAttributes;
      if (marker?.markerName === 'core_patch') return Object.values(marker.details ?? {}).flatMap((d) => (d?.payloads ?? []) as Payload[]);
      return marker?.details?.data?.payloads ?? [];
    });
    const payloads = payloadsOf(history.events).filter((p) => !bookkeeping.includes(p));
    expect(payloads.length).toBeGreaterThan(5);
    // Sealed, and the larger ones (the status document in activity inputs) deflated first.
    const encodings = new Set(payloads.map(encodingOf));
    expect([...encodings].filter((e) => !SEALED_ENCODINGS.includes(e))).toEqual([]);
    expect(encodings).toContain(COMPRESSED_ENCODING);

    // The workflow's input, opened with the key, is the booking with the contact.
    const started = history.events!.find((e) => e.workflowExecutionStartedEventAttributes)!.workflowExecutionStartedEventAttributes!;
    const codec = new AesGcmPayloadCodec(parseEncryptionKeys(stack.config.payloadEncryptionKeys));
    const [input] = await codec.decode(started.input!.payloads!);
    expect(defaultPayloadConverter.fromPayload<{ endCustomerContact: unknown }>(input).endCustomerContact).toEqual(contact);
  } finally {
    await connection.close();
  }
});
