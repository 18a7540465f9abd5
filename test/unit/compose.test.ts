/**
 * Keeps the deployment files in step with the code: docker-compose.yml, the search-attribute
 * registration script and .env.example must agree with CONFIG_VARIABLES (src/config.ts) and the
 * search-attribute definitions (src/temporal/search-attributes.ts).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import { createServer } from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { promisify } from 'util';
import { parse } from 'yaml';
import { API_NODE_FLAGS } from '../../src/api/node-flags';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/temporal/search-attributes';
import { WORKER_NODE_FLAGS, workerMemoryEnv } from '../../src/temporal/worker-memory';

const ROOT = path.resolve(__dirname, '../..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const REGISTER_SCRIPT = path.join(ROOT, 'deploy/temporal/register-search-attributes.sh');
const DYNAMIC_CONFIG = path.join(ROOT, 'deploy/temporal/dynamicconfig.yaml');
const ENV_EXAMPLE = path.join(ROOT, '.env.example');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const BUILD_TSCONFIG = path.join(ROOT, 'tsconfig.build.json');

/** The app services: built from the Dockerfile, configured only through CONFIG_VARIABLES. */
const APP_SERVICES = ['worker-1', 'worker-2', 'api-1', 'api-2', 'migrate'];
const WORKERS = ['worker-1', 'worker-2'];
const APIS = ['api-1', 'api-2'];

const CONFIG_KEYS = Object.keys(CONFIG_VARIABLES).sort();

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, unknown> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  ports?: Array<string | number>;
  healthcheck?: { test?: string | string[]; interval?: string; retries?: number };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

// merge: the file shares settings through YAML merge keys (`<<: *app-environment`), as compose reads them.
const compose = parse(fs.readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as ComposeFile;

/** Secrets the operator supplies (`${NAME:?...}` in the file), replaced by a valid test value. */
const SECRET_TEST_VALUES: Record<string, string> = {
  PAYLOAD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  LICENSE_SIGNING_KEYS: `s1:${Buffer.alloc(32, 8).toString('base64')}`,
};
/** Tracing is off unless the operator's .env names a collector: compose passes these through, empty by default. */
const FROM_OPERATOR_ENV = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_SERVICE_NAME'];

const SECRET_NAMES = Object.entries(CONFIG_VARIABLES)
  .filter(([, v]) => 'secret' in v && v.secret)
  .map(([name]) => name);

/** A service's environment as a name -> value map (compose accepts a map or a KEY=VALUE list). */
function environmentOf(service: string): Record<string, string> {
  const env = compose.services[service]?.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => {
      const value = v === null ? '' : String(v);
      if (FROM_OPERATOR_ENV.includes(k) && value === `\${${k}:-}`) return [k, ''];
      return [k, /^\$\{[A-Z_]+:\?/.test(value) && k in SECRET_TEST_VALUES ? SECRET_TEST_VALUES[k] : value];
    }),
  );
}

function dependsOn(service: string): Record<string, string> {
  const deps = compose.services[service]?.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v?.condition ?? 'service_started']));
}

function commandOf(service: string, key: 'command' | 'entrypoint'): string {
  const value = compose.services[service]?.[key];
  return Array.isArray(value) ? value.join(' ') : (value ?? '');
}

/** "Keyword", "KEYWORD", "keyword_list", "KeywordList" all compare equal. */
function normalizeType(type: string): string {
  return type.replace(/[_\s-]/g, '').toLowerCase();
}

function normalizeAttributes(list: ReadonlyArray<{ name: string; type: string }>): string[] {
  return list.map((a) => `${a.name}:${normalizeType(String(a.type))}`).sort();
}

/** The `<Name> <Type>` lines of the SEARCH_ATTRIBUTES here-document in the registration script. */
function scriptSearchAttributes(): Array<{ name: string; type: string }> {
  const script = fs.readFileSync(REGISTER_SCRIPT, 'utf8');
  const match = /<<\s*'?SEARCH_ATTRIBUTES'?\s*\n([\s\S]*?)\nSEARCH_ATTRIBUTES\s*(\n|$)/.exec(script);
  if (!match) throw new Error(`${REGISTER_SCRIPT} has no SEARCH_ATTRIBUTES here-document`);
  return match[1]
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [name, type, ...rest] = line.split(/\s+/);
      if (!name || !type || rest.length > 0) throw new Error(`bad search attribute line: "${line}"`);
      return { name, type };
    });
}

/** Parses .env.example into ordered entries, each with the comment line just above it. */
function envExampleEntries(): Array<{ name: string; value: string; comment: string | undefined }> {
  const lines = fs.readFileSync(ENV_EXAMPLE, 'utf8').split(/\r?\n/);
  const entries: Array<{ name: string; value: string; comment: string | undefined }> = [];
  lines.forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!match) throw new Error(`.env.example line ${i + 1} is not NAME=value: "${line}"`);
    let value = match[2];
    const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value);
    if (quoted) value = quoted[1];
    const previous = lines[i - 1];
    entries.push({ name: match[1], value, comment: previous?.startsWith('# ') ? previous.slice(2) : undefined });
  });
  return entries;
}

describe('docker-compose.yml', () => {
  test('defines the stack services', () => {
    for (const service of ['postgres', 'temporal-schema', 'temporal', 'temporal-ui', 'mailpit', 'migrate', ...WORKERS, ...APIS]) {
      expect(compose.services).toHaveProperty([service]);
    }
  });

  test.each(APP_SERVICES)('%s environment has exactly the CONFIG_VARIABLES keys', (service) => {
    const names = Object.keys(environmentOf(service)).sort();
    const missing = CONFIG_KEYS.filter((k) => !names.includes(k));
    const unknown = names.filter((k) => !CONFIG_KEYS.includes(k));
    expect({ missing, unknown }).toEqual({ missing: [], unknown: [] });
  });

  test.each(APP_SERVICES)('%s environment passes loadConfig', (service) => {
    const env = environmentOf(service);
    expect(() => loadConfig(env)).not.toThrow();
    // No value silently falls back to a default: each one is set explicitly.
    for (const [name, value] of Object.entries(env)) {
      if (!FROM_OPERATOR_ENV.includes(name)) expect([name, value.trim()]).not.toEqual([name, '']);
    }
  });

  test("tracing comes from the operator's environment, off when it names no collector", () => {
    const raw = (compose as unknown as { 'x-app-environment': Record<string, string> })['x-app-environment'];
    for (const name of FROM_OPERATOR_ENV) expect(raw[name]).toBe(`\${${name}:-}`);
  });

  test("secrets are never in the file: each comes from the operator's environment and compose refuses to start without it", () => {
    expect(SECRET_NAMES).toEqual(['PAYLOAD_ENCRYPTION_KEYS', 'LICENSE_SIGNING_KEYS']);
    const raw = (compose as unknown as { 'x-app-environment': Record<string, string> })['x-app-environment'];
    for (const name of SECRET_NAMES) expect(raw[name]).toMatch(new RegExp(`^\\$\\{${name}:\\?.+\\}$`));
  });

  test('the app containers talk to the compose services, not to localhost', () => {
    const config = loadConfig(environmentOf('worker-1'));
    expect(new URL(config.databaseUrl).hostname).toBe('postgres');
    expect(new URL(config.databaseUrl).pathname).toBe('/license_fulfillment_production');
    expect(config.temporal.address).toBe('temporal:7433');
    expect(new URL(config.smtpUrl).host).toBe('mailpit:1425');
    expect(config.temporal.uiUrl).toBe('http://127.0.0.1:8433');
    // The same environment everywhere but each process's own listen address.
    const shared = (service: string) => {
      const { API_LISTEN: _api, WORKER_METRICS_LISTEN: _metrics, ...rest } = environmentOf(service);
      return rest;
    };
    for (const service of APP_SERVICES) expect([service, shared(service)]).toEqual([service, shared('worker-1')]);
  });

  test('postgres has a healthcheck, a named volume and the app database', () => {
    const postgres = compose.services.postgres as ComposeService & { healthcheck?: { test?: unknown } };
    expect(postgres.image).toMatch(/^postgres:16(\.|$)/);
    expect(JSON.stringify(postgres.healthcheck?.test)).toContain('pg_isready');
    expect(environmentOf('postgres').POSTGRES_DB).toBe('license_fulfillment_production');
    const namedVolumes = Object.keys(compose.volumes ?? {});
    const mounted = (postgres.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0] : v.source));
    expect(mounted.some((source) => source !== undefined && namedVolumes.includes(source))).toBe(true);
  });

  test('temporal runs temporal-server on Postgres with the config files of deploy/', () => {
    expect(compose.services.temporal.image).toMatch(/^temporalio\/server:1\.29\.\d+$/);
    const env = environmentOf('temporal');
    expect(env).toMatchObject({ POSTGRES_SEEDS: 'postgres', BIND_ON_IP: '0.0.0.0' });
    expect(dependsOn('temporal')).toMatchObject({ 'temporal-schema': 'service_completed_successfully' });
    expect(dependsOn('temporal-schema')).toMatchObject({ postgres: 'service_healthy' });
    const mounts = (compose.services.temporal.volumes ?? []).map(String);
    expect(mounts).toContain('./deploy/temporal/config/production.yaml:/etc/temporal/config/production.yaml:ro');
    const dynamicConfigMount = mounts.find((m) => m.startsWith('./deploy/temporal/dynamicconfig.yaml:'));
    // The config template reads DYNAMIC_CONFIG_FILE_PATH: it must point at the mounted file.
    expect(dynamicConfigMount!.split(':')[1]).toBe(env.DYNAMIC_CONFIG_FILE_PATH);
    expect(commandOf('temporal', 'entrypoint')).toContain('temporal-server --root /etc/temporal --config config --env production');
  });

  test('the dynamic config enables workflow updates', () => {
    const dynamicConfig = parse(fs.readFileSync(DYNAMIC_CONFIG, 'utf8')) as Record<string, Array<{ value: unknown }>>;
    for (const key of [
      'frontend.enableUpdateWorkflowExecution',
      'frontend.enableUpdateWorkflowExecutionAsyncAccepted',
      'system.forceSearchAttributesCacheRefreshOnRead',
    ]) {
      expect([key, dynamicConfig[key]?.[0]?.value]).toEqual([key, true]);
    }
  });

  test('temporal-admin-tools runs the search-attribute registration script', () => {
    const adminTools = compose.services['temporal-admin-tools'];
    expect(adminTools.image).toMatch(/^temporalio\/admin-tools:/);
    const mounts = (adminTools.volumes ?? []).map(String);
    const scriptMount = mounts.find((m) => m.startsWith('./deploy/temporal/register-search-attributes.sh:'));
    expect(scriptMount).toBeDefined();
    const target = scriptMount!.split(':')[1];
    expect(`${commandOf('temporal-admin-tools', 'entrypoint')} ${commandOf('temporal-admin-tools', 'command')}`).toContain(target);
  });

  test('temporal-ui and mailpit are exposed on the documented ports', () => {
    expect(compose.services['temporal-ui'].ports?.map(String)).toContain('8433:8433');
    expect(environmentOf('temporal-ui').TEMPORAL_ADDRESS).toBe('temporal:7433');
    expect(compose.services.mailpit.ports?.map(String)).toEqual(expect.arrayContaining(['1425:1425', '8425:8425']));
  });

  test('migrate and worker are built from the Dockerfile and start in order', () => {
    expect(compose.services.migrate.build).toBeDefined();
    for (const worker of WORKERS) expect(compose.services[worker].build).toBeDefined();
    expect(commandOf('migrate', 'command')).toBe('node dist/scripts/migrate.js');
    // Started as src/temporal/worker-memory.ts says (the flag here, MALLOC_ARENA_MAX in the image).
    for (const worker of WORKERS) expect(commandOf(worker, 'command')).toBe(`node ${WORKER_NODE_FLAGS.join(' ')} dist/workers/main.js`);
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENV MALLOC_ARENA_MAX=${workerMemoryEnv({}).MALLOC_ARENA_MAX}`);
    expect(dockerfile).toContain(`CMD ${JSON.stringify(['node', ...WORKER_NODE_FLAGS, 'dist/workers/main.js']).replace(/,/g, ', ')}`);
    expect(dependsOn('migrate')).toMatchObject({ postgres: 'service_healthy' });
    for (const worker of WORKERS)
      expect(dependsOn(worker)).toMatchObject({
        migrate: 'service_completed_successfully',
        temporal: expect.any(String),
        mailpit: expect.any(String),
      });
  });

  test.each(APIS)('%s is built from the Dockerfile, runs the compiled API and starts after the migrations and search attributes', (api) => {
    expect(compose.services[api].build).toBeDefined();
    // Started as src/api/node-flags.ts says, as npm start, `npm run api` and the bench's driver do.
    expect(commandOf(api, 'command')).toBe(`node ${API_NODE_FLAGS.join(' ')} dist/workers/api.js`);
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.api).toBe(
      `node ${API_NODE_FLAGS.join(' ')} --import tsx workers/api.ts`,
    );
    expect(dependsOn(api)).toMatchObject({
      migrate: 'service_completed_successfully',
      'temporal-admin-tools': 'service_completed_successfully',
      temporal: expect.any(String),
    });
  });

  test.each([
    ['api-1', 'worker-1'],
    ['api-2', 'worker-2'],
  ])('%s and %s listen on all interfaces and are published on their configured ports', (api, worker) => {
    const listen = (value: string) => [value.slice(0, value.lastIndexOf(':')), value.split(':').pop()];
    const [apiHost, apiPort] = listen(loadConfig(environmentOf(api)).apiListen);
    const [metricsHost, metricsPort] = listen(loadConfig(environmentOf(worker)).workerMetricsListen);
    // Inside a container, a loopback listener cannot be reached through a published port.
    expect([apiHost, metricsHost]).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(compose.services[api].ports?.map(String)).toEqual([`${apiPort}:${apiPort}`]);
    expect(compose.services[worker].ports?.map(String)).toEqual([`${metricsPort}:${metricsPort}`]);
  });

  test('the links in emails point at the first published API', () => {
    const config = loadConfig(environmentOf('api-1'));
    expect(new URL(config.publicBaseUrl).port).toBe(config.apiListen.split(':').pop());
  });

  describe.each(APIS)('the %s healthcheck', (api) => {
    const healthcheck = () => compose.services[api].healthcheck?.test;

    test('asks /readyz on the API port with Node itself (the slim image has no curl or wget)', () => {
      const test = healthcheck();
      expect(Array.isArray(test)).toBe(true);
      const [kind, binary, flag, script] = test as string[];
      expect([kind, binary, flag]).toEqual(['CMD', 'node', '-e']);
      const apiPort = loadConfig(environmentOf(api)).apiListen.split(':').pop();
      expect(script).toContain(`http://127.0.0.1:${apiPort}/readyz`);
      expect(fs.readFileSync(DOCKERFILE, 'utf8')).toMatch(/^FROM node:\d+-bookworm-slim AS runtime$/m);
    });

    // Runs the healthcheck's own script against a server standing in for the API: it must pass
    // on 200, fail on 503 (not ready) and fail when nothing listens.
    test.each([
      [200, 0],
      [503, 1],
      [undefined, 1],
    ])('exits %p -> %p', async (status, exitCode) => {
      const script = (healthcheck() as string[])[3];
      const server = createServer((request, response) => {
        response.statusCode = request.url === '/readyz' && status !== undefined ? status : 404;
        response.end('{}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      if (status === undefined) await new Promise((resolve) => server.close(resolve));
      const apiPort = loadConfig(environmentOf(api)).apiListen.split(':').pop();
      try {
        const result = await promisify(execFile)(process.execPath, ['-e', script.replace(`:${apiPort}/`, `:${port}/`)], { timeout: 10_000 })
          .then(() => 0)
          .catch((err: { code?: number }) => err.code ?? -1);
        expect(result).toBe(exitCode);
      } finally {
        if (status !== undefined) await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  test('every compiled entry point a service runs is built by tsconfig.build.json', () => {
    const include: string[] = JSON.parse(fs.readFileSync(BUILD_TSCONFIG, 'utf8')).include;
    for (const service of APP_SERVICES) {
      const match = /^node (?:--\S+ )*dist\/(.+)\.js$/.exec(commandOf(service, 'command'));
      expect([service, match?.[1]]).toEqual([service, expect.any(String)]);
      const source = `${match![1]}.ts`;
      expect([service, fs.existsSync(path.join(ROOT, source))]).toEqual([service, true]);
      expect([service, include.some((dir) => source.startsWith(`${dir}/`))]).toEqual([service, true]);
    }
  });

  test('every bind-mounted file exists', () => {
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
        if (source?.startsWith('./')) expect(fs.existsSync(path.join(ROOT, source))).toBe(true);
      }
    }
  });
});

describe('deploy/temporal/register-search-attributes.sh', () => {
  test('registers exactly the project search attributes', () => {
    const registered = scriptSearchAttributes();
    expect(normalizeAttributes(registered)).toEqual(normalizeAttributes(SEARCH_ATTRIBUTE_DEFINITIONS));
    // The CLI wants the type spelled as in `temporal operator search-attribute create --type`.
    for (const { type } of registered) {
      expect(['Text', 'Keyword', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList']).toContain(type);
    }
  });

  test('waits for the server and tolerates attributes that already exist', () => {
    const script = fs.readFileSync(REGISTER_SCRIPT, 'utf8');
    expect(script).toMatch(/temporal operator cluster health/);
    expect(script).toMatch(/already exists/);
  });
});

describe('.env.example', () => {
  const entries = envExampleEntries();

  test('lists exactly the CONFIG_VARIABLES keys, once each', () => {
    const names = entries.map((e) => e.name);
    expect([...names].sort()).toEqual(CONFIG_KEYS);
    expect(new Set(names).size).toBe(names.length);
  });

  test('sets each variable to its default, below a comment with its doc', () => {
    for (const entry of entries) {
      const variable = CONFIG_VARIABLES[entry.name as keyof typeof CONFIG_VARIABLES];
      expect({ name: entry.name, value: entry.value, comment: entry.comment }).toEqual({
        name: entry.name,
        value: variable.default,
        comment: variable.doc,
      });
    }
  });

  test('its values pass loadConfig', () => {
    expect(() => loadConfig(Object.fromEntries(entries.map((e) => [e.name, e.value])))).not.toThrow();
  });
});
