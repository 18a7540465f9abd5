/** Every setting the product reads from the environment: its name, default and meaning. */

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
  ORDER_TRANSFER_CONCURRENCY: {
    default: '8',
    doc: 'Orders a batch transfer (POST /v1/order-transfers) sends their assignment Update to at once. Each may replay an evicted order on the worker: keep it at most WORKER_MAX_CONCURRENT_WORKFLOW_TASKS, and below WORKER_MAX_CACHED_WORKFLOWS.',
  },
  ORDER_TRANSFER_CHUNK_SIZE: {
    default: '250',
    doc: 'Orders one activity of a batch transfer works through before it reports back (its heartbeats carry it alive meanwhile).',
  },
  ORDER_TRANSFER_CHUNKS_PER_RUN: {
    default: '20',
    doc: 'Chunks a batch transfer workflow works through before it continues as new with its cursor, so its history stays short however many orders it moves.',
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
  PAYLOAD_COMPRESSION: {
    default: 'on',
    doc: 'on: payloads of 256 bytes or more are deflated before they are sealed (binary/encrypted-deflate). off: sealed only, as releases before it did; the first step of a rolling upgrade from one, until every process opens both.',
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
  USAGE_REPORT_RETENTION: {
    default: '400d',
    doc: 'How long a usage report is kept to answer a retried report ID the same way (R17); at least 365d, the validity of a device credential, so every retry a device can still send is answered from it.',
  },
  USAGE_REPORT_BATCH_SIZE: {
    default: '64',
    doc: 'Most usage reports the API applies in one Postgres transaction (group commit, docs/LICENSE-USE.md); reports arriving together share a batch, at most one per instance. 1: each report in its own transaction.',
  },
  TERM_ALERT_DAYS: {
    default: '90,60,30,14,7,3,1',
    doc: 'Days before a term ends on which a "licenses expiring" alert is raised (R22), comma-separated.',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    default: '',
    doc: 'OpenTelemetry collector base URL (OTLP over HTTP, e.g. http://127.0.0.1:4318): the API and the worker send their trace spans to <url>/v1/traces. Empty with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: no tracing.',
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {
    default: '',
    doc: 'Full OTLP/HTTP traces URL (e.g. http://127.0.0.1:4318/v1/traces); overrides OTEL_EXPORTER_OTLP_ENDPOINT for traces.',
  },
  OTEL_SERVICE_NAME: {
    default: '',
    doc: 'service.name of the spans a process sends; empty: license-fulfillment-api or license-fulfillment-worker.',
  },
  LICENSE_SIGNING_KEYS: {
    default: '',
    secret: true,
    doc: 'Ed25519 keys signing device credentials and usage answers (R16, R17): id:base64seed (32 bytes), comma-separated; the first signs, all verify (rotation). Required by the API for device routes; npm start and the tests generate one.',
  },
  DEVICE_SESSION_TTL: {
    default: '24h',
    doc: 'How long a device session lasts (docs/DEVICES.md "Sessions"): after it, the device proves its Ed25519 key again to open another; never past the credential.',
  },
  API_KEY_RATE_LIMIT: {
    default: '1200/1m',
    doc: 'Requests one API key may make to /v1 per window, per API process (N/duration, or off); beyond it 429 with Retry-After.',
  },
  DEVICE_RATE_LIMIT: {
    default: '30/1m',
    doc: 'Requests one device credential may make (usage reports, renewals), per API process (N/duration, or off); beyond it 429 with Retry-After.',
  },
  DEVICE_REGISTRATION_RATE_LIMIT: {
    default: '60/1m',
    doc: 'Device registrations (and signing-key reads) from one client IP, per API process (N/duration, or off).',
  },
  SIGN_IN_RATE_LIMIT: {
    default: '60/1m',
    doc: 'Requests from one client IP to the sign-in, sign-in link, user registration and verify pages, per API process (N/duration, or off).',
  },
  LINK_PAGE_RATE_LIMIT: {
    default: '30/1m',
    doc: 'Requests from one client IP to the delegation and activation link pages, per API process (N/duration, or off).',
  },
  API_MAX_IN_FLIGHT: {
    default: '32',
    doc: 'Requests one API process works on at once; one more is shed at once with 503 and Retry-After (0 turns it off). Health routes are never shed.',
  },
  API_MAX_EVENT_LOOP_DELAY: {
    default: '500ms',
    doc: 'Mean event-loop delay of the API process above which it sheds requests with 503 and Retry-After (0 turns it off).',
  },
  API_MAX_HEAP_USED_MB: {
    default: '1024',
    doc: 'V8 heap in use (MiB) above which the API process sheds requests with 503 and Retry-After (0 turns it off).',
  },
  API_SHED_RETRY_AFTER: {
    default: '2s',
    doc: 'Retry-After of a shed request (rounded up to whole seconds).',
  },
  API_DATABASE_STATEMENT_TIMEOUT: {
    default: '15s',
    doc: 'Longest one SQL statement of the API process may run or wait for a lock before Postgres cancels it; the request is answered 503 DatabaseBusy with Retry-After (off: no bound). Workers and migrations are not bounded.',
  },
  API_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: {
    default: '30s',
    doc: 'Longest a transaction of the API process may sit idle before Postgres ends its session, releasing its locks (off: no bound).',
  },
} as const;

export type ConfigVariable = keyof typeof CONFIG_VARIABLES;
