/**
 * How the Temporal connection is resolved (src/config-temporal.ts) and turned into connection
 * options (src/temporal/connect.ts): Temporal's profile file and TEMPORAL_* variables, the
 * product's defaults below them, and every mistake named by the variable or profile key.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { describeTemporalSecurity, temporalConnectionOptions } from '../../src/temporal/connect';

let dir: string;
let profiles: string;
let pem: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'config-temporal-'));
  pem = join(dir, 'any.pem');
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n');
  profiles = join(dir, 'temporal.toml');
  writeFileSync(
    profiles,
    [
      '[profile.default]',
      'address = "temporal.internal:7233"',
      'namespace = "orders"',
      '',
      '[profile.cloud]',
      'address = "orders.a1b2c.tmprl.cloud:7233"',
      'namespace = "orders.a1b2c"',
      'api_key = "key-from-file"',
      '',
      '[profile.mtls]',
      'address = "temporal.internal:7233"',
      '[profile.mtls.tls]',
      `client_cert_path = "${pem}"`,
      `client_key_path = "${pem}"`,
      `server_ca_cert_path = "${pem}"`,
      'server_name = "temporal.internal"',
      '',
      '[profile.typo]',
      '[profile.typo.tls]',
      `client_cert_path = "${join(dir, 'missing.pem')}"`,
      `client_key_path = "${pem}"`,
      '',
    ].join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(env: Record<string, string>): Array<{ variable: string; reason: string }> {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('precedence: a TEMPORAL_* variable, else the profile, else the default', () => {
  test('no file and no variables: the local defaults, plain', () => {
    const { temporal } = loadConfig({});
    expect(temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default' });
    expect(temporalConnectionOptions(temporal)).toEqual({ address: '127.0.0.1:7233' });
    expect(describeTemporalSecurity(temporal)).toBe('plain');
  });

  test('the default profile of TEMPORAL_CONFIG_FILE', () => {
    expect(loadConfig({ TEMPORAL_CONFIG_FILE: profiles }).temporal).toMatchObject({
      address: 'temporal.internal:7233',
      namespace: 'orders',
    });
  });

  test('the file at the default place (~/.config/temporalio/temporal.toml), as the Temporal CLI finds it', () => {
    const home = mkdtempSync(join(tmpdir(), 'home-'));
    try {
      const configDir = join(home, '.config', 'temporalio');
      mkdirSync(configDir, { recursive: true });
      writeFileSync(join(configDir, 'temporal.toml'), '[profile.default]\naddress = "from-home:7233"\n');
      expect(loadConfig({ HOME: home }).temporal.address).toBe('from-home:7233');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('variables win field by field; an empty one counts as unset', () => {
    const config = loadConfig({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_ADDRESS: 'override:7233', TEMPORAL_NAMESPACE: '' });
    expect(config.temporal).toMatchObject({ address: 'override:7233', namespace: 'orders' });
  });

  test('TEMPORAL_PROFILE picks a profile; an API key turns TLS on and is sent', () => {
    const { temporal } = loadConfig({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'cloud' });
    expect(temporalConnectionOptions(temporal)).toEqual({ address: 'orders.a1b2c.tmprl.cloud:7233', tls: true, apiKey: 'key-from-file' });
    expect(temporal.namespace).toBe('orders.a1b2c');
    expect(describeTemporalSecurity(temporal)).toBe('TLS + API key');
  });

  test("TEMPORAL_API_KEY wins over the profile's key; TEMPORAL_TLS=false turns TLS off", () => {
    const { temporal } = loadConfig({
      TEMPORAL_CONFIG_FILE: profiles,
      TEMPORAL_PROFILE: 'cloud',
      TEMPORAL_API_KEY: 'key-from-env',
      TEMPORAL_TLS: 'false',
    });
    expect(temporalConnectionOptions(temporal)).toEqual({ address: 'orders.a1b2c.tmprl.cloud:7233', apiKey: 'key-from-env' });
  });

  test('an mTLS profile: the certificate pair, the CA and the server name, read from their files', () => {
    const { temporal } = loadConfig({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'mtls' });
    const { tls } = temporalConnectionOptions(temporal);
    expect(tls).toMatchObject({
      serverNameOverride: 'temporal.internal',
      clientCertPair: { crt: expect.any(Uint8Array), key: expect.any(Uint8Array) },
    });
    expect(describeTemporalSecurity(temporal)).toBe('mTLS');
  });

  test('the same from variables alone, with a gRPC header', () => {
    const { temporal } = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: pem,
      TEMPORAL_TLS_CLIENT_KEY_PATH: pem,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: pem,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      TEMPORAL_GRPC_META_X_TENANT: 'licensing',
    });
    expect(temporalConnectionOptions(temporal)).toMatchObject({
      tls: { serverNameOverride: 'temporal.internal', serverRootCACertificate: expect.any(Uint8Array) },
      metadata: { 'x-tenant': 'licensing' },
    });
  });
});

describe('mistakes stop the process, named', () => {
  test.each([
    [{ TEMPORAL_CONFIG_FILE: '/nowhere/temporal.toml' }, 'TEMPORAL_CONFIG_FILE', /no such file \(got "\/nowhere\/temporal.toml"\)/],
    [{ TEMPORAL_PROFILE: 'staging' }, 'TEMPORAL_PROFILE', /Profile 'staging' not found/],
    [{ TEMPORAL_TLS: 'yes' }, 'TEMPORAL_TLS', /must be true, false, 1 or 0 \(got "yes"\)/],
    [
      { TEMPORAL_TLS_CLIENT_CERT_PATH: '/nowhere/client.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: '/nowhere/client.key' },
      'TEMPORAL_TLS_CLIENT_CERT_PATH',
      /no such file/,
    ],
    [{ TEMPORAL_TLS_CLIENT_CERT_PATH: 'PEM' }, 'TEMPORAL_TLS_CLIENT_KEY_PATH', /needs a client certificate and its key, both/],
    [{ TEMPORAL_ADDRESS: 'temporal' }, 'TEMPORAL_ADDRESS', /must be host:port \(got "temporal"\)/],
  ])('%j: %s', (env, variable, reason) => {
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === 'PEM' ? pem : v]));
    expect(problemsOf(resolved)).toContainEqual({ variable, reason: expect.stringMatching(reason) });
  });

  test('a missing file named in the profile is blamed on the profile file and its key', () => {
    expect(problemsOf({ TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'typo' })).toContainEqual({
      variable: 'TEMPORAL_CONFIG_FILE',
      reason: expect.stringMatching(/profile "typo": tls\.client_cert_path: no such file .*missing\.pem/),
    });
  });

  test('a file of no profiles is no profile; asking for one in it is a mistake', () => {
    const empty = join(dir, 'empty.toml');
    writeFileSync(empty, '# nothing yet\n');
    expect(loadConfig({ TEMPORAL_CONFIG_FILE: empty }).temporal.address).toBe('127.0.0.1:7233');
    expect(problemsOf({ TEMPORAL_CONFIG_FILE: empty, TEMPORAL_PROFILE: 'cloud' })).toEqual([
      { variable: 'TEMPORAL_PROFILE', reason: expect.stringMatching(/Profile 'cloud' not found .*has no profiles/) },
    ]);
  });

  test('a bad address in the profile is blamed on the profile file', () => {
    const bad = join(dir, 'bad.toml');
    writeFileSync(bad, '[profile.default]\naddress = "https://temporal.internal"\n');
    expect(problemsOf({ TEMPORAL_CONFIG_FILE: bad })).toEqual([
      { variable: 'TEMPORAL_CONFIG_FILE', reason: expect.stringMatching(/profile "default": address must be host:port/) },
    ]);
  });
});
