/**
 * The one place that reads the environment. Every process (worker, stack script, tests,
 * later the API and CLI) calls `loadConfig()` and gets a validated, typed object, or a
 * ConfigError that names each bad variable and why it is bad.
 */
import { configReaders, type Env } from './config-readers';
import { readTemporalConnection, type TemporalConnectionSettings, type TemporalConnectionVariable } from './config-temporal';
import { type ConfigVariable, type LogLevel, LOG_LEVELS } from './config-variables';
import { MIN_USAGE_REPORT_RETENTION_MS } from './licensing/report-retention';

export * from './config-variables';
export { TEMPORAL_CONNECTION_VARIABLES, type TemporalConnectionSettings } from './config-temporal';
export { parseDuration, redact } from './config-readers';

export interface Config {
  databaseUrl: string;
  databasePoolMax: number;
  /**
   * Address, namespace, TLS / mTLS and API key as Temporal's own tools read them (a profile file
   * or TEMPORAL_* variables; src/config-temporal.ts); every connection is made from them by
   * src/temporal/connect.ts or src/temporal/worker-connection.ts.
   */
  temporal: TemporalConnectionSettings & {
    taskQueue: string;
    uiUrl: string;
  };
  smtpUrl: string;
  /** `npm start` only: host:port of its own SMTP catcher (Mailpit or in-process) when SMTP_URL is not set. */
  devSmtpListen: string;
  mailFrom: string;
  /** Where escalations go when the order has no distributor. */
  operationsEmail: string;
  publicBaseUrl: string;
  /** How often a partner is reminded that a held order must be transferred (milliseconds). */
  reminderIntervalMs: number;
  /**
   * Most an order's reminders are moved past the cadence, by a fixed share of it derived from the
   * order ID, so orders booked together are not all reminded in the same second (milliseconds;
   * never more than a tenth of the interval; 0 turns it off).
   */
  reminderJitterMs: number;
  /** How long an order may wait in a holding account before it is escalated (milliseconds). */
  escalationAfterMs: number;
  /** How long a delegation or activation link stays valid (milliseconds). */
  delegationTokenTtlMs: number;
  /** How long an emailed sign-in link stays valid (milliseconds; R24). */
  signInLinkTtlMs: number;
  /** How long a signed-in browser session lasts (milliseconds; R24). */
  webSessionTtlMs: number;
  /** An order workflow continues as new once its history holds this many events. */
  historyEventLimit: number;
  logLevel: LogLevel;
  /** host:port the HTTP API and the customer pages listen on. */
  apiListen: string;
  /** host:port where the worker serves Prometheus metrics (/metrics). */
  workerMetricsListen: string;
  /** Order workflows a worker keeps in memory; an evicted one replays its history when it next wakes. */
  workerMaxCachedWorkflows: number;
  workerMaxConcurrentWorkflowTasks: number;
  workerMaxConcurrentActivities: number;
  /** Orders a batch transfer updates at once, and how many one of its activities works through. */
  orderTransfer: { concurrency: number; chunkSize: number; chunksPerRun: number };
  /** A workflow bundle built by `npm run build` (`dist/workflow-bundle.js`); empty: the worker bundles at start. */
  workflowBundlePath: string;
  /**
   * `id:base64key[,id:base64key...]`: AES-256 keys sealing Temporal payloads (R14), the first
   * current, the others still opening what they sealed. Empty here; required by every process
   * that talks to Temporal (src/temporal/connect.ts).
   */
  payloadEncryptionKeys: string;
  /** Deflate payloads before sealing them; off while processes of a release before it still run. */
  payloadCompression: boolean;
  /** License use (R19-R22): what takes time, all configuration so tests run in seconds. */
  licenseClock: LicenseClockConfig;
  /** OpenTelemetry traces (docs/OBSERVABILITY.md, "Traces"): off while `tracesEndpoint` is empty. */
  tracing: TracingConfig;
  /** `id:base64seed[,...]`: Ed25519 keys signing device credentials and usage answers, the first signs (R16, R17). */
  licenseSigningKeys: string;
  /** Most usage reports applied in one transaction by the API (USAGE_REPORT_BATCH_SIZE); 1: one transaction each. */
  usageReportBatchSize: number;
  /** How long a device session lasts (DEVICE_SESSION_TTL), never past its credential. */
  deviceSessionTtlMs: number;
  /** Requests per window, counted in each API process on its own (undefined: no limit). */
  rateLimits: RateLimits;
  /** When an API process answers 503 at once rather than take one more request. */
  loadShedding: LoadSheddingConfig;
  /** How long an API request may wait inside Postgres (src/db/knex.ts); workers and migrations have no such bound. */
  apiDatabaseTimeouts: DatabaseSessionTimeouts;
}

/** How long one Postgres session may wait (milliseconds; 0: no bound of ours, the server's own setting applies). */
export interface DatabaseSessionTimeouts {
  /** A statement running or waiting for a lock longer is cancelled (SQLSTATE 57014). */
  statementTimeoutMs: number;
  /** A transaction idle longer ends its session (SQLSTATE 25P03), releasing its locks. */
  idleInTransactionTimeoutMs: number;
}

export interface RateLimit {
  max: number;
  timeWindowMs: number;
}

export interface RateLimits {
  /** Every /v1 route an API key opens, per key. */
  perApiKey?: RateLimit;
  /** Usage reports and renewals, per device credential. */
  perDeviceCredential?: RateLimit;
  /** Device registration and the signing keys, per client IP. */
  deviceRegistrationPerIp?: RateLimit;
  /** The sign-in, user registration and verify pages, per client IP. */
  signInPerIp?: RateLimit;
  /** The delegation and activation link pages, per client IP. */
  linkPagesPerIp?: RateLimit;
}

export interface LoadSheddingConfig {
  /** Requests worked on at once before the next is shed (0: no bound). */
  maxInFlight: number;
  /** Mean event-loop delay above which requests are shed (milliseconds; 0: off). */
  maxEventLoopDelayMs: number;
  /** V8 heap in use above which requests are shed (bytes; 0: off). */
  maxHeapUsedBytes: number;
  /** The Retry-After of a shed request (seconds). */
  retryAfterS: number;
}

export interface LicenseClockConfig {
  /** How often the Schedule starts the licenseClock sweep (milliseconds). */
  intervalMs: number;
  /** Silence after which a product instance raises "failed to connect" (R19, milliseconds). */
  failedToConnectAfterMs: number;
  /** Silence after which its authorization expires and its use is released (milliseconds). */
  authorizationExpiresAfterMs: number;
  /** Silence after which it is removed and its credentials revoked (milliseconds). */
  removedAfterMs: number;
  /** How long a usage report is kept (milliseconds): at least the credential validity, so a retry finds its answer (R17). */
  usageReportRetentionMs: number;
  /** Days before a term ends on which "licenses expiring" is raised (R22), largest first. */
  termAlertDays: number[];
}

export interface TracingConfig {
  /** The OTLP/HTTP URL spans are posted to; empty: no tracing. */
  tracesEndpoint: string;
  /** The spans' service.name; empty: the process's own (license-fulfillment-api, license-fulfillment-worker). */
  serviceName: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: Array<{ variable: ConfigVariable | TemporalConnectionVariable; reason: string }>) {
    super('Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.reason}`).join('\n'));
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Env = process.env): Config {
  const problems: Array<{ variable: ConfigVariable | TemporalConnectionVariable; reason: string }> = [];
  const fail = (variable: ConfigVariable | TemporalConnectionVariable, reason: string) => problems.push({ variable, reason });
  const readers = configReaders(env, fail);
  const {
    raw,
    url,
    optionalUrl,
    duration,
    durationOrOff,
    positiveInt,
    hostPort,
    name,
    mailbox,
    encryptionKeys,
    signingKeys,
    oneOf,
    dayList,
  } = readers;

  const config: Config = {
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolMax: positiveInt('DATABASE_POOL_MAX'),
    temporal: {
      ...readTemporalConnection(env, fail),
      taskQueue: name('TEMPORAL_TASK_QUEUE'),
      uiUrl: url('TEMPORAL_UI_URL', ['http:', 'https:']).replace(/\/+$/, ''),
    },
    smtpUrl: url('SMTP_URL', ['smtp:', 'smtps:']),
    devSmtpListen: hostPort('DEV_SMTP_LISTEN'),
    mailFrom: mailbox('MAIL_FROM'),
    operationsEmail: mailbox('OPERATIONS_EMAIL'),
    publicBaseUrl: url('PUBLIC_BASE_URL', ['http:', 'https:']).replace(/\/+$/, ''),
    reminderIntervalMs: duration('REMINDER_INTERVAL'),
    reminderJitterMs: durationOrOff('REMINDER_JITTER'),
    escalationAfterMs: duration('ESCALATION_AFTER'),
    delegationTokenTtlMs: duration('DELEGATION_TOKEN_TTL'),
    signInLinkTtlMs: duration('SIGN_IN_LINK_TTL'),
    webSessionTtlMs: duration('WEB_SESSION_TTL'),
    historyEventLimit: positiveInt('HISTORY_EVENT_LIMIT'),
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS),
    apiListen: hostPort('API_LISTEN'),
    workerMetricsListen: hostPort('WORKER_METRICS_LISTEN'),
    workerMaxCachedWorkflows: positiveInt('WORKER_MAX_CACHED_WORKFLOWS'),
    workerMaxConcurrentWorkflowTasks: positiveInt('WORKER_MAX_CONCURRENT_WORKFLOW_TASKS'),
    workerMaxConcurrentActivities: positiveInt('WORKER_MAX_CONCURRENT_ACTIVITIES'),
    orderTransfer: {
      concurrency: positiveInt('ORDER_TRANSFER_CONCURRENCY'),
      chunkSize: positiveInt('ORDER_TRANSFER_CHUNK_SIZE'),
      chunksPerRun: positiveInt('ORDER_TRANSFER_CHUNKS_PER_RUN'),
    },
    workflowBundlePath: raw('WORKFLOW_BUNDLE_PATH'),
    payloadEncryptionKeys: encryptionKeys('PAYLOAD_ENCRYPTION_KEYS'),
    payloadCompression: oneOf('PAYLOAD_COMPRESSION', ['ON', 'OFF']) === 'ON',
    licenseClock: {
      intervalMs: duration('LICENSE_CLOCK_INTERVAL'),
      failedToConnectAfterMs: duration('FAILED_TO_CONNECT_AFTER'),
      authorizationExpiresAfterMs: duration('AUTHORIZATION_EXPIRES_AFTER'),
      removedAfterMs: duration('INSTANCE_REMOVED_AFTER'),
      usageReportRetentionMs: duration('USAGE_REPORT_RETENTION'),
      termAlertDays: dayList('TERM_ALERT_DAYS'),
    },
    tracing: {
      tracesEndpoint: tracesEndpoint(optionalUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), optionalUrl('OTEL_EXPORTER_OTLP_ENDPOINT')),
      serviceName: raw('OTEL_SERVICE_NAME'),
    },
    licenseSigningKeys: signingKeys('LICENSE_SIGNING_KEYS'),
    usageReportBatchSize: positiveInt('USAGE_REPORT_BATCH_SIZE'),
    deviceSessionTtlMs: duration('DEVICE_SESSION_TTL'),
    ...apiProtection(readers),
  };
  if (config.licenseClock.usageReportRetentionMs > 0 && config.licenseClock.usageReportRetentionMs < MIN_USAGE_REPORT_RETENTION_MS) {
    fail(
      'USAGE_REPORT_RETENTION',
      `must be at least 365d, the validity of a device credential: a device may retry a report that long (got "${raw('USAGE_REPORT_RETENTION')}")`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The API's rate limits, load shedding and Postgres session timeouts (src/api/rate-limits.ts, src/api/load-shedding.ts, src/db/knex.ts). */
function apiProtection(readers: ReturnType<typeof configReaders>): Pick<Config, 'rateLimits' | 'loadShedding' | 'apiDatabaseTimeouts'> {
  const { rateLimit, wholeNumberOrOff, durationOrOff, duration, timeoutOrOff } = readers;
  return {
    rateLimits: {
      perApiKey: rateLimit('API_KEY_RATE_LIMIT'),
      perDeviceCredential: rateLimit('DEVICE_RATE_LIMIT'),
      deviceRegistrationPerIp: rateLimit('DEVICE_REGISTRATION_RATE_LIMIT'),
      signInPerIp: rateLimit('SIGN_IN_RATE_LIMIT'),
      linkPagesPerIp: rateLimit('LINK_PAGE_RATE_LIMIT'),
    },
    loadShedding: {
      maxInFlight: wholeNumberOrOff('API_MAX_IN_FLIGHT'),
      maxEventLoopDelayMs: durationOrOff('API_MAX_EVENT_LOOP_DELAY'),
      maxHeapUsedBytes: wholeNumberOrOff('API_MAX_HEAP_USED_MB') * 1024 * 1024,
      retryAfterS: Math.ceil(duration('API_SHED_RETRY_AFTER') / 1000),
    },
    apiDatabaseTimeouts: {
      statementTimeoutMs: timeoutOrOff('API_DATABASE_STATEMENT_TIMEOUT'),
      idleInTransactionTimeoutMs: timeoutOrOff('API_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT'),
    },
  };
}

/** As the OpenTelemetry specification reads the two: the traces URL as given, or the base URL plus /v1/traces. */
function tracesEndpoint(tracesUrl: string, baseUrl: string): string {
  if (tracesUrl) return tracesUrl;
  return baseUrl ? `${baseUrl.replace(/\/+$/, '')}/v1/traces` : '';
}
