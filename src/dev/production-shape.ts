/**
 * The production shape (`npm start -- --production`, docker-compose.yml): the real Temporal
 * server on Postgres, its UI server, Mailpit, two workers and two API processes. Its versions,
 * ports, config files and the processes' environment are defined here once; the no-Docker stack
 * (scripts/production-stack.ts) uses them and test/unit/production-shape.test.ts checks that
 * docker-compose.yml and scripts/ensure-production-binaries.sh say the same.
 */
import { join } from 'node:path';
import { API_NODE_FLAGS } from '../api/node-flags';
import { WORKER_NODE_FLAGS } from '../temporal/worker-memory';

/** What scripts/ensure-production-binaries.sh builds and docker-compose.yml runs (image tags drop the "v" where the image does). */
export const PRODUCTION_VERSIONS = { temporalServer: 'v1.29.1', temporalUi: 'v2.42.1', mailpit: 'v1.33.1' } as const;

/** A range of its own, clear of the dev stack's 7233/8233/3000/9464/1025/8025, so both can run at once. */
export const PRODUCTION_PORTS = {
  temporalGrpc: 7433,
  temporalHttp: 7443,
  temporalMetrics: 9433,
  temporalUi: 8433,
  smtp: 1425,
  inbox: 8425,
  apis: [3401, 3402],
  workerMetrics: [9441, 9442],
} as const;

/** Temporal's two databases (DBNAME / VISIBILITY_DBNAME override them); the app's own stays DATABASE_URL. */
export const TEMPORAL_DATABASES = { persistence: 'temporal_prod', visibility: 'temporal_prod_visibility' } as const;

/** The app database when DATABASE_URL is not set: not the dev stack's, whose orders live in another Temporal. */
export const PRODUCTION_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/license_fulfillment_production';

/** Retention of closed workflows in the namespace the stack registers. */
export const NAMESPACE_RETENTION_HOURS = 168;

/** The config files both ways of running read, relative to the repository. */
export const PRODUCTION_FILES = {
  temporalConfig: 'deploy/temporal/config/production.yaml',
  dynamicConfig: 'deploy/temporal/dynamicconfig.yaml',
  uiConfig: 'deploy/temporal-ui/production.yaml',
  setupSchema: 'deploy/temporal/setup-schema.sh',
} as const;

/** The worker and API entry points and node flags (compose runs their compiled dist/ form). */
export const PRODUCTION_COMMANDS = {
  worker: { nodeFlags: [...WORKER_NODE_FLAGS], entry: 'workers/main' },
  api: { nodeFlags: [...API_NODE_FLAGS], entry: 'workers/api' },
} as const;

/** The variables Temporal's config template reads (deploy/temporal/config/production.yaml) for a Postgres URL. */
export function temporalServerEnv(databaseUrl: string, root: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const url = new URL(databaseUrl);
  return {
    POSTGRES_SEEDS: env.POSTGRES_SEEDS ?? url.hostname,
    DB_PORT: env.DB_PORT ?? (url.port || '5432'),
    POSTGRES_USER: env.POSTGRES_USER ?? (decodeURIComponent(url.username) || 'postgres'),
    POSTGRES_PWD: env.POSTGRES_PWD ?? decodeURIComponent(url.password),
    DBNAME: env.DBNAME ?? TEMPORAL_DATABASES.persistence,
    VISIBILITY_DBNAME: env.VISIBILITY_DBNAME ?? TEMPORAL_DATABASES.visibility,
    DYNAMIC_CONFIG_FILE_PATH: join(root, PRODUCTION_FILES.dynamicConfig),
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    BIND_ON_IP: '127.0.0.1',
    PROMETHEUS_ENDPOINT: `127.0.0.1:${PRODUCTION_PORTS.temporalMetrics}`,
    FRONTEND_GRPC_PORT: String(PRODUCTION_PORTS.temporalGrpc),
    FRONTEND_HTTP_PORT: String(PRODUCTION_PORTS.temporalHttp),
    LOG_LEVEL: 'warn',
  };
}

/** What the UI server's template (deploy/temporal-ui/production.yaml) reads. */
export function temporalUiEnv(codecEndpoint: string): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: `127.0.0.1:${PRODUCTION_PORTS.temporalGrpc}`,
    TEMPORAL_UI_HOST: '127.0.0.1',
    TEMPORAL_UI_PORT: String(PRODUCTION_PORTS.temporalUi),
    TEMPORAL_CORS_ORIGINS: `http://127.0.0.1:${PRODUCTION_PORTS.temporalUi}`,
    TEMPORAL_CODEC_ENDPOINT: codecEndpoint,
  };
}

/** The environment every worker and API process shares (each adds its own listen address). */
export function productionAppEnv(): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: `127.0.0.1:${PRODUCTION_PORTS.temporalGrpc}`,
    TEMPORAL_UI_URL: `http://127.0.0.1:${PRODUCTION_PORTS.temporalUi}`,
    SMTP_URL: `smtp://127.0.0.1:${PRODUCTION_PORTS.smtp}`,
    PUBLIC_BASE_URL: `http://localhost:${PRODUCTION_PORTS.apis[0]}`,
  };
}

/** Worker `index` (0 or 1): its metrics port; API `index`: its listen port. */
export function workerListenEnv(index: number): Record<string, string> {
  return { WORKER_METRICS_LISTEN: `127.0.0.1:${PRODUCTION_PORTS.workerMetrics[index]}` };
}

export function apiListenEnv(index: number): Record<string, string> {
  return { API_LISTEN: `127.0.0.1:${PRODUCTION_PORTS.apis[index]}` };
}
