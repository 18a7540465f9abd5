/**
 * Connecting to a secured Temporal cluster (docs/OPERATIONS.md, "Connecting to Temporal Cloud or a
 * secured cluster"): the real temporal-server with mTLS required on its frontend, certificates
 * from a CA made for this run. The product's own worker and client reach it through a profile
 * file and through TEMPORAL_* variables, as Temporal's CLI would; a plain connection, or TLS
 * without a client certificate, is refused; an API key reaches the server as its header.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig, type Config } from '../../src/config';
import { createDb } from '../../src/db/knex';
import { createSmtpMailer } from '../../src/email/mailer';
import { LICENSE_CLOCK_WORKFLOW_TYPE, type LicenseClockInput, type LicenseClockResult } from '../../src/licensing/workflow-api';
import { connectTemporal, connectTemporalClient, describeTemporalSecurity } from '../../src/temporal/connect';
import { connectWorkerTemporal } from '../../src/temporal/worker-connection';
import { createOrderWorker } from '../../workers/order-worker';
import { startRecordingGrpcEndpoint } from '../helpers/recording-grpc-endpoint';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates';
import { startTlsTemporalServer, type TlsTemporalServer } from '../helpers/tls-temporal-server';

let dir: string;
let certs: TestCertificates;
let server: TlsTemporalServer;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
  mkdirSync(join(dir, 'config'));
  certs = makeTestCertificates(dir);
  server = await startTlsTemporalServer(dir, certs);
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The environment of a process of this test stack (database, SMTP, payload keys) without any
 * Temporal connection setting: each test says how to reach the secured server.
 */
function environment(connection: Record<string, string>): Record<string, string | undefined> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')));
  return { ...env, ...connection };
}

/** The product's worker and client, both connected from `config`, run one license clock sweep. */
async function runLicenseClock(config: Config): Promise<LicenseClockResult> {
  const taskQueue = `tls-${randomBytes(3).toString('hex')}`;
  const db = createDb(config.databaseUrl, 2);
  const mailer = createSmtpMailer(config.smtpUrl);
  const connection = await connectWorkerTemporal(config.temporal);
  const { client, connection: clientConnection } = await connectTemporalClient(config);
  try {
    const worker = await createOrderWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue,
      db,
      mailer,
      temporal: client,
      config,
      workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
    });
    return await worker.runUntil(
      client.workflow.execute<(input: LicenseClockInput) => Promise<LicenseClockResult>>(LICENSE_CLOCK_WORKFLOW_TYPE, {
        workflowId: `license-clock-${taskQueue}`,
        taskQueue,
        args: [{ accountId: 'sa-nobody-over-tls' }],
      }),
    );
  } finally {
    await clientConnection.close();
    await connection.close();
    await db.destroy();
    mailer.close();
  }
}

const NOTHING_DUE = { failedToConnect: 0, expired: 0, removed: 0, trueUpsStarted: [], alertsEmailed: 0 };

test('a worker and a client reach the mTLS cluster through a profile file, as the Temporal CLI reads it', async () => {
  const profiles = join(dir, 'temporal.toml');
  writeFileSync(
    profiles,
    [
      '[profile.default]',
      'address = "127.0.0.1:1"',
      '',
      '[profile.secured]',
      `address = "${server.address}"`,
      'namespace = "default"',
      '[profile.secured.tls]',
      `client_cert_path = "${certs.clientCert}"`,
      `client_key_path = "${certs.clientKey}"`,
      `server_ca_cert_path = "${certs.caCert}"`,
      'server_name = "localhost"',
      '',
    ].join('\n'),
  );
  const config = loadConfig(environment({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'secured' }));

  expect({ address: config.temporal.address, security: describeTemporalSecurity(config.temporal) }).toEqual({
    address: server.address,
    security: 'mTLS',
  });
  expect(await runLicenseClock(config)).toMatchObject(NOTHING_DUE);
});

test('a worker and a client reach it through TEMPORAL_* variables, which win over the profile file', async () => {
  const profiles = join(dir, 'elsewhere.toml');
  writeFileSync(profiles, '[profile.default]\naddress = "127.0.0.1:1"\nnamespace = "elsewhere"\n');
  const config = loadConfig(
    environment({
      TEMPORAL_CONFIG_FILE: profiles,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    }),
  );

  expect(config.temporal).toMatchObject({ address: server.address, namespace: 'default' });
  expect(await runLicenseClock(config)).toMatchObject(NOTHING_DUE);
});

describe('what the cluster refuses', () => {
  test('a plain connection, from a client and from a worker', async () => {
    const plain = loadConfig(environment({ TEMPORAL_ADDRESS: server.address })).temporal;
    expect(describeTemporalSecurity(plain)).toBe('plain');

    await expect(connectTemporal(plain, { connectTimeout: 2_000 })).rejects.toThrow();
    await expect(connectWorkerTemporal(plain)).rejects.toThrow();
  });

  test('TLS without a client certificate (mTLS is required)', async () => {
    const noCertificate = loadConfig(
      environment({
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
      }),
    ).temporal;
    expect(describeTemporalSecurity(noCertificate)).toBe('TLS');

    await expect(connectTemporal(noCertificate, { connectTimeout: 2_000 })).rejects.toThrow();
    await expect(connectWorkerTemporal(noCertificate)).rejects.toThrow();
  });
});

test('an API key reaches the server as `authorization: Bearer <key>`, over TLS, from a client and from a worker', async () => {
  const endpoint = await startRecordingGrpcEndpoint({ cert: certs.serverCert, key: certs.serverKey });
  try {
    const apiKey = `tk-${randomBytes(8).toString('hex')}`;
    const settings = loadConfig(
      environment({
        TEMPORAL_ADDRESS: endpoint.address,
        TEMPORAL_API_KEY: apiKey,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
      }),
    ).temporal;
    expect(describeTemporalSecurity(settings)).toBe('TLS + API key');

    await expect(connectTemporal(settings, { connectTimeout: 2_000 })).rejects.toThrow();
    await expect(connectWorkerTemporal(settings)).rejects.toThrow();

    // Both SDK halves (grpc-js for clients, Core for workers) sent it: at least two calls, each with the key.
    expect(endpoint.calls.length).toBeGreaterThanOrEqual(2);
    for (const headers of endpoint.calls) {
      expect({ path: headers[':path'], authorization: headers.authorization }).toEqual({
        path: expect.stringMatching(/^\/temporal\.api\.workflowservice\.v1\.WorkflowService\//),
        authorization: `Bearer ${apiKey}`,
      });
    }
  } finally {
    await endpoint.close();
  }
});
