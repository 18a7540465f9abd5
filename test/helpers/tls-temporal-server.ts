/**
 * The real temporal-server (v1.29.1, built by scripts/ensure-production-binaries.sh) with mTLS on
 * its frontend, as a secured cluster is run: clients must present a certificate of the test CA.
 * The dev server (`temporal server start-dev`) has no TLS settings, hence the server binary here,
 * on in-memory SQLite so it needs no database. Its frontend TLS block is the one of
 * deploy/temporal/config/production.yaml, plus a certificate for the server's own system worker:
 * without one, a server requiring client certificates never starts its worker service.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { msToTs } from '@temporalio/common/lib/time';
import type { TemporalConnectionSettings } from '../../src/config';
import { freePort } from '../../src/dev/free-port';
import { logTail, waitForFrontend } from '../../src/dev/temporal-server';
import { connectTemporal } from '../../src/temporal/connect';
import type { TestCertificates } from './test-certificates';

export interface TlsTemporalServer {
  address: string;
  /** What a client of the test CA connects with (mTLS), as src/config-temporal.ts resolves it. */
  mtls: TemporalConnectionSettings;
  logFile: string;
  stop(): Promise<void>;
}

const ROOT = resolve(__dirname, '../..');

/** TEMPORAL_SERVER_BIN, else the project cache's build, else built now (first time only: minutes). */
function serverBinary(): string {
  if (process.env.TEMPORAL_SERVER_BIN) return process.env.TEMPORAL_SERVER_BIN;
  const cacheRoot =
    process.env.LICENSE_FULFILLMENT_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'license-fulfillment');
  const cached = join(cacheRoot, 'temporal-server', process.env.TEMPORAL_SERVER_VERSION ?? 'v1.29.1', 'server');
  if (existsSync(cached)) return cached;
  const lines = execFileSync('bash', [join(ROOT, 'scripts/ensure-production-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return /^TEMPORAL_SERVER_BIN=(.*)$/m.exec(lines)![1];
}

function sqliteStore(): string {
  return `{ sql: { pluginName: sqlite, databaseName: default, connectAddr: localhost, connectProtocol: tcp,
        connectAttributes: { mode: memory, cache: private }, maxConns: 1, maxIdleConns: 1, maxConnLifetime: 1h } }`;
}

function serverConfig(certs: TestCertificates, ports: number[], dynamicConfig: string): string {
  const [grpc, http, ...others] = ports;
  const rpc = (name: string, grpcPort: number, membershipPort: number, extra = '') =>
    `  ${name}:\n    rpc: { grpcPort: ${grpcPort}, membershipPort: ${membershipPort}, bindOnLocalHost: true${extra} }\n`;
  return `log: { stdout: true, level: warn }
persistence:
  numHistoryShards: 1
  defaultStore: sqlite-default
  visibilityStore: sqlite-visibility
  datastores:
    sqlite-default: ${sqliteStore()}
    sqlite-visibility: ${sqliteStore()}
global:
  membership: { maxJoinDuration: 30s, broadcastAddress: 127.0.0.1 }
  tls:
    frontend:
      server:
        certFile: ${JSON.stringify(certs.serverCert)}
        keyFile: ${JSON.stringify(certs.serverKey)}
        requireClientAuth: true
        clientCaFiles: [${JSON.stringify(certs.caCert)}]
      client:
        serverName: localhost
        rootCaFiles: [${JSON.stringify(certs.caCert)}]
    # The server's own system worker is a client of its frontend like any other: it needs a certificate too.
    systemWorker:
      certFile: ${JSON.stringify(certs.serverCert)}
      keyFile: ${JSON.stringify(certs.serverKey)}
      client:
        serverName: localhost
        rootCaFiles: [${JSON.stringify(certs.caCert)}]
services:
${rpc('frontend', grpc, others[0], `, httpPort: ${http}`)}${rpc('history', others[1], others[2])}${rpc('matching', others[3], others[4])}${rpc('worker', others[5], others[6])}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: { enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:${grpc}", httpAddress: "127.0.0.1:${http}" }
dcRedirectionPolicy: { policy: noop }
dynamicConfigClient: { filepath: ${JSON.stringify(dynamicConfig)}, pollInterval: 10s }
`;
}

/** Starts the server in `dir` with mTLS required, and registers the `default` namespace over mTLS. */
export async function startTlsTemporalServer(dir: string, certs: TestCertificates): Promise<TlsTemporalServer> {
  const ports: number[] = [];
  while (ports.length < 9) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const dynamicConfig = join(dir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfig, 'frontend.enableServerVersionCheck:\n  - value: false\n');
  writeFileSync(join(dir, 'config', 'tls.yaml'), serverConfig(certs, ports, dynamicConfig));
  const logFile = join(dir, 'temporal-server.log');
  const log = openSync(logFile, 'a');
  const child = spawn(serverBinary(), ['--root', dir, '--config', 'config', '--env', 'tls', '--allow-no-auth', 'start'], {
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const address = `127.0.0.1:${ports[0]}`;
  const mtls: TemporalConnectionSettings = {
    address,
    namespace: 'default',
    tls: {
      serverName: 'localhost',
      serverCACert: { path: certs.caCert },
      clientCert: { path: certs.clientCert },
      clientKey: { path: certs.clientKey },
    },
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForFrontend(mtls, () => child.exitCode !== null || child.signalCode !== null, logFile, 60_000);
    const connection = await connectTemporal(mtls);
    try {
      await connection.workflowService.registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: msToTs('24h') });
    } finally {
      await connection.close();
    }
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${logTail(logFile)}`);
  }
  return { address, mtls, logFile, stop };
}
