/**
 * The floor of the license-use part (bench/licensing.ts): a bare node:http server, in a process of
 * its own, doing only what a usage report cannot avoid without a database: read the body, check
 * who sent it (authenticateDevice, the API's own check: the HMAC of the session the device opened
 * with the API, or its signature and the credentials the API issued, remembered as the API remembers them), parse the
 * report and sign a same-shaped answer (every SKU Authorized). No framework, no database. The
 * same fleet reports to it over the same transport at the same concurrency: the rate and CPU per
 * report of the protocol alone on this machine, what the API with its database is compared to.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueCredential, newCredentialSerial, newInstanceId } from '../src/licensing/credentials';
import { authenticateDevice, rememberIssuedCredential } from '../src/licensing/device-auth';
import { LicenseRefusal } from '../src/licensing/refusals';
import { answerOf } from '../src/licensing/report-judging';
import { parseSigningKeys, type SigningKeys } from '../src/licensing/signing';

/** The fleet hands over the credentials the API issued before the phase (the API remembered them at registration). */
export const FLOOR_CREDENTIALS_PATH = '/bench/credentials';
const REPORT_PATH = /^\/v1\/devices\/([^/]+)\/usage-reports$/;

export type FloorMessage = { type: 'listening'; port: number } | { type: 'cpu'; ms: number };

/** Options of the micro-harness (bench/device-client-cpu.ts): the API's latency and its extra headers, to see what they cost a device. */
let delayMs = 0;
let apiHeaders = false;
let remaining = 1000;

function answer(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  };
  if (apiHeaders) {
    // What @fastify/rate-limit adds to every answer of a limited route (the device routes are).
    headers['x-ratelimit-limit'] = 1000;
    headers['x-ratelimit-remaining'] = remaining = remaining > 0 ? remaining - 1 : 999;
    headers['x-ratelimit-reset'] = 42;
  }
  if (delayMs > 0) setTimeout(() => response.writeHead(status, headers).end(text), delayMs);
  else response.writeHead(status, headers).end(text);
}

function handle(keys: SigningKeys, request: IncomingMessage, body: string, response: ServerResponse): void {
  const url = request.url ?? '';
  if (request.method === 'POST' && url === FLOOR_CREDENTIALS_PATH) {
    for (const credential of JSON.parse(body) as string[]) rememberIssuedCredential(keys, credential);
    response.writeHead(204).end();
    return;
  }
  // The micro-harness's devices (bench/device-client-cpu.ts) register here: a credential as the API issues it, no token, no database.
  if (request.method === 'GET' && url === '/v1/license-signing-keys') return answer(response, 200, keys.published);
  if (request.method === 'POST' && url === '/v1/devices/registrations') {
    const identity = JSON.parse(body) as { publicKey: string };
    const instanceId = newInstanceId();
    const issued = issueCredential(keys, {
      instanceId,
      publicKey: identity.publicKey,
      accountId: 'sa-floor',
      virtualAccountId: 'va-floor',
      serial: newCredentialSerial(),
      exportControlled: false,
    });
    return answer(response, 201, {
      instanceId,
      accountId: 'sa-floor',
      virtualAccountPath: 'sa-floor/va-floor',
      credential: issued.credential,
      expiresAt: issued.expiresAt.toISOString(),
      renewAfter: issued.renewAfter.toISOString(),
      alreadyRegistered: false,
    });
  }
  const route = REPORT_PATH.exec(url);
  if (request.method !== 'POST' || !route) return answer(response, 404, { error: 'NotFound', message: `no route ${url}` });
  try {
    const caller = authenticateDevice(keys, { method: request.method, path: url, body, headers: request.headers });
    if (caller.claims.instanceId !== route[1]) return answer(response, 403, { error: 'NotThisInstance', message: 'not this instance' });
    const report = JSON.parse(body) as { reportId: string; usage: Record<string, number> };
    const judged = Object.keys(report.usage)
      .sort()
      .map((sku) => ({ sku, count: report.usage[sku], state: 'Authorized' as const }));
    answer(response, 200, answerOf(keys, caller.claims.instanceId, report.reportId, judged));
  } catch (err) {
    if (err instanceof LicenseRefusal) return answer(response, 401, { error: err.code, message: err.message });
    answer(response, 400, { error: 'BadRequest', message: String((err as Error).message) });
  }
}

if (require.main === module) {
  process.once('message', (job: { licenseSigningKeys: string; delayMs?: number; apiHeaders?: boolean }) => {
    delayMs = job.delayMs ?? 0;
    apiHeaders = job.apiHeaders ?? false;
    const keys = parseSigningKeys(job.licenseSigningKeys);
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => handle(keys, request, (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8'), response));
    });
    server.keepAliveTimeout = 60_000;
    server.listen(0, '127.0.0.1', () => {
      process.send!({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies FloorMessage);
      // Asked at the floor phase's edges: this process's CPU so far, ms.
      process.on('message', () => {
        const cpu = process.cpuUsage();
        process.send!({ type: 'cpu', ms: (cpu.user + cpu.system) / 1000 } satisfies FloorMessage);
      });
    });
    process.once('disconnect', () => process.exit(0));
  });
}
