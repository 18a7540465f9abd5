/**
 * Every route fuzzed from its OpenAPI schema (issue 18 item 4), on the real stack: the app the
 * API serves (listening on a port, a new connection per request), real Postgres, the real
 * Temporal dev server and a worker. Each case is one operation of /openapi.json with its path
 * parameters, query, headers and body made valid-but-odd or invalid
 * (test/helpers/fuzz-requests.ts), sent by one of eleven kinds of caller: nobody, a forged or
 * revoked API key, a partner's, a distributor's, an operator's and a user's key, the operators'
 * codec session cookie, a user's page session cookie, a registered device signing its requests,
 * and a device forging them.
 *
 * Every answer must be below 500. Every 4xx must be the API's error shape (`error` and `message`;
 * a 400 ValidationFailed names each field and its reason), and must leave the database as it was:
 * no row inserted, changed or deleted by the API's connections while it was answered
 * (test/helpers/write-log.ts; the worker keeps writing for orders booked by earlier cases, so a
 * checksum could not tell). A body the schema refuses, from a caller the route admits, with
 * every parameter valid, must be a 400 naming a field. A caller the route does not admit must be a 401.
 *
 * Fixed seed: FUZZ_SEED=<n> and FUZZ_RUNS=<n> change it (docs/SECURITY.md has the figures).
 */
import { type createPrivateKey } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Client as PgClient } from 'pg';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { createActivationLinkResender } from '../../activities/accounts/activation-link';
import { createDelegationLinkResender } from '../../activities/orders/link-resend';
import { createEmailResender } from '../../activities/shared/email-resend';
import { createApiKey, createUserApiKey, revokeApiKey } from '../../src/api/auth';
import { buildApi } from '../../src/api/server';
import { createDb, databaseName, dropDatabase, withDatabase, type Db } from '../../src/db/knex';
import { recreateMigratedDatabase } from '../../src/db/migrate';
import { generateDeviceKeys } from '../../src/device-client';
import { privateKeyFromSeed, requestSigningInput, signBytes } from '../../src/device-client/protocol';
import { createLogger } from '../../src/logging';
import { openSession, SESSION_COOKIE } from '../../src/web/session';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { ADMITTED, anyFuzzCase, operationsOf, type Caller, type FuzzCase, type Operation } from '../helpers/fuzz-requests';
import type { JsonSchema, SchemaContext } from '../helpers/openapi-arbitraries';
import { listWorkflowIds, waitForStatus } from '../helpers/orders';
import { startTestStack, uniqueSuffix, type TestStack } from '../helpers/stack';
import { installWriteLog, lastWrite, writesSince } from '../helpers/write-log';

// Issue 18, item 4: a fixed seed, so a run is repeatable and a failure can be replayed.
const SEED = Number(process.env.FUZZ_SEED ?? 184);
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
/** Longer than any deadline of the API's own (an Update waits 30 s for its workflow). */
const ANSWER_TIMEOUT_MS = 35_000;
/** The API's connections say who they are, so the write log tells their writes from the worker's. */
const API_APPLICATION_NAME = 'fuzz-api';
jest.setTimeout(Math.max(300_000, RUNS * 60));

let stack: TestStack;
let apiDb: Db;
let app: FastifyInstance;
let databaseUrl: string;
let port: number;
/** Reads the write log (test/helpers/write-log.ts). */
let logReader: PgClient;
/** Set when the API's connections ran anything but a plain SELECT since the last look at the write log. */
let apiMayHaveWritten = false;
let world: TestWorld;
const keys = {} as Record<'partner' | 'distributor' | 'operator' | 'user' | 'revoked', string>;
let codecCookie: string;
let userSessionCookie: string;
let device: { instanceId: string; credential: string; privateKey: ReturnType<typeof createPrivateKey> };
const known = new Map<string, string[]>();

beforeAll(async () => {
  // A database of this file's own: the write log's triggers must not reach other test files.
  databaseUrl = withDatabase(process.env.DATABASE_URL!, `${databaseName(process.env.DATABASE_URL!)}_fuzz`);
  await recreateMigratedDatabase(databaseUrl);
  stack = await startTestStack(__filename, { databaseUrl, reminderIntervalMs: 60 * 60_000, escalationAfterMs: 2 * 60 * 60_000 });
  await installWriteLog(stack.db, API_APPLICATION_NAME);
  logReader = new PgClient({ connectionString: databaseUrl });
  await logReader.connect();
  const apiUrl = new URL(databaseUrl);
  apiUrl.searchParams.set('application_name', API_APPLICATION_NAME);
  apiDb = createDb(apiUrl.toString(), 5);
  // Reading the write log costs a round trip: it is read only after a case whose answer took a
  // statement that is not a plain SELECT (a SELECT cannot change a row; everything else might).
  apiDb.on('query', (query: { sql: string }) => {
    if (!/^\s*select\b/i.test(query.sql) || /\b(insert|update|delete|merge|truncate)\b/i.test(query.sql)) apiMayHaveWritten = true;
  });
  const config = { ...stack.config, temporal: { ...stack.config.temporal, taskQueue: stack.taskQueue } };
  app = await buildApi({
    db: apiDb,
    client: stack.client,
    config,
    logger: createLogger('api-fuzz', 'ERROR'),
    resendDelegationLink: createDelegationLinkResender({ db: apiDb, mailer: stack.mailer, config }),
    resendActivationLink: createActivationLinkResender({ db: apiDb, mailer: stack.mailer, config }),
    resendEmail: createEmailResender({ db: apiDb, mailer: stack.mailer, config }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  await createFuzzWorld();
}, 120_000);

afterAll(async () => {
  for (const workflowId of await listWorkflowIds(stack.client, `TaskQueue = "${stack.taskQueue}" AND ExecutionStatus = "Running"`).catch(
    () => [],
  )) {
    await stack.client.workflow
      .getHandle(workflowId)
      .terminate('api fuzz done')
      .catch(() => undefined);
  }
  await logReader?.end();
  await app?.close();
  await apiDb?.destroy();
  await stack?.stop();
  if (databaseUrl) await dropDatabase(databaseUrl);
});

/** The test world, keys, two waiting orders, a registration token, a registered device and a codec session. */
async function createFuzzWorld(): Promise<void> {
  world = await createTestWorld(stack.db, uniqueSuffix());
  keys.partner = (await createApiKey(stack.db, { role: 'partner', partnerId: world.partnerId, label: 'fuzz partner' })).key;
  keys.distributor = (await createApiKey(stack.db, { role: 'distributor', partnerId: world.distributorId, label: 'fuzz distributor' })).key;
  keys.operator = (await createApiKey(stack.db, { role: 'operator', label: 'fuzz operator' })).key;
  keys.user = (await createUserApiKey(stack.db, String(world.customerContactId), 'fuzz user')).key;
  // The key cases may revoke (DELETE /v1/me/api-keys/{keyId}): not the one the user's cases use.
  const spareUserKey = await createUserApiKey(stack.db, String(world.customerContactId), 'fuzz user spare');
  const revoked = await createApiKey(stack.db, { role: 'operator', label: 'fuzz revoked' });
  await revokeApiKey(stack.db, revoked.id);
  keys.revoked = revoked.key;

  const line = { lineNumber: 1, sku: 'C9300-DNA-E-3Y', quantity: 3, licenseType: 'smart', termMonths: 36, smartAccountMandatory: true };
  const book = async (reference: string, assignment: object, extra: object = {}) => {
    const res = await inject('POST', '/v1/orders', keys.partner, { externalReference: reference, assignment, lines: [line], ...extra });
    expect(res.statusCode).toBe(201);
    return res.json() as { orderId: string; workflowId: string };
  };
  const held = await book(`FUZZ-HELD-${world.suffix}`, { kind: 'holding_account', accountId: world.holdingAccountId });
  const delegated = await book(
    `FUZZ-DELEGATED-${world.suffix}`,
    { kind: 'delegate' },
    { endCustomerContact: { email: world.customerEmail } },
  );
  await waitForStatus(stack.client, held.workflowId, (s) => s.waitingFor === 'PartnerTransfer');
  await waitForStatus(stack.client, delegated.workflowId, (s) => s.waitingFor === 'CustomerChoice');

  const tokenRes = await inject('POST', `/v1/accounts/${world.smartAccountId}/registration-tokens`, keys.operator, {
    virtualAccountPath: 'Finance',
    expiresInDays: 30,
    maxUses: 1000,
  });
  expect(tokenRes.statusCode).toBe(201);
  const token = tokenRes.json() as { token: string; tokenId: string };
  const deviceKeys = generateDeviceKeys();
  const registration = await inject('POST', '/v1/devices/registrations', undefined, {
    token: token.token,
    productId: 'C9300-48P',
    serialNumber: `FOC-FUZZ-${world.suffix}`,
    hostname: `fuzz.acme-${world.suffix}.test`,
    publicKey: deviceKeys.publicKey,
  });
  expect(registration.statusCode).toBe(201);
  const registered = registration.json() as { instanceId: string; credential: string };
  device = { ...registered, privateKey: privateKeyFromSeed(Buffer.from(deviceKeys.privateKey, 'base64url')) };

  const session = await send(
    'POST',
    '/codec/session',
    { 'content-type': 'application/x-www-form-urlencoded' },
    new URLSearchParams({ apiKey: keys.operator }).toString(),
  );
  codecCookie = String(session.headers['set-cookie']).split(';')[0];
  expect(codecCookie).toMatch(/^lf_codec=/);
  userSessionCookie = `${SESSION_COOKIE}=${(await openSession(stack.db, String(world.customerContactId), 60 * 60_000)).value}`;

  const grant: { id: string } = await stack.db('role_grants').where({ account_id: world.smartAccountId }).first('id');
  const accountIds = [world.smartAccountId, world.holdingAccountId, world.pendingSmartAccountId];
  const partnerIds = [world.partnerId, world.distributorId, world.otherPartnerId];
  const entries: Array<[string[], string[]]> = [
    [['accountId', 'holdingAccountId'], accountIds],
    [
      ['partnerId', 'bookedByPartnerId', 'requestedByPartnerId', 'actingPartnerId', 'ownerPartnerId', 'resellerId', 'partnerOfRecord'],
      partnerIds,
    ],
    [['orderId'], [held.orderId, delegated.orderId]],
    [['orderIds'], [held.orderId, delegated.orderId]],
    [['email'], [world.customerEmail, world.holdingMemberEmail]],
    [
      ['virtualAccountPath', 'fromVirtualAccountPath', 'toVirtualAccountPath', 'path'],
      ['Finance', 'Region-US/Finance/Sacramento', 'EMEA'],
    ],
    [['domain', 'customerDomain'], [world.domain]],
    [['userId'], [String(world.customerContactId)]],
    [['instanceId'], [device.instanceId]],
    [['token'], [token.token]],
    [['tokenId'], [token.tokenId]],
    [['keyId'], [spareUserKey.id]],
    [['grantId'], [String(grant.id)]],
    [['sku'], ['C9300-DNA-E-3Y']],
    [['registeredId'], [`casey-${world.suffix}`]],
    [['publicKey'], [deviceKeys.publicKey]],
    [['externalReference'], [`FUZZ-HELD-${world.suffix}`]],
  ];
  for (const [names, values] of entries) for (const name of names) known.set(name, values);
}

interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/**
 * One request on a connection of its own, as a client sends it: any method with any body (a GET
 * with one too), the path as given. Not fetch (no body on a GET) and not Fastify's inject (its
 * cookie dependency is ESM only, which Jest here does not load). A new connection each time, so
 * the unread rest of a body the server refused early never reads as the next request.
 */
function send(method: string, path: string, headers: Record<string, string>, payload?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // With its length: Node's client would send a GET's body chunked, which Node's server refuses outright.
    const length = payload === undefined ? {} : { 'content-length': String(Buffer.byteLength(payload)) };
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...length }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    // A request the API never answers is a finding too, not a hung test.
    req.setTimeout(ANSWER_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)));
    req.end(payload);
  });
}

function inject(method: 'POST' | 'GET', url: string, key: string | undefined, body?: object) {
  return send(
    method,
    url,
    { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body ? JSON.stringify(body) : undefined,
  );
}

// ---------------------------------------------------------------- callers

/** The headers that make a request come from `caller`. */
function credentialsOf(caller: Caller, c: FuzzCase): Record<string, string> {
  const body = c.payload !== undefined && c.headers['content-type'] === 'application/json' ? c.payload : '';
  const signed = (timestamp: number, signedBody = body) => ({
    authorization: `Device ${device.credential}`,
    'x-device-timestamp': String(timestamp),
    'x-device-signature': signBytes(device.privateKey, requestSigningInput(c.method, c.url, String(timestamp), signedBody)),
  });
  switch (caller) {
    case 'anonymous':
      return {};
    case 'forgedKey':
      return { authorization: forgedAuthorization(c.url.length) };
    case 'revokedKey':
      return { authorization: `Bearer ${keys.revoked}` };
    case 'partner':
    case 'distributor':
    case 'operator':
    case 'user':
      // The scheme is case-insensitive (RFC 9110): some cases say "bearer".
      return { authorization: `${c.url.length % 7 === 0 ? 'bearer' : 'Bearer'} ${keys[caller]}` };
    case 'codecSession':
      return { cookie: codecCookie };
    case 'userSession':
      return { cookie: userSessionCookie };
    case 'device':
      return signed(Date.now());
    case 'forgedDevice':
      return [
        () => signed(Date.now() - 60 * 60_000),
        () => signed(Date.now(), `${body} `),
        () => ({ ...signed(Date.now()), authorization: `Device ${device.credential.slice(0, -4)}AAAA` }),
        () => ({ ...signed(Date.now()), 'x-device-timestamp': 'not-a-number' }),
        () => ({ authorization: 'Device lic1.e30.AAAA', 'x-device-timestamp': String(Date.now()), 'x-device-signature': 'AAAA' }),
      ][c.url.length % 5]();
  }
}

/** Authorization headers no key stands behind: the right shape, wrong schemes, tricks. */
function forgedAuthorization(n: number): string {
  const forged = [
    `Bearer lfk_${'A'.repeat(43)}`,
    `Bearer lfk_${'-'.repeat(42)}_`,
    `Bearer ${keys.operator.slice(0, -1)}`,
    `Bearer ${keys.operator} ${keys.partner}`,
    'Basic b3BlcmF0b3I6cGFzc3dvcmQ=',
    'Bearer',
    "Bearer ' OR 1=1 --",
    `Bearer lfk_${'é'.repeat(43)}`,
    `Bearer ${'x'.repeat(8_000)}`,
    `Device ${keys.operator}`,
  ];
  return forged[n % forged.length];
}

// ---------------------------------------------------------------- checks

const schemaAjv = addFormats(new Ajv({ strict: false, allErrors: false, discriminator: true, coerceTypes: false }));
const textAjv = addFormats(new Ajv({ strict: false, allErrors: false, discriminator: true, coerceTypes: 'array' }));
const validators = new Map<string, ValidateFunction>();

function validatorOf(key: string, schema: JsonSchema, ajv: Ajv): ValidateFunction {
  let validate = validators.get(key);
  if (!validate) validators.set(key, (validate = ajv.compile(inlineRefs(schema))));
  return validate;
}

let components: Record<string, JsonSchema> = {};
function inlineRefs(schema: unknown): any {
  if (Array.isArray(schema)) return schema.map(inlineRefs);
  if (!schema || typeof schema !== 'object') return schema;
  const ref = (schema as JsonSchema).$ref;
  if (ref) return inlineRefs(components[ref.replace('#/components/schemas/', '')]);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inlineRefs(v)]));
}

/** Are the parameters of `part` valid by their schemas, as the server checks them? */
function partValid(c: FuzzCase, part: 'path' | 'query' | 'header'): boolean {
  const parameters = c.operation.parameters.filter((p) => p.in === part);
  const schema = {
    type: 'object',
    properties: Object.fromEntries(parameters.map((p) => [p.name, p.schema])),
    required: parameters.filter((p) => p.required).map((p) => p.name),
  };
  return validatorOf(`${c.operation.method} ${c.operation.path} ${part}`, schema, textAjv)({ ...c.values[part] });
}

function bodyValid(c: FuzzCase): boolean {
  return validatorOf(`${c.operation.method} ${c.operation.path} body`, c.operation.body!, schemaAjv)(c.body);
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * The one refusal that writes, on purpose (R2, S5): a Smart Account request refused for its contact
 * is recorded against the domain and contact, and the contact becomes known, as a booking naming
 * them would make them (src/accounts/smart-account-requests.ts).
 */
function recordsItsRefusal(body: any, wrote: string[]): boolean {
  return body?.error === 'SmartAccountRequestRefused' && wrote.every((w) => /^(INSERT|UPDATE) (smart_account_requests|users) /.test(w));
}

/** What is wrong with an answer, or undefined. */
function problemWith(c: FuzzCase, res: Answer, wrote: string[]): string | undefined {
  if (res.statusCode >= 500) return `${res.statusCode}: ${res.body.slice(0, 300)}`;
  if (res.statusCode < 400) return undefined;
  let body: any;
  try {
    body = res.json();
  } catch {
    return `${res.statusCode} is not JSON: ${res.body.slice(0, 200)}`;
  }
  if (wrote.length > 0 && !recordsItsRefusal(body, wrote)) return `refused with ${res.statusCode} but wrote ${wrote.join(', ')}`;
  if (!isText(body?.error) || !isText(body?.message)) return `${res.statusCode} is not the error shape: ${res.body.slice(0, 300)}`;
  if (body.error === 'ValidationFailed') {
    const errors = body.errors;
    if (!Array.isArray(errors) || errors.length === 0 || !errors.every((e: any) => isText(e?.field) && isText(e?.reason))) {
      return `ValidationFailed names no field: ${res.body.slice(0, 300)}`;
    }
  }
  const admitted = ADMITTED[c.operation.scope].includes(c.caller);
  const routeMatched = c.method === c.operation.method && !c.rawPath && partValid(c, 'path');
  // An API key is checked before the body is read; the codec and the devices check theirs after.
  // A path parameter too long for the router is a 414 before anyone is asked who they are.
  if (routeMatched && !admitted && c.operation.scope === 'apiKey' && res.statusCode !== 401 && res.statusCode !== 414) {
    return `a ${c.caller} caller got ${res.statusCode}, not 401: ${res.body.slice(0, 200)}`;
  }
  // A body over the limit is a 413 whatever it holds.
  const withinLimit = Buffer.byteLength(c.payload ?? '') <= (c.operation.path.startsWith('/v1/devices/') ? 64 * 1024 : 1024 * 1024);
  const schemaRefusesBody = c.bodyKind === 'invalid' && withinLimit && !bodyValid(c);
  const ownInstance = c.operation.scope !== 'deviceSigned' || c.values.path.instanceId === device.instanceId;
  if (
    routeMatched &&
    admitted &&
    ownInstance &&
    schemaRefusesBody &&
    c.parametersMadeValid &&
    partValid(c, 'query') &&
    partValid(c, 'header')
  ) {
    if (res.statusCode !== 400 || body.error !== 'ValidationFailed')
      return `a body the schema refuses got ${res.statusCode} ${body.error}, not 400`;
  }
  return undefined;
}

// ---------------------------------------------------------------- the fuzz

test(`every route of /openapi.json, ${RUNS} cases (seed ${SEED}): no 5xx, refusals in the error shape, and a refusal changes nothing`, async () => {
  const document = (await send('GET', '/openapi.json', {})).json();
  components = document.components?.schemas ?? {};
  const operations: Operation[] = operationsOf(document);
  expect(operations.length).toBeGreaterThan(40);
  const ctx: SchemaContext = { components, known: (name) => known.get(name) ?? [] };

  const problems: string[] = [];
  const statuses = new Map<number, number>();
  const perOperation = new Map<string, number>();
  let lastNote = await lastWrite(logReader);
  apiMayHaveWritten = false;
  let writes = 0;
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(anyFuzzCase(operations, ctx), async (c) => {
      const res = await send(c.method, c.url, { ...c.headers, ...credentialsOf(c.caller, c) }, c.payload).catch((err: Error) => ({
        statusCode: 599,
        headers: {},
        body: `request failed: ${err.message}`,
        json: () => undefined,
      }));
      const note = apiMayHaveWritten ? await lastWrite(logReader) : lastNote;
      apiMayHaveWritten = false;
      const wrote = note === lastNote ? [] : await writesSince(logReader, lastNote);
      if (wrote.length > 0) writes++;
      lastNote = note;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const name = `${c.operation.method} ${c.operation.path}`;
      perOperation.set(name, (perOperation.get(name) ?? 0) + 1);
      const problem = problemWith(c, res, wrote);
      // Every problem is collected (not the first only), so one run lists all there are.
      if (problem && problems.length < 50) {
        problems.push(
          `${c.method} ${c.url.slice(0, 200)} as ${c.caller}, body ${c.bodyKind} ${String(c.payload).slice(0, 200)}\n    -> ${problem}`,
        );
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  const seconds = (Date.now() - started) / 1000;
  // Nothing slipped past the look-ups skipped above.
  expect(await lastWrite(logReader)).toBe(lastNote);
  process.stderr.write(
    `\n[api fuzz] ${RUNS} cases over ${perOperation.size} of ${operations.length} operations in ${seconds.toFixed(1)} s (seed ${SEED}); ` +
      `statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; ${writes} cases wrote; ` +
      `fewest cases of one operation ${Math.min(...perOperation.values())}\n`,
  );
  expect(problems).toEqual([]);
  expect(perOperation.size).toBe(operations.length);
  // The write log is not vacuous: accepted requests did write through the API's connections.
  expect(writes).toBeGreaterThan(0);
});

// ---------------------------------------------------------------- found by the fuzz

test('found by the fuzz: a member address of 200+ characters in the path reaches the route (not a 414 from the router)', async () => {
  const longAddress = `${'a'.repeat(64)}@${`${'b'.repeat(63)}.`.repeat(2)}example.test`;
  const res = await send('DELETE', `/v1/holding-accounts/${world.holdingAccountId}/members/${encodeURIComponent(longAddress)}`, {
    authorization: `Bearer ${keys.partner}`,
  });
  expect(res.statusCode).toBe(404);
  expect(res.json()).toMatchObject({ error: 'NotFound' });
});
