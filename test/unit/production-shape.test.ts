/**
 * Docker cannot run here, so docker-compose.yml is held to the no-Docker production shape
 * (`npm start -- --production`, src/dev/production-shape.ts): the same versions, ports, config
 * files from deploy/, worker and API commands, and environment.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig, type ConfigVariable } from '../../src/config';
import {
  PRODUCTION_COMMANDS,
  PRODUCTION_FILES,
  PRODUCTION_PORTS,
  PRODUCTION_VERSIONS,
  TEMPORAL_DATABASES,
  apiListenEnv,
  productionAppEnv,
  temporalServerEnv,
  temporalUiEnv,
  workerListenEnv,
} from '../../src/dev/production-shape';

const ROOT = path.resolve(__dirname, '../..');
interface Service {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
}
const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const service = (name: string): Service => compose.services[name];
/** A service's environment as compose makes it when the operator sets nothing: `${NAME:-default}` is its default. */
const envOf = (name: string): Record<string, string> =>
  Object.fromEntries(
    Object.entries(service(name).environment ?? {}).map(([k, v]) => [k, String(v).replace(/^\$\{[A-Z_]+:-([^}]*)\}$/, '$1')]),
  );

/** Compose reaches the other containers by service name and listens on all interfaces; the no-Docker shape uses loopback. */
const toLoopback = (value: string) => value.replace(/\b(temporal|mailpit|postgres|0\.0\.0\.0)(?=:\d)/g, '127.0.0.1');

/** What the two ways may set differently: the database (a password in compose), the pre-built bundle, secrets and npm start's own catcher. */
const DIFFER_BY_DESIGN: ConfigVariable[] = [
  'DATABASE_URL',
  'WORKFLOW_BUNDLE_PATH',
  'PAYLOAD_ENCRYPTION_KEYS',
  'LICENSE_SIGNING_KEYS',
  'DEV_SMTP_LISTEN',
];

describe('docker-compose.yml and npm start -- --production agree', () => {
  test('versions: the images are the builds of scripts/ensure-production-binaries.sh', () => {
    const script = fs.readFileSync(path.join(ROOT, 'scripts/ensure-production-binaries.sh'), 'utf8');
    const scriptDefault = (variable: string) => new RegExp(`\\$\\{${variable}:-(v[\\d.]+)\\}`).exec(script)?.[1];
    expect({
      temporalServer: scriptDefault('TEMPORAL_SERVER_VERSION'),
      temporalUi: scriptDefault('TEMPORAL_UI_SERVER_VERSION'),
      mailpit: scriptDefault('MAILPIT_VERSION'),
    }).toEqual(PRODUCTION_VERSIONS);
    const bare = (v: string) => v.replace(/^v/, '');
    expect(service('temporal').image).toBe(`temporalio/server:${bare(PRODUCTION_VERSIONS.temporalServer)}`);
    for (const tools of ['temporal-schema', 'temporal-admin-tools']) {
      expect(service(tools).image).toMatch(
        new RegExp(`^temporalio/admin-tools:${bare(PRODUCTION_VERSIONS.temporalServer).replace(/\./g, '\\.')}-`),
      );
    }
    expect(service('temporal-ui').image).toBe(`temporalio/ui:${bare(PRODUCTION_VERSIONS.temporalUi)}`);
    expect(service('mailpit').image).toBe(`axllent/mailpit:${PRODUCTION_VERSIONS.mailpit}`);
  });

  test('ports: compose publishes each on the same number, and none is a dev-stack default', () => {
    const published = (name: string) => (service(name).ports ?? []).map(String);
    const same = (port: number) => `${port}:${port}`;
    expect(published('temporal')).toEqual([same(PRODUCTION_PORTS.temporalGrpc), same(PRODUCTION_PORTS.temporalMetrics)]);
    expect(envOf('temporal')).toMatchObject({
      FRONTEND_GRPC_PORT: String(PRODUCTION_PORTS.temporalGrpc),
      FRONTEND_HTTP_PORT: String(PRODUCTION_PORTS.temporalHttp),
      PROMETHEUS_ENDPOINT: `0.0.0.0:${PRODUCTION_PORTS.temporalMetrics}`,
    });
    expect(published('temporal-ui')).toEqual([same(PRODUCTION_PORTS.temporalUi)]);
    expect(envOf('temporal-ui').TEMPORAL_UI_PORT).toBe(String(PRODUCTION_PORTS.temporalUi));
    expect(published('mailpit')).toEqual([same(PRODUCTION_PORTS.smtp), same(PRODUCTION_PORTS.inbox)]);
    expect(service('mailpit').command).toEqual([
      '--smtp',
      `0.0.0.0:${PRODUCTION_PORTS.smtp}`,
      '--listen',
      `0.0.0.0:${PRODUCTION_PORTS.inbox}`,
    ]);
    PRODUCTION_PORTS.apis.forEach((port, i) => expect(published(`api-${i + 1}`)).toEqual([same(port)]));
    PRODUCTION_PORTS.workerMetrics.forEach((port, i) => expect(published(`worker-${i + 1}`)).toEqual([same(port)]));

    const devPorts = [
      8233,
      8025,
      ...(['TEMPORAL_ADDRESS', 'API_LISTEN', 'WORKER_METRICS_LISTEN', 'DEV_SMTP_LISTEN'] as const).map((v) =>
        Number(CONFIG_VARIABLES[v].default.split(':').pop()),
      ),
    ];
    expect(devPorts).toEqual([8233, 8025, 7233, 3000, 9464, 1025]);
    const ours = Object.values(PRODUCTION_PORTS).flat();
    expect(ours.filter((port) => devPorts.includes(port))).toEqual([]);
    expect(new Set(ours).size).toBe(ours.length);
  });

  test.each([0, 1])('environment: worker %i and its API get what the no-Docker shape sets, the rest as the defaults it uses', (i) => {
    for (const [name, scriptEnv] of [
      [`worker-${i + 1}`, { ...productionAppEnv(), ...workerListenEnv(i) }],
      [`api-${i + 1}`, { ...productionAppEnv(), ...apiListenEnv(i) }],
    ] as const) {
      const composeEnv = envOf(name);
      for (const [variable, value] of Object.entries(scriptEnv))
        expect([name, variable, toLoopback(composeEnv[variable])]).toEqual([name, variable, value]);
      for (const variable of Object.keys(CONFIG_VARIABLES) as ConfigVariable[]) {
        if (
          variable in scriptEnv ||
          DIFFER_BY_DESIGN.includes(variable) ||
          variable === 'API_LISTEN' ||
          variable === 'WORKER_METRICS_LISTEN'
        )
          continue;
        expect([name, variable, composeEnv[variable]]).toEqual([name, variable, CONFIG_VARIABLES[variable].default]);
      }
      // Both open the same database name and accept their settings.
      expect(new URL(composeEnv.DATABASE_URL).pathname).toBe('/license_fulfillment_production');
      const secrets = {
        PAYLOAD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
        LICENSE_SIGNING_KEYS: `s1:${Buffer.alloc(32, 8).toString('base64')}`,
      };
      expect(() => loadConfig({ ...composeEnv, ...secrets })).not.toThrow();
    }
  });

  test("the Temporal server and UI get the variables of deploy/'s templates that the no-Docker shape sets", () => {
    const serverEnv = temporalServerEnv('postgres://postgres@127.0.0.1:5432/x', ROOT, {});
    const composeServer: Record<string, string> = { ...envOf('temporal'), TEMPORAL_BROADCAST_ADDRESS: '(hostname -i)' };
    // The host, bind address, password and file paths are the container's own.
    const differ = ['POSTGRES_SEEDS', 'BIND_ON_IP', 'POSTGRES_PWD', 'DYNAMIC_CONFIG_FILE_PATH', 'TEMPORAL_BROADCAST_ADDRESS'];
    for (const [variable, value] of Object.entries(serverEnv)) {
      expect(composeServer).toHaveProperty([variable]);
      if (!differ.includes(variable)) expect([variable, toLoopback(composeServer[variable])]).toEqual([variable, value]);
    }
    expect(envOf('temporal-schema')).toMatchObject({
      DBNAME: TEMPORAL_DATABASES.persistence,
      VISIBILITY_DBNAME: TEMPORAL_DATABASES.visibility,
    });
    const composeUi = envOf('temporal-ui');
    for (const [variable, value] of Object.entries(temporalUiEnv('http://localhost:3401/codec/ui/k'))) {
      expect(composeUi).toHaveProperty([variable]);
      if (!['TEMPORAL_CODEC_ENDPOINT', 'TEMPORAL_UI_HOST'].includes(variable))
        expect([variable, toLoopback(composeUi[variable])]).toEqual([variable, value]);
    }
  });

  test('config files: compose mounts the files of deploy/ the no-Docker shape reads, and they exist', () => {
    const mounted = (name: string) => (service(name).volumes ?? []).map((v) => String(v).split(':')[0].replace(/^\.\//, ''));
    expect(mounted('temporal')).toEqual([PRODUCTION_FILES.temporalConfig, PRODUCTION_FILES.dynamicConfig]);
    expect(mounted('temporal-ui')).toEqual([PRODUCTION_FILES.uiConfig]);
    expect(mounted('temporal-schema')).toEqual([PRODUCTION_FILES.setupSchema]);
    for (const file of Object.values(PRODUCTION_FILES)) expect([file, fs.existsSync(path.join(ROOT, file))]).toEqual([file, true]);
    // Temporal's and the UI's loaders render a file as a Go template only with this comment.
    for (const file of [PRODUCTION_FILES.temporalConfig, PRODUCTION_FILES.uiConfig]) {
      expect(fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n')[0]).toBe('# enable-template');
    }
  });

  test('commands: the workers and APIs run the same entry points with the same node flags', () => {
    const compiled = ({ nodeFlags, entry }: { nodeFlags: readonly string[]; entry: string }) => ['node', ...nodeFlags, `dist/${entry}.js`];
    for (const worker of ['worker-1', 'worker-2']) expect(service(worker).command).toEqual(compiled(PRODUCTION_COMMANDS.worker));
    for (const api of ['api-1', 'api-2']) expect(service(api).command).toEqual(compiled(PRODUCTION_COMMANDS.api));
    for (const { entry } of Object.values(PRODUCTION_COMMANDS)) expect(fs.existsSync(path.join(ROOT, `${entry}.ts`))).toBe(true);
  });
});
