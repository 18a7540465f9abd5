/**
 * The orders API on the real stack: booking (idempotent by reference and by Idempotency-Key),
 * live status, lists from Postgres with filters and pages, assignment (the Update, with the
 * same refusals as the workflow), shipments and cancellation; every malformed request is a 400
 * naming the field, and nothing is started or written for it.
 */
import { QUERY_DEADLINE_MS } from '../../src/api/deadline';
import { registeredRoutes } from '../../src/api/route-list';
import { bookOrder, deriveOrderId } from '../../src/orders/book-order';
import { orderWorkflowId } from '../../src/orders/workflow-api';
import { createLogger } from '../../src/logging';
import { startTestApi, useTestApi } from '../helpers/api';
import { createTestWorld, registerContact, type TestWorld } from '../helpers/fixtures';
import { apiBody, directBooking, entitlementsOf, heldBooking, pollUntil, waitForPhase, waitForStatus } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

// Reminders far away: these flows are about the API, not the reminder cadence.
const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

let world: TestWorld;
let partnerKey: string;
let operatorKey: string;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  partnerKey = await api.keyFor('partner', world.partnerId);
  operatorKey = await api.keyFor('operator');
});

const body = apiBody;

async function workflowExists(workflowId: string): Promise<boolean> {
  try {
    await stack.client.workflow.getHandle(workflowId).describe();
    return true;
  } catch {
    return false;
  }
}

describe('booking', () => {
  test('POST /v1/orders books the order (201), GET shows its live status, the list shows it from Postgres', async () => {
    const booking = directBooking(world, { externalReference: `API-DIRECT-${world.suffix}` });
    const res = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    expect(res.status).toBe(201);
    const orderId = deriveOrderId(world.partnerId, booking.externalReference);
    expect(res.body).toMatchObject({
      orderId,
      workflowId: orderWorkflowId(orderId),
      alreadyBooked: false,
      links: { self: `/v1/orders/${orderId}` },
    });
    expect(res.body.links.temporalUi).toContain(encodeURIComponent(orderWorkflowId(orderId)));
    expect(res.headers.get('location')).toBe(`/v1/orders/${orderId}`);

    await waitForPhase(stack.client, res.body.workflowId, 'AwaitingShipment');
    const status = await api.call('GET', `/v1/orders/${orderId}`, { key: partnerKey });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      orderId,
      externalReference: booking.externalReference,
      partnerId: world.partnerId,
      bookedByPartnerId: world.partnerId,
      phase: 'AwaitingShipment',
      customerAccountId: world.smartAccountId,
    });
    expect(status.body.lines.map((l: { state: string }) => l.state)).toEqual(['deposited', 'deposited']);

    const list = await api.call('GET', `/v1/orders?customerDomain=${world.domain}&status=AwaitingShipment`, { key: partnerKey });
    expect(list.status).toBe(200);
    expect(list.body.orders.map((o: { orderId: string }) => o.orderId)).toContain(orderId);
    const row = list.body.orders.find((o: { orderId: string }) => o.orderId === orderId);
    expect(row).toMatchObject({
      externalReference: booking.externalReference,
      status: 'AwaitingShipment',
      waitingFor: 'Shipment',
      accountId: world.smartAccountId,
    });
  });

  test('re-sending the same external reference returns the same order (200) and starts nothing new', async () => {
    const booking = directBooking(world, { externalReference: `API-RESEND-${world.suffix}` });
    const first = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    const second = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ orderId: first.body.orderId, alreadyBooked: true });
    const runs = [];
    for await (const run of stack.client.workflow.list({ query: `WorkflowId = '${first.body.workflowId}'` })) runs.push(run);
    expect(runs).toHaveLength(1);
  });

  test('re-sent after Temporal forgot the order (its retention passed), it is still the same order (200) and starts nothing', async () => {
    const booking = directBooking(world, { externalReference: `API-RETAINED-${world.suffix}` });
    const first = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    expect(first.status).toBe(201);
    await waitForPhase(stack.client, first.body.workflowId, 'AwaitingShipment');
    // What the namespace's retention does to a closed run, done at once: the history is deleted.
    await stack.client.workflowService.deleteWorkflowExecution({
      namespace: stack.client.options.namespace,
      workflowExecution: { workflowId: first.body.workflowId },
    });
    await pollUntil(
      () => workflowExists(first.body.workflowId),
      (exists) => !exists,
      'the order workflow deleted',
    );

    const resent = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    expect(resent.status).toBe(200);
    expect(resent.body).toMatchObject({ orderId: first.body.orderId, workflowId: first.body.workflowId, alreadyBooked: true });
    // A different body can no longer be compared with the booked one: the same answer, nothing started either.
    const changed = await api.call('POST', '/v1/orders', { key: partnerKey, body: body({ ...booking, lines: [booking.lines[0]] }) });
    expect(changed.status).toBe(200);
    expect(await workflowExists(first.body.workflowId)).toBe(false);
    expect(await stack.db('orders').where({ external_reference: booking.externalReference }).pluck('status')).toEqual(['AwaitingShipment']);
  });

  test("a Smart Account request its contact cannot make is still booked, and the 201 says why (the workflow's own rules, S5)", async () => {
    const domain = `req-${world.suffix}.test`;
    const request = (reference: string, contact: Record<string, string>) =>
      api.call('POST', '/v1/orders', {
        key: partnerKey,
        body: body(
          directBooking(world, {
            externalReference: reference,
            assignment: { kind: 'request_smart_account', domain },
            endCustomerContact: contact as never,
          }),
        ),
      });
    const otherDomain = await request(`API-REQ-DOMAIN-${world.suffix}`, { email: `pat@other-${world.suffix}.test` });
    expect(otherDomain.status).toBe(201);
    expect(otherDomain.body.assignmentRefused).toEqual({
      error: 'SmartAccountRequestRefused',
      message: `Smart Account request for ${domain} refused: the contact's email domain "other-${world.suffix}.test" does not match the requested domain "${domain}"`,
    });
    const unregistered = await request(`API-REQ-NOID-${world.suffix}`, { email: `new@${domain}` });
    expect(unregistered.body.assignmentRefused.message).toContain('the contact has no registered user ID');
    await registerContact(stack.db, { email: `it@${domain}`, registeredId: `it-${world.suffix}` });
    const valid = await request(`API-REQ-OK-${world.suffix}`, { email: `it@${domain}` });
    expect(valid.status).toBe(201);
    expect(valid.body.assignmentRefused).toBeUndefined();
  });

  test('Idempotency-Key: a replay returns the same order; the same key with another body is refused and books nothing', async () => {
    const booking = directBooking(world, { externalReference: `API-IDEM-${world.suffix}` });
    const headers = { 'idempotency-key': `erp-${world.suffix}-1` };
    const first = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking), headers });
    const replay = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking), headers });
    expect(first.status).toBe(201);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ orderId: first.body.orderId, alreadyBooked: true });

    const other = directBooking(world, { externalReference: `API-IDEM-OTHER-${world.suffix}` });
    const reused = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(other), headers });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toBe('IdempotencyKeyReused');
    const otherId = deriveOrderId(world.partnerId, other.externalReference);
    expect(await workflowExists(orderWorkflowId(otherId))).toBe(false);
    expect(await stack.db('orders').where({ id: otherId }).first()).toBeUndefined();
  });

  test('a booking the workflow refuses to validate is a 400 and leaves its Idempotency-Key free for the corrected request', async () => {
    const bad = directBooking(world, { externalReference: `API-FIX-${world.suffix}` });
    const headers = { 'idempotency-key': `erp-${world.suffix}-fix` };
    // Duplicate line numbers pass the JSON schema but not the domain rules.
    const duplicateLines = { ...body(bad), lines: [bad.lines[0], { ...bad.lines[1], lineNumber: bad.lines[0].lineNumber }] };
    const refused = await api.call('POST', '/v1/orders', { key: partnerKey, body: duplicateLines, headers });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([{ field: 'lines[1].lineNumber', reason: `duplicates line ${bad.lines[0].lineNumber}` }]);
    const fixed = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(bad), headers });
    expect(fixed.status).toBe(201);
  });
});

describe('malformed requests: a 400 naming each field, nothing started or written', () => {
  const cases: Array<[string, (b: Record<string, unknown>) => unknown, Array<{ field: string; reason?: RegExp }>]> = [
    ['no lines', (b) => ({ ...b, lines: [] }), [{ field: 'lines', reason: /1-500 order lines/ }]],
    [
      'a quantity sent as text',
      (b) => ({ ...b, lines: [{ ...(b.lines as object[])[0], quantity: '2' }] }),
      [{ field: 'lines[0].quantity', reason: /whole number/ }],
    ],
    ['a negative quantity', (b) => ({ ...b, lines: [{ ...(b.lines as object[])[0], quantity: -1 }] }), [{ field: 'lines[0].quantity' }]],
    ['an unknown field', (b) => ({ ...b, priority: 'high' }), [{ field: 'priority', reason: /not a known field/ }]],
    ['a missing assignment', (b) => ({ ...b, assignment: undefined }), [{ field: 'assignment', reason: /required/ }]],
    ['an unknown assignment kind', (b) => ({ ...b, assignment: { kind: 'teleport' } }), [{ field: 'assignment.kind' }]],
    [
      'a bad virtual account path',
      (b) => ({ ...b, assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'a//b' } }),
      [{ field: 'assignment.virtualAccountPath' }],
    ],
    [
      'a bad external reference',
      (b) => ({ ...b, externalReference: ' spaces not allowed ' }),
      [{ field: 'externalReference', reason: /letters, digits/ }],
    ],
    [
      'a delegation without a contact',
      (b) => ({ ...b, assignment: { kind: 'delegate' } }),
      [{ field: 'endCustomerContact', reason: /required/ }],
    ],
  ];

  test.each(cases)('%s', async (_name, mutate, expected) => {
    const reference = `API-BAD-${uniqueSuffix()}`;
    const payload = JSON.parse(JSON.stringify(mutate(body(directBooking(world, { externalReference: reference })))) ?? null);
    const res = await api.call('POST', '/v1/orders', { key: partnerKey, body: payload });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('ValidationFailed');
    for (const e of expected) {
      const found = res.body.errors.find((x: { field: string }) => x.field === e.field);
      expect(found).toBeDefined();
      if (e.reason) expect(found.reason).toMatch(e.reason);
    }
    const orderId = deriveOrderId(world.partnerId, typeof payload.externalReference === 'string' ? payload.externalReference : reference);
    expect(await workflowExists(orderWorkflowId(orderId))).toBe(false);
    expect(await stack.db('orders').where({ id: orderId }).first()).toBeUndefined();
  });

  test('a body that is not JSON, and a body of the wrong media type', async () => {
    const notJson = await api.call('POST', '/v1/orders', { key: partnerKey, body: '{"externalReference": ', headers: {} });
    expect(notJson.status).toBe(400);
    const text = await fetch(`${api.baseUrl}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${partnerKey}`, 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(text.status).toBe(415);
  });

  test('a malformed order ID, list filter, cursor or Idempotency-Key', async () => {
    const badId = await api.call('GET', '/v1/orders/not-an-order', { key: partnerKey });
    expect(badId.status).toBe(400);
    expect(badId.body.errors).toEqual([{ field: 'orderId', reason: 'must be an order ID (20 hex digits)' }]);
    const badStatus = await api.call('GET', '/v1/orders?status=Lost', { key: partnerKey });
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.errors[0].field).toBe('status');
    const badLimit = await api.call('GET', '/v1/orders?limit=0', { key: partnerKey });
    expect(badLimit.body.errors[0]).toEqual({ field: 'limit', reason: 'must be a whole number from 1 to 500' });
    const badCursor = await api.call('GET', '/v1/orders?cursor=abc', { key: partnerKey });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.errors[0].field).toBe('cursor');
    const badKey = await api.call('POST', '/v1/orders', {
      key: partnerKey,
      body: body(directBooking(world, { externalReference: `API-BADKEY-${world.suffix}` })),
      headers: { 'idempotency-key': 'has spaces' },
    });
    expect(badKey.status).toBe(400);
    expect(badKey.body.errors[0].field).toBe('header idempotency-key');
  });

  test('an order no worker answers for is a 503 within the deadline, not a hung request', async () => {
    // Started on a task queue nobody polls: its workflow exists, but cannot answer a query.
    const booking = directBooking(world, { externalReference: `API-NOWORKER-${world.suffix}` });
    const booked = await bookOrder(stack.client, `nobody-polls-${world.suffix}`, booking);
    try {
      const started = Date.now();
      const res = await api.call('GET', `/v1/orders/${booked.orderId}`, { key: partnerKey });
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('Unavailable');
      expect(Date.now() - started).toBeLessThan(QUERY_DEADLINE_MS + 5_000);
    } finally {
      await stack.client.workflow.getHandle(booked.workflowId).terminate('test: nobody polls this queue');
    }
  }, 30_000);

  test('an unknown order is a 404', async () => {
    const res = await api.call('GET', `/v1/orders/${'0'.repeat(20)}`, { key: partnerKey });
    expect(res.status).toBe(404);
  });
});

describe('assignment, shipment and cancellation', () => {
  test('assigning a held order: refusals (unknown, holding, pending, no role) change nothing; a valid one transfers (200)', async () => {
    const booking = heldBooking(world, { externalReference: `API-HELD-${world.suffix}` });
    const booked = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    const orderId = booked.body.orderId;
    await waitForPhase(stack.client, booked.body.workflowId, 'AwaitingSmartAccount');
    const assign = (b: unknown) => api.call('POST', `/v1/orders/${orderId}/assignment`, { key: partnerKey, body: b });

    const unknown = await assign({ accountId: `sa-missing-${world.suffix}` });
    expect([unknown.status, unknown.body.error]).toEqual([422, 'UnknownAccount']);
    const holding = await assign({ accountId: world.holdingAccountId });
    expect([holding.status, holding.body.error]).toEqual([422, 'NotAConsumptionTarget']);
    const pending = await assign({ accountId: world.pendingSmartAccountId });
    expect([pending.status, pending.body.error]).toEqual([422, 'AccountNotActive']);
    const noVa = await assign({ accountId: world.smartAccountId, virtualAccountPath: 'Nowhere' });
    expect([noVa.status, noVa.body.error]).toEqual([422, 'UnknownVirtualAccount']);
    // An active Smart Account of a customer that granted this partner no role (R11).
    const strangerId = `sa-stranger-${world.suffix}`;
    await stack
      .db('accounts')
      .insert({ id: strangerId, kind: 'smart_account', name: 'Stranger', domain: `stranger-${world.suffix}.test`, status: 'active' });
    const noRole = await assign({ accountId: strangerId });
    expect([noRole.status, noRole.body.error]).toEqual([403, 'NotAuthorized']);
    const malformed = await assign({ accountId: world.smartAccountId, extra: 1 });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([{ field: 'extra', reason: 'is not a known field' }]);

    // None of the refusals reached the workflow: still held, no Update in its history.
    const history = await stack.client.workflow.getHandle(booked.body.workflowId).fetchHistory();
    expect(history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(0);
    expect((await entitlementsOf(stack.db, orderId)).map((e) => e.account_id)).toEqual([world.holdingAccountId, world.holdingAccountId]);

    const ok = await assign({ accountId: world.smartAccountId, virtualAccountPath: 'Finance' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ orderId, customerAccountId: world.smartAccountId, phase: 'AwaitingShipment' });
    expect(await entitlementsOf(stack.db, orderId)).toEqual([
      expect.objectContaining({ account_id: world.smartAccountId, path: 'Finance', status: 'deposited' }),
      expect.objectContaining({ account_id: world.smartAccountId, path: 'Finance', status: 'deposited' }),
    ]);
    // The order no longer takes an assignment: the validator's reason, 409.
    const again = await assign({ accountId: world.smartAccountId });
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/assign/i);
  });

  test('shipments: 202 per line, then provisioned; an unknown line or an impossible date is a 400', async () => {
    const booking = directBooking(world, { externalReference: `API-SHIP-${world.suffix}` });
    const booked = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    const orderId = booked.body.orderId;
    const ship = (b: unknown) => api.call('POST', `/v1/orders/${orderId}/shipments`, { key: partnerKey, body: b });
    const unknownLine = await ship({ lineNumber: 99, shippedOn: '2026-11-20' });
    expect(unknownLine.status).toBe(400);
    expect(unknownLine.body.errors).toEqual([{ field: 'lineNumber', reason: `order ${orderId} has no line 99` }]);
    expect((await ship({ lineNumber: 1, shippedOn: '2026-02-30' })).body.errors[0].field).toBe('shippedOn');
    expect((await ship({ lineNumber: 1, shippedOn: '20.11.2026' })).body.errors[0].field).toBe('shippedOn');
    expect((await ship({ lineNumber: 1 })).body.errors).toEqual([{ field: 'shippedOn', reason: 'is required' }]);

    for (const lineNumber of [1, 2]) {
      const res = await ship({ lineNumber, shippedOn: '2026-11-20' });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ orderId, lineNumber, shippedOn: '2026-11-20', accepted: true });
      if (lineNumber === 2) break;
      // The ship date does not move: once line 1 is recorded shipped, another date is refused with the recorded one.
      const corrected = await pollUntil(
        () => ship({ lineNumber: 1, shippedOn: '2026-11-01' }),
        (r) => r.status === 409,
        'the stored status shows the shipment',
      );
      expect(corrected.body).toMatchObject({
        error: 'AlreadyShipped',
        message: 'line 1 already shipped on 2026-11-20; its date does not change',
      });
    }
    const final = await waitForPhase(stack.client, booked.body.workflowId, 'Fulfilled');
    expect(final.lines.map((l) => l.state)).toEqual(['provisioned', 'provisioned']);
    expect(final.lines[1].subscription).toEqual({ startsOn: '2026-11-20', endsOn: '2029-11-20' });
    const future = await ship({ lineNumber: 1, shippedOn: '2099-01-01' });
    expect(future.status).toBe(400);
    expect(future.body.errors[0]).toMatchObject({
      field: 'shippedOn',
      reason: expect.stringMatching(/^must not be after \d{4}-\d{2}-\d{2}/),
    });
    expect((await entitlementsOf(stack.db, orderId)).map((e) => e.status)).toEqual(['active', 'active']);
    const listed = await pollUntil(
      () => api.call('GET', `/v1/orders?status=Fulfilled&customerDomain=${world.domain}`, { key: partnerKey }),
      (r) => r.body.orders.some((o: { orderId: string }) => o.orderId === orderId),
      'the list shows the fulfilled order',
    );
    expect(listed.status).toBe(200);
  });

  test('cancellation: 200 with the cancelled status, again 200; a fulfilled order is a 409 with the reason', async () => {
    const booking = heldBooking(world, { externalReference: `API-CANCEL-${world.suffix}` });
    const booked = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
    await waitForPhase(stack.client, booked.body.workflowId, 'AwaitingSmartAccount');
    const cancel = () =>
      api.call('POST', `/v1/orders/${booked.body.orderId}/cancellation`, { key: partnerKey, body: { reason: 'customer withdrew' } });
    const first = await cancel();
    expect(first.status).toBe(200);
    expect(first.body.phase).toBe('Cancelled');
    expect((await cancel()).status).toBe(200);
    expect((await entitlementsOf(stack.db, booked.body.orderId)).map((e) => e.status)).toEqual(['withdrawn', 'withdrawn']);
    const shipCancelled = await api.call('POST', `/v1/orders/${booked.body.orderId}/shipments`, {
      key: partnerKey,
      body: { lineNumber: 1, shippedOn: '2026-11-20' },
    });
    expect(shipCancelled.status).toBe(409);

    const direct = directBooking(world, { externalReference: `API-CANCEL-LATE-${world.suffix}` });
    const done = await api.call('POST', '/v1/orders', { key: partnerKey, body: body(direct) });
    for (const lineNumber of [1, 2]) {
      await api.call('POST', `/v1/orders/${done.body.orderId}/shipments`, {
        key: partnerKey,
        body: { lineNumber, shippedOn: '2026-11-21' },
      });
    }
    await waitForPhase(stack.client, done.body.workflowId, 'Fulfilled');
    const late = await api.call('POST', `/v1/orders/${done.body.orderId}/cancellation`, { key: partnerKey, body: {} });
    expect(late.status).toBe(409);
    expect(late.body.message).toMatch(/provisioned/);
  });
});

describe('lists', () => {
  test('filters and pages: every order once, newest first, nothing of other partners', async () => {
    const own = await createTestWorld(stack.db, uniqueSuffix());
    const key = await api.keyFor('partner', own.partnerId);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api.call('POST', '/v1/orders', {
        key,
        body: body(heldBooking(own, { externalReference: `API-PAGE-${i}-${own.suffix}` })),
      });
      ids.push(res.body.orderId);
    }
    for (const id of ids) await waitForStatus(stack.client, orderWorkflowId(id), (s) => s.phase === 'AwaitingSmartAccount');
    const seen: string[] = [];
    const times: string[] = [];
    let cursor: string | null = null;
    do {
      const res: {
        status: number;
        body: { orders: Array<{ orderId: string; holdingAccountId: string; bookedAt: string }>; nextCursor: string | null };
      } = await api.call('GET', `/v1/orders?limit=2&waitingFor=PartnerTransfer${cursor ? `&cursor=${cursor}` : ''}`, { key });
      expect(res.status).toBe(200);
      expect(res.body.orders.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.orders.map((o) => o.orderId));
      times.push(...res.body.orders.map((o) => o.bookedAt));
      cursor = res.body.nextCursor;
    } while (cursor);
    // Every order exactly once across the pages, newest first. (booked_at is written by each
    // workflow's first activity, so it need not follow the order of the HTTP requests.)
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(times).toEqual([...times].sort().reverse());
    const byHolding = await api.call('GET', `/v1/orders?holdingAccountId=${own.holdingAccountId}`, { key: operatorKey });
    expect(byHolding.body.orders.map((o: { orderId: string }) => o.orderId).sort()).toEqual([...ids].sort());
    // The first world's partner sees none of them.
    const other = await api.call('GET', `/v1/orders?holdingAccountId=${own.holdingAccountId}`, { key: partnerKey });
    expect(other.body.orders).toEqual([]);
  });
});

describe('health and the OpenAPI document', () => {
  test('/healthz and /readyz answer 200 with the stack up', async () => {
    expect((await api.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await api.call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', checks: { postgres: { ok: true }, temporal: { ok: true } } });
  });

  test('/openapi.json documents every /v1 route and health route the app serves, each with an operationId', async () => {
    const doc = (await api.call('GET', '/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, { operationId?: string }>>)) {
      for (const [method, op] of Object.entries(operations)) {
        expect(op.operationId).toBeTruthy();
        documented.add(`${method.toUpperCase()} ${path}`);
      }
    }
    // Every route the app registered under /v1, and the health routes, must be documented.
    const served = registeredRoutes(api.app)
      .map((route) => route.replace(/:(\w+)/g, '{$1}'))
      .filter((route) => /^(GET|POST|PUT|PATCH|DELETE) \/(v1\/|healthz|readyz)/.test(route));
    expect(served.length).toBeGreaterThan(5);
    for (const route of served) expect(documented).toContain(route);
  });
});

describe('logs', () => {
  test('JSON lines: each request of an order names the order, the workflow and the caller, never the key', async () => {
    const lines: string[] = [];
    const logged = await startTestApi(stack, { logger: createLogger('api', 'INFO', { write: (line: string) => void lines.push(line) }) });
    try {
      const booking = directBooking(world, { externalReference: `API-LOG-${world.suffix}` });
      const booked = await logged.call('POST', '/v1/orders', { key: partnerKey, body: body(booking) });
      await logged.call('GET', `/v1/orders/${booked.body.orderId}`, { key: partnerKey });
      const records = lines.map((line) => JSON.parse(line));
      const completed = records.filter((r) => r.msg === 'request completed' && r.orderId === booked.body.orderId);
      expect(completed).toHaveLength(2);
      for (const r of completed) {
        expect(r).toMatchObject({
          service: 'api',
          level: 'info',
          workflowId: booked.body.workflowId,
          principal: `partner:${world.partnerId}`,
        });
      }
      expect(records.some((r) => r.msg === 'order booked' && r.orderId === booked.body.orderId)).toBe(true);
      expect(lines.join('\n')).not.toContain(partnerKey.slice(4));
    } finally {
      await logged.close();
    }
  });
});
