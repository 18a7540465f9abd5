/**
 * The typed client against the OpenAPI document the real app generates: every operation has a
 * client method and every client method is an operation, with the same HTTP method and path, and
 * the requests the methods actually send match the document (checked through a recording fetch).
 */
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { ApiError, LicenseFulfillmentClient, OPERATIONS, iterateOrders, type OperationId } from '../../src/api-client';
import { buildApi } from '../../src/api/server';
import { loadConfig } from '../../src/config';
import { createDb, type Db } from '../../src/db/knex';
import { createLogger } from '../../src/logging';

interface DocOperation {
  operationId: string;
  method: string;
  path: string;
  pathParams: string[];
  queryParams: string[];
  headerParams: string[];
  hasBody: boolean;
}

interface RecordedRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: unknown;
}

let app: FastifyInstance;
let db: Db;
let connection: Connection;
let operations: DocOperation[];

beforeAll(async () => {
  // buildApi only keeps these for its handlers: the knex pool opens no connection until a query
  // runs, and a lazy Temporal connection dials nothing until first used. Neither is used here.
  db = createDb('postgres://nobody@127.0.0.1:1/never_queried', 1);
  connection = Connection.lazy({ address: '127.0.0.1:1' });
  const client = new Client({ connection, namespace: 'default' });
  app = await buildApi({ db, client, config: loadConfig({}), logger: createLogger('api-client-test', 'ERROR') });
  await app.ready();
  const document = app.swagger() as { paths: Record<string, Record<string, any>> };
  operations = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!operation?.operationId) continue;
      // The codec server is for the Temporal UI and CLI (the Temporal codec protocol), not for ordering systems.
      if (operation.tags?.includes('codec')) continue;
      // Product instances call their routes through the device client (src/device-client), not this one.
      if (operation.tags?.includes('devices')) continue;
      const parameters: Array<{ in: string; name: string }> = operation.parameters ?? [];
      operations.push({
        operationId: operation.operationId,
        method: method.toUpperCase(),
        path,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => p.name),
        headerParams: parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase()),
        hasBody: operation.requestBody !== undefined,
      });
    }
  }
});

afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await connection?.close();
});

/** A client whose fetch records each request and answers with `respond`. */
function recordingClient(
  respond: (request: RecordedRequest) => Response = () =>
    new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } }),
) {
  const requests: RecordedRequest[] = [];
  const fakeFetch = async (input: string | URL | Request, init: RequestInit = {}) => {
    const request: RecordedRequest = {
      method: init.method ?? 'GET',
      url: new URL(String(input)),
      headers: Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v])),
      body: init.body === undefined ? undefined : JSON.parse(String(init.body)),
    };
    requests.push(request);
    return respond(request);
  };
  const client = new LicenseFulfillmentClient({
    baseUrl: 'http://api.test:8080/prefix/',
    apiKey: 'lfk_test',
    fetch: fakeFetch,
  });
  return { client, requests };
}

const ORDER_ID = '0123456789abcdef0123';
const SAMPLE_PARAMS: Record<string, string> = {
  orderId: ORDER_ID,
  batchId: 'tb_0123456789abcdef0123456789abcdef',
  accountId: 'sa-acme',
  email: 'pat+ops@partner.test',
  grantId: '42',
  keyId: '42',
  userId: '7',
  period: '2026-01-01',
  instanceId: 'pi-1',
  tokenId: '7',
  partnerId: 'dist-1',
  emailId: '9',
};

/** One call per operation, with every optional part filled in (typed: a missing operation does not compile). */
const SAMPLE_CALLS: Record<OperationId, (client: LicenseFulfillmentClient) => Promise<unknown>> = {
  health: (c) => c.health(),
  ready: (c) => c.ready(),
  bookOrder: (c) =>
    c.bookOrder(
      {
        externalReference: 'PO-1',
        bookedByPartnerId: 'p1',
        assignment: { kind: 'delegate' },
        lines: [{ lineNumber: 1, sku: 'SKU-1', quantity: 1, licenseType: 'smart', smartAccountMandatory: true }],
      },
      { idempotencyKey: 'key-1' },
    ),
  listOrders: (c) =>
    c.listOrders({
      status: 'AwaitingShipment',
      waitingFor: 'Shipment',
      partnerId: 'p1',
      customerDomain: 'acme.com',
      holdingAccountId: 'pha-1',
      limit: 5,
      cursor: 'abc',
    }),
  getOrder: (c) => c.getOrder(ORDER_ID, { live: true }),
  startOrderTransfer: (c) =>
    c.startOrderTransfer({
      requestKey: 'rk-1',
      accountId: 'sa-acme',
      virtualAccountPath: 'Finance',
      orderIds: [ORDER_ID],
      actingPartnerId: 'p1',
    }),
  getOrderTransfer: (c) => c.getOrderTransfer(SAMPLE_PARAMS.batchId),
  assignSmartAccount: (c) => c.assignSmartAccount(ORDER_ID, { accountId: 'sa-acme', virtualAccountPath: 'Finance', actingPartnerId: 'p1' }),
  reportShipment: (c) => c.reportShipment(ORDER_ID, { lineNumber: 1, shippedOn: '2026-01-31' }),
  cancelOrder: (c) => c.cancelOrder(ORDER_ID, { reason: 'customer withdrew' }),
  resendDelegationLink: (c) => c.resendDelegationLink(ORDER_ID, { requestId: 'erp-4711-relink' }),
  resendActivationLink: (c) => c.resendActivationLink('sa-acme', { requestId: 'erp-4711-reactivate' }),
  listEmails: (c) => c.listEmails({ status: 'failed', orderId: ORDER_ID, limit: 10, after: '5' }),
  resendEmail: (c) => c.resendEmail('9', { to: 'fixed@customer.test' }),
  searchSmartAccounts: (c) => c.searchSmartAccounts('acme.com'),
  requestSmartAccount: (c) =>
    c.requestSmartAccount({
      domain: 'acme.com',
      contact: { email: 'it@acme.com', fullName: 'Ida', registeredId: 'ida-1' },
      requestedByPartnerId: 'p1',
    }),
  listVirtualAccounts: (c) => c.listVirtualAccounts('sa-acme'),
  createVirtualAccount: (c) => c.createVirtualAccount('sa-acme', { path: 'Region-US/Finance' }),
  listHoldingAccountMembers: (c) => c.listHoldingAccountMembers('sa-acme'),
  addHoldingAccountMember: (c) => c.addHoldingAccountMember('sa-acme', { email: 'pat@partner.test', fullName: 'Pat' }),
  removeHoldingAccountMember: (c) => c.removeHoldingAccountMember('sa-acme', SAMPLE_PARAMS.email),
  listRoleGrants: (c) => c.listRoleGrants('sa-acme'),
  grantRole: (c) => c.grantRole('sa-acme', { partnerId: 'p1', role: 'va_user', virtualAccountPath: 'Finance' }),
  revokeRole: (c) => c.revokeRole('sa-acme', '42'),
  listLicenses: (c) => c.listLicenses('sa-acme', { virtualAccountPath: 'Finance' }),
  listInstances: (c) => c.listInstances('sa-acme', { virtualAccountPath: 'Finance', includeRemoved: true, limit: 50, after: 'abc' }),
  getDailyUse: (c) => c.getDailyUse('sa-acme', { virtualAccountPath: 'Finance', days: 30 }),
  listTokens: (c) => c.listTokens('sa-acme', { virtualAccountPath: 'Finance' }),
  listEvents: (c) => c.listEvents('sa-acme', { virtualAccountPath: 'Finance', limit: 10, before: '99' }),
  exportEvents: (c) => c.exportEvents('sa-acme', { virtualAccountPath: 'Finance' }),
  getMe: (c) => c.getMe(),
  createMyApiKey: (c) => c.createMyApiKey('ci'),
  revokeMyApiKey: (c) => c.revokeMyApiKey('42'),
  listAlerts: (c) => c.listAlerts('sa-acme', { kind: 'licenses_expiring', limit: 10, virtualAccountPath: 'Finance' }),
  subscribeToAlerts: (c) => c.subscribeToAlerts('sa-acme', '7'),
  unsubscribeFromAlerts: (c) => c.unsubscribeFromAlerts('sa-acme', '7'),
  getOverageAgreement: (c) => c.getOverageAgreement('sa-acme'),
  setOverageAgreement: (c) =>
    c.setOverageAgreement('sa-acme', { allowance: '1.5', cadence: 'quarterly', firstPeriodStartsOn: '2026-01-01', partnerOfRecord: 'p1' }),
  listTrueUps: (c) => c.listTrueUps('sa-acme'),
  approveTrueUp: (c) => c.approveTrueUp('sa-acme', '2026-01-01'),
  moveLicenses: (c) =>
    c.moveLicenses('sa-acme', {
      fromVirtualAccountPath: 'Finance',
      toVirtualAccountPath: 'Sales',
      sku: 'SKU-1',
      quantity: 4,
      allowShortfall: false,
    }),
  moveProductInstance: (c) => c.moveProductInstance('sa-acme', 'pi-1', { toVirtualAccountPath: 'Sales' }),
  removeProductInstance: (c) => c.removeProductInstance('sa-acme', 'pi-1'),
  createRegistrationToken: (c) =>
    c.createRegistrationToken('sa-acme', {
      virtualAccountPath: 'Finance',
      expiresInDays: 30,
      maxUses: 2,
      description: 'switches',
      exportControlled: false,
    }),
  listRegistrationTokens: (c) => c.listRegistrationTokens('sa-acme', { virtualAccountPath: 'Finance' }),
  revokeRegistrationToken: (c) => c.revokeRegistrationToken('sa-acme', '7'),
  createPartner: (c) => c.createPartner({ partnerId: 'p1', name: 'P1', kind: 'partner', notificationEmail: 'ops@p1.test' }),
  linkReseller: (c) => c.linkReseller('dist-1', { resellerId: 'p1' }),
  createHoldingAccount: (c) => c.createHoldingAccount({ accountId: 'pha-1', name: 'Stock', ownerPartnerId: 'p1' }),
  createUser: (c) => c.createUser({ email: 'ida@acme.com', fullName: 'Ida' }),
};

function clientMethodNames(): string[] {
  return Object.getOwnPropertyNames(LicenseFulfillmentClient.prototype).filter(
    (name) =>
      name !== 'constructor' && typeof (LicenseFulfillmentClient.prototype as unknown as Record<string, unknown>)[name] === 'function',
  );
}

test('every operation in the OpenAPI document has a client method with the same HTTP method and path', () => {
  expect(operations.length).toBeGreaterThan(0);
  const missing = operations.filter((op) => !clientMethodNames().includes(op.operationId)).map((op) => op.operationId);
  expect(missing).toEqual([]);
  for (const op of operations) {
    expect({ operationId: op.operationId, ...OPERATIONS[op.operationId as OperationId] }).toEqual({
      operationId: op.operationId,
      method: op.method,
      path: op.path,
    });
  }
});

test('every client method is an operation of the document, and the operation table names only methods', () => {
  const documented = new Set(operations.map((op) => op.operationId));
  expect(clientMethodNames().filter((name) => !documented.has(name))).toEqual([]);
  expect(Object.keys(OPERATIONS).filter((name) => !documented.has(name))).toEqual([]);
  expect(Object.keys(OPERATIONS).sort()).toEqual(clientMethodNames().sort());
});

test('each method sends the documented method, path, parameters, headers and body', async () => {
  for (const op of operations) {
    const { client, requests } = recordingClient();
    await SAMPLE_CALLS[op.operationId as OperationId](client);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    const expectedPath = '/prefix' + op.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(SAMPLE_PARAMS[name]));
    expect({ operationId: op.operationId, method: request.method, path: request.url.pathname }).toEqual({
      operationId: op.operationId,
      method: op.method,
      path: expectedPath,
    });
    expect({ operationId: op.operationId, query: [...request.url.searchParams.keys()].sort() }).toEqual({
      operationId: op.operationId,
      query: [...op.queryParams].sort(),
    });
    expect({ operationId: op.operationId, hasBody: request.body !== undefined }).toEqual({
      operationId: op.operationId,
      hasBody: op.hasBody,
    });
    expect(request.headers.authorization).toBe('Bearer lfk_test');
    for (const header of Object.keys(request.headers)) {
      if (['authorization', 'accept', 'content-type'].includes(header)) continue;
      expect({ operationId: op.operationId, header, documented: op.headerParams.includes(header) }).toEqual({
        operationId: op.operationId,
        header,
        documented: true,
      });
    }
  }
});

test('bookOrder sends the Idempotency-Key header only when given one', async () => {
  const { client, requests } = recordingClient();
  await SAMPLE_CALLS.bookOrder(client);
  await client.bookOrder({ externalReference: 'PO-2', assignment: { kind: 'delegate' }, lines: [] });
  expect(requests[0].headers['idempotency-key']).toBe('key-1');
  expect(requests[1].headers).not.toHaveProperty('idempotency-key');
});

test('a refusal becomes an ApiError with status, code, message and field errors', async () => {
  const body = {
    error: 'ValidationFailed',
    message: 'Invalid request: lines[0].quantity: must be a whole number from 1 to 1000000',
    errors: [{ field: 'lines[0].quantity', reason: 'must be a whole number from 1 to 1000000' }],
  };
  const { client } = recordingClient(
    () => new Response(JSON.stringify(body), { status: 400, headers: { 'content-type': 'application/json' } }),
  );
  const error = await client.getOrder(ORDER_ID).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(ApiError);
  expect(error).toMatchObject({
    status: 400,
    code: 'ValidationFailed',
    message: body.message,
    fieldErrors: body.errors,
    operationId: 'getOrder',
  });
});

test("an answer that is not the API's JSON becomes an ApiError UnexpectedResponse", async () => {
  const { client } = recordingClient(() => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
  await expect(client.listOrders()).rejects.toMatchObject({
    status: 502,
    code: 'UnexpectedResponse',
    message: expect.stringContaining('Bad gateway'),
  });
});

test('ready() resolves with the failed checks on 503; a 204 resolves with nothing', async () => {
  const unavailable = { status: 'unavailable', checks: { postgres: { ok: false, error: 'down' } } };
  const { client } = recordingClient((r) =>
    r.url.pathname.endsWith('/readyz') ? new Response(JSON.stringify(unavailable), { status: 503 }) : new Response(null, { status: 204 }),
  );
  await expect(client.ready()).resolves.toEqual(unavailable);
  await expect(client.revokeRole('sa-acme', '42')).resolves.toBeUndefined();
});

test('iterateOrders follows nextCursor until the last page', async () => {
  const pages: Record<string, unknown> = {
    first: { orders: [{ orderId: 'a' }, { orderId: 'b' }], nextCursor: 'c2' },
    c2: { orders: [{ orderId: 'c' }], nextCursor: null },
  };
  const { client, requests } = recordingClient(
    (r) => new Response(JSON.stringify(pages[r.url.searchParams.get('cursor') ?? 'first']), { status: 200 }),
  );
  const ids: string[] = [];
  for await (const order of iterateOrders(client, { status: 'Booked', limit: 2 })) ids.push(order.orderId);
  expect(ids).toEqual(['a', 'b', 'c']);
  expect(requests.map((r) => r.url.search)).toEqual(['?status=Booked&limit=2', '?status=Booked&limit=2&cursor=c2']);
});

test('the constructor refuses a base URL that is not http(s) and a missing key', () => {
  expect(() => new LicenseFulfillmentClient({ baseUrl: 'localhost:3000', apiKey: 'k' })).toThrow(/baseUrl/);
  expect(() => new LicenseFulfillmentClient({ baseUrl: 'http://localhost:3000', apiKey: '' })).toThrow(/apiKey/);
});
