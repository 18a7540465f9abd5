/**
 * The one place that reads the environment. Every process (worker, stack script, tests,
 * later the API and CLI) calls `loadConfig()` and gets a validated, typed object, or a
 * ConfigError that names each bad variable and why it is bad.
 */
import { parseSigningKeys } from './licensing/signing';
import { parseEncryptionKeys } from './temporal/payload-codec';

export interface Config {
  databaseUrl: string;
  databasePoolMax: number;
  temporal: {
    address: string;
    namespace: string;
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
  /** A workflow bundle built by `npm run build` (`dist/workflow-bundle.js`); empty: the worker bundles at start. */
  workflowBundlePath: string;
  /**
   * `id:base64key[,id:base64key...]`: AES-256 keys sealing Temporal payloads (R14), the first
   * current, the others still opening what they sealed. Empty here; required by every process
   * that talks to Temporal (src/temporal/connect.ts).
   */
  payloadEncryptionKeys: string;
  /** License use (R19-R22): what takes time, all configuration so tests run in seconds. */
  licenseClock: LicenseClockConfig;
  /** `id:base64seed[,...]`: Ed25519 keys signing device credentials and usage answers, the first signs (R16, R17). */
  licenseSigningKeys: string;
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
  /** Days before a term ends on which "licenses expiring" is raised (R22), largest first. */
  termAlertDays: number[];
}

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type Env = Record<string, string | undefined>;

/** Every variable the product reads, with its default and what it means (README table, .env.example). */
export const CONFIG_VARIABLES = {
  DATABASE_URL: { default: 'postgres://postgres@127.0.0.1:5432/license_fulfillment', doc: 'Postgres connection URL (system of record).' },
  DATABASE_POOL_MAX: { default: '10', doc: 'Largest number of Postgres connections one process opens.' },
  TEMPORAL_ADDRESS: { default: '127.0.0.1:7233', doc: 'Temporal frontend host:port.' },
  TEMPORAL_NAMESPACE: { default: 'default', doc: 'Temporal namespace the orders live in.' },
  TEMPORAL_TASK_QUEUE: { default: 'order-fulfillment', doc: 'Task queue the order workers poll.' },
  TEMPORAL_UI_URL: { default: 'http://localhost:8233', doc: 'Temporal Web UI base URL, used in printed links.' },
  SMTP_URL: { default: 'smtp://127.0.0.1:1025', doc: 'SMTP server for outgoing mail (smtp:// or smtps://, credentials in the URL).' },
  DEV_SMTP_LISTEN: {
    default: '127.0.0.1:1025',
    doc: 'npm start only: host:port its own SMTP catcher (Mailpit or the in-process one) listens on when SMTP_URL is not set.',
  },
  MAIL_FROM: { default: 'Smart Licensing Orders <orders@license-fulfillment.localhost>', doc: 'From address of every email.' },
  OPERATIONS_EMAIL: {
    default: 'operations@license-fulfillment.localhost',
    doc: 'Where escalations of long-held orders go when the order has no distributor.',
  },
  PUBLIC_BASE_URL: { default: 'http://localhost:3000', doc: 'Public base URL of the API and customer pages, used in email links.' },
  REMINDER_INTERVAL: { default: '3d', doc: 'Cadence of "transfer needed" and activation reminders (e.g. 500ms, 30s, 15m, 12h, 3d).' },
  REMINDER_JITTER: {
    default: '6h',
    doc: "Most an order's reminders come after the cadence, spread by order ID so a bulk import is not reminded all at once (at most a tenth of REMINDER_INTERVAL; 0 turns it off).",
  },
  ESCALATION_AFTER: { default: '30d', doc: 'Time an order may wait in a holding account before it is escalated.' },
  DELEGATION_TOKEN_TTL: { default: '14d', doc: 'Validity of a delegation or activation link.' },
  SIGN_IN_LINK_TTL: { default: '15m', doc: 'Validity of an emailed sign-in link to the pages (single use).' },
  WEB_SESSION_TTL: { default: '12h', doc: 'How long a signed-in browser session lasts before the person signs in again.' },
  HISTORY_EVENT_LIMIT: {
    default: '2000',
    doc: 'History length at which a long-waiting order workflow continues as new (the server also suggests it).',
  },
  LOG_LEVEL: { default: 'INFO', doc: 'Least severe log level printed: TRACE, DEBUG, INFO, WARN or ERROR.' },
  API_LISTEN: { default: '127.0.0.1:3000', doc: 'host:port the HTTP API and customer pages listen on (0.0.0.0:3000 in a container).' },
  WORKER_METRICS_LISTEN: { default: '127.0.0.1:9464', doc: 'host:port where the worker serves Prometheus metrics at /metrics.' },
  WORKER_MAX_CACHED_WORKFLOWS: {
    default: '50',
    doc: 'Order workflows a worker keeps in memory (about 1 MB each); others replay their history when they next wake. Bounds worker memory however many orders are parked; keep it above the orders one worker has in flight at once.',
  },
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: {
    default: '8',
    doc: "Workflow tasks a worker works on at once (the SDK default is 40). Each may replay an evicted order's history; fewer bound the memory of a burst (a bulk transfer) at the same throughput.",
  },
  WORKER_MAX_CONCURRENT_ACTIVITIES: {
    default: '20',
    doc: 'Activities a worker runs at once (the SDK default is 100). About twice DATABASE_POOL_MAX: more only wait for a connection, holding their memory.',
  },
  WORKFLOW_BUNDLE_PATH: {
    default: '',
    doc: 'Pre-built workflow bundle (npm run build writes dist/workflow-bundle.js; the image sets it). Empty: the worker bundles the workflow code at start, which costs it about 140 MB.',
  },
  PAYLOAD_ENCRYPTION_KEYS: {
    default: '',
    secret: true,
    doc: 'AES-256 keys sealing Temporal payloads (R14): id:base64key, comma-separated, current first. Required by the worker and the API; npm start and the tests generate one.',
  },
  LICENSE_CLOCK_INTERVAL: {
    default: '1m',
    doc: 'How often the license clock sweeps for silent devices, term ends, alert emails and due true-ups (a Temporal Schedule).',
  },
  FAILED_TO_CONNECT_AFTER: { default: '30d', doc: 'Silence after which a product instance raises a "failed to connect" alert (R19).' },
  AUTHORIZATION_EXPIRES_AFTER: {
    default: '90d',
    doc: 'Silence after which a product instance is AuthorizationExpired and its use leaves the pool (R19).',
  },
  INSTANCE_REMOVED_AFTER: { default: '365d', doc: 'Silence after which a product instance is removed and its credentials revoked (R19).' },
  TERM_ALERT_DAYS: {
    default: '90,60,30,14,7,3,1',
    doc: 'Days before a term ends on which a "licenses expiring" alert is raised (R22), comma-separated.',
  },
  LICENSE_SIGNING_KEYS: {
    default: '',
    secret: true,
    doc: 'Ed25519 keys signing device credentials and usage answers (R16, R17): id:base64seed (32 bytes), comma-separated; the first signs, all verify (rotation). Required by the API for device routes; npm start and the tests generate one.',
  },
} as const;

export type ConfigVariable = keyof typeof CONFIG_VARIABLES;

export class ConfigError extends Error {
  constructor(readonly problems: Array<{ variable: ConfigVariable; reason: string }>) {
    super('Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.reason}`).join('\n'));
    this.name = 'ConfigError';
  }
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `15m`, `12h`, `3d` into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * DURATION_UNITS_MS[match[2]];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

export function loadConfig(env: Env = process.env): Config {
  const problems: Array<{ variable: ConfigVariable; reason: string }> = [];
  const raw = (name: ConfigVariable): string => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? CONFIG_VARIABLES[name].default : value.trim();
  };
  const fail = (variable: ConfigVariable, reason: string) => problems.push({ variable, reason });

  const url = (name: ConfigVariable, protocols: string[]): string => {
    const value = raw(name);
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        fail(name, `must use ${protocols.map((p) => p.replace(':', '://')).join(' or ')} (got "${parsed.protocol}//")`);
      }
    } catch {
      fail(name, `must be a URL (got "${redact(value)}")`);
    }
    return value;
  };
  const duration = (name: ConfigVariable): number => {
    const value = raw(name);
    const ms = parseDuration(value);
    if (ms === undefined) fail(name, `must be a positive duration such as 500ms, 30s, 15m, 12h or 3d (got "${value}")`);
    return ms ?? 0;
  };
  /** A duration, or 0 to turn the feature off. */
  const durationOrOff = (name: ConfigVariable): number => {
    const value = raw(name);
    if (value === '0') return 0;
    const ms = parseDuration(value);
    if (ms === undefined) fail(name, `must be 0 or a positive duration such as 500ms, 30s, 15m, 12h or 3d (got "${value}")`);
    return ms ?? 0;
  };
  const positiveInt = (name: ConfigVariable): number => {
    const value = raw(name);
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1) fail(name, `must be a whole number of at least 1 (got "${value}")`);
    return n;
  };
  const hostPort = (name: ConfigVariable): string => {
    const value = raw(name);
    if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(value)) fail(name, `must be host:port (got "${value}")`);
    return value;
  };
  const name = (variable: ConfigVariable): string => {
    const value = raw(variable);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) fail(variable, `must be letters, digits, ".", "_" or "-" (got "${value}")`);
    return value;
  };
  const mailbox = (variable: ConfigVariable): string => {
    const value = raw(variable);
    if (!/^([^<>\r\n]*<)?[^\s@<>]+@[^\s@<>]+(>)?$/.test(value) || /[\r\n]/.test(value)) {
      fail(variable, `must be an address such as "Orders <orders@example.com>" (got "${value}")`);
    }
    return value;
  };

  const encryptionKeys = (variable: ConfigVariable): string => {
    const value = raw(variable);
    if (value === '') return value;
    try {
      parseEncryptionKeys(value);
    } catch (err) {
      // Never echo the value: it is a secret.
      fail(variable, err instanceof Error ? err.message : String(err));
    }
    return value;
  };

  const signingKeys = (variable: ConfigVariable): string => {
    const value = raw(variable);
    if (value === '') return value;
    try {
      parseSigningKeys(value);
    } catch (err) {
      fail(variable, err instanceof Error ? err.message : String(err));
    }
    return value;
  };

  const oneOf = <T extends string>(variable: ConfigVariable, allowed: readonly T[]): T => {
    const value = raw(variable).toUpperCase();
    if (!allowed.includes(value as T)) fail(variable, `must be one of ${allowed.join(', ')} (got "${raw(variable)}")`);
    return value as T;
  };

  const dayList = (variable: ConfigVariable): number[] => {
    const value = raw(variable);
    const days = value.split(',').map((d) => d.trim());
    if (!days.every((d) => /^\d{1,4}$/.test(d) && Number(d) >= 1)) {
      fail(variable, `must be whole numbers of days of at least 1, comma-separated (got "${value}")`);
      return [];
    }
    return [...new Set(days.map(Number))].sort((a, b) => b - a);
  };

  const config: Config = {
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolMax: positiveInt('DATABASE_POOL_MAX'),
    temporal: {
      address: hostPort('TEMPORAL_ADDRESS'),
      namespace: name('TEMPORAL_NAMESPACE'),
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
    workflowBundlePath: raw('WORKFLOW_BUNDLE_PATH'),
    payloadEncryptionKeys: encryptionKeys('PAYLOAD_ENCRYPTION_KEYS'),
    licenseClock: {
      intervalMs: duration('LICENSE_CLOCK_INTERVAL'),
      failedToConnectAfterMs: duration('FAILED_TO_CONNECT_AFTER'),
      authorizationExpiresAfterMs: duration('AUTHORIZATION_EXPIRES_AFTER'),
      removedAfterMs: duration('INSTANCE_REMOVED_AFTER'),
      termAlertDays: dayList('TERM_ALERT_DAYS'),
    },
    licenseSigningKeys: signingKeys('LICENSE_SIGNING_KEYS'),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Hides a password in a URL before it is printed. */
export function redact(value: string): string {
  return value.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
