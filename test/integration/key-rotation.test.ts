/**
 * Issue 18 item 6: both key lists rotate without downtime (src/security/key-list.ts: the first
 * key is current, the others only decrypt or verify). A workflow whose payloads were sealed with
 * the old key completes after the worker restarts with [new, old]; a device credential signed
 * with the old signing key is still accepted while new answers carry the new key ID, and
 * GET /v1/license-signing-keys publishes both.
 */
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { generateSigningKey } from '../../src/licensing/signing';
import { AesGcmPayloadCodec, PayloadKeyError, generateEncryptionKey, parseEncryptionKeys } from '../../src/temporal/payload-codec';
import { DeviceClient } from '../../src/device-client';
import { startTestApi } from '../helpers/api';
import { createToken, newDevice, provisionLicenses, smartLine } from '../helpers/devices';
import { createTestWorld } from '../helpers/fixtures';
import { book, directBooking, shipLines, waitForPhase } from '../helpers/orders';
import { isSealed, payloadsOf } from '../helpers/payloads';
import { startTestStack, uniqueSuffix, type TestStack } from '../helpers/stack';

jest.setTimeout(90_000);

const keyIdOf = (payload: Payload) => Buffer.from(payload.metadata!['encryption-key-id']).toString('utf8');

/** The key IDs of the sealed payloads of a workflow's history, as the server stores them (no codec). */
async function sealedKeyIds(stack: TestStack, workflowId: string): Promise<{ ids: string[]; payloads: Payload[] }> {
  const connection = await Connection.connect({ address: stack.config.temporal.address });
  try {
    const raw = new Client({ connection, namespace: stack.config.temporal.namespace });
    const history = await raw.workflow.getHandle(workflowId).fetchHistory();
    const payloads = payloadsOf(history.events).filter(isSealed);
    return { ids: payloads.map(keyIdOf), payloads };
  } finally {
    await connection.close();
  }
}

test('payload key: an order sealed under the old key completes after the worker restarts with [new, old]; new payloads use the new key', async () => {
  const suffix = uniqueSuffix();
  const oldKey = generateEncryptionKey(`old-${suffix}`);
  const newKey = generateEncryptionKey(`new-${suffix}`);
  const before = await startTestStack(__filename, { payloadEncryptionKeys: oldKey, reminderIntervalMs: 600_000 });
  let after: TestStack | undefined;
  try {
    const world = await createTestWorld(before.db, suffix);
    const booked = await book(before.client, before.taskQueue, directBooking(world, { externalReference: `ROT-${suffix}` }));
    await waitForPhase(before.client, booked.workflowId, 'AwaitingShipment');
    const sealedBefore = await sealedKeyIds(before, booked.workflowId);
    expect(new Set(sealedBefore.ids)).toEqual(new Set([`old-${suffix}`]));
    await before.stop();

    // The rotated worker (and client): the new key first, the old one kept to open what it sealed.
    after = await startTestStack(
      __filename,
      { payloadEncryptionKeys: `${newKey},${oldKey}`, reminderIntervalMs: 600_000 },
      before.taskQueue,
    );
    await shipLines(after.client, booked.orderId, '2026-02-10');
    const result = await after.client.workflow.getHandle(booked.workflowId).result();
    expect(result.phase).toBe('Fulfilled');
    expect(await after.db('orders').where({ id: booked.orderId }).first('status')).toEqual({ status: 'Fulfilled' });

    const sealedAfter = await sealedKeyIds(after, booked.workflowId);
    const added = sealedAfter.ids.slice(sealedBefore.ids.length);
    expect(added.length).toBeGreaterThan(0);
    expect(new Set(added)).toEqual(new Set([`new-${suffix}`]));
    // Without the old key the old payloads no longer open: that is why it stays in the list until no history needs it.
    await expect(new AesGcmPayloadCodec(parseEncryptionKeys(newKey)).decode(sealedBefore.payloads.slice(0, 1))).rejects.toThrow(
      PayloadKeyError,
    );
    expect(await new AesGcmPayloadCodec(parseEncryptionKeys(`${newKey},${oldKey}`)).decode(sealedBefore.payloads)).toHaveLength(
      sealedBefore.payloads.length,
    );
  } finally {
    if (before.worker.getState() === 'RUNNING') await before.stop();
    await after?.stop();
  }
});

test('signing key: a credential signed with the old key is accepted after the rotation, answers carry the new key ID, both keys are published', async () => {
  const suffix = uniqueSuffix();
  const oldKey = generateSigningKey(`old-${suffix}`);
  const newKey = generateSigningKey(`new-${suffix}`);
  const stack = await startTestStack(__filename, { licenseSigningKeys: oldKey });
  const oldApi = await startTestApi(stack);
  const rotatedApi = await startTestApi({ ...stack, config: { ...stack.config, licenseSigningKeys: `${newKey},${oldKey}` } });
  try {
    const world = await createTestWorld(stack.db, suffix);
    await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine('C9300-DNA-E', 5)], `ROT-${suffix}`);
    const admin = await oldApi.keyFor('operator');
    const { token } = await createToken(oldApi, admin, world.smartAccountId, { virtualAccountPath: 'Finance' });

    // Registered before the rotation: its credential is signed with the old key.
    const device = newDevice(oldApi, world, 'rot');
    await device.client.register(token, device.identity);
    const kidOf = (credential: string) => JSON.parse(Buffer.from(credential.split('.')[1], 'base64url').toString('utf8')).kid;
    expect(kidOf(device.client.state.credential!)).toBe(`old-${suffix}`);
    const first = await device.client.report({ 'C9300-DNA-E': 1 });
    expect(first.keyId).toBe(`old-${suffix}`);

    // The same device (same key pair, same old credential) talks to the service after the rotation.
    const rotated = new DeviceClient({ baseUrl: rotatedApi.baseUrl, state: { ...device.client.state }, attempts: 1 });
    const answer = await rotated.report({ 'C9300-DNA-E': 2 });
    expect(answer.keyId).toBe(`new-${suffix}`);

    const published = await rotatedApi.call('GET', '/v1/license-signing-keys');
    expect(published.status).toBe(200);
    expect(published.body.keys.map((k: { keyId: string; current: boolean }) => [k.keyId, k.current])).toEqual([
      [`new-${suffix}`, true],
      [`old-${suffix}`, false],
    ]);
    // A renewal after the rotation is signed with the new key and still accepted.
    const renewed = await rotated.renew();
    expect(kidOf(renewed.credential)).toBe(`new-${suffix}`);
    expect((await rotated.report({ 'C9300-DNA-E': 3 })).keyId).toBe(`new-${suffix}`);
  } finally {
    await rotatedApi.close();
    await oldApi.close();
    await stack.stop();
  }
});
