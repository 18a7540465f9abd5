import { parseSigningKeys } from '../../src/licensing/signing';
import { CONFIG_VARIABLES, ConfigError, type ConfigVariable, loadConfig, parseDuration, redact } from '../../src/config';

const DAY = 86_400_000;

/** Runs loadConfig and returns the ConfigError it throws (fails the test if it does not throw one). */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** Asserts that `env` is rejected with exactly one problem, on `variable`, whose reason matches. */
function expectRejected(env: Record<string, string>, variable: ConfigVariable, reason: RegExp): ConfigError {
  const error = configError(env);
  expect(error.problems).toHaveLength(1);
  expect(error.problems[0].variable).toBe(variable);
  expect(error.problems[0].reason).toMatch(reason);
  // The message names the variable and carries the reason.
  expect(error.message).toContain(`${variable}: ${error.problems[0].reason}`);
  return error;
}

const DEFAULT_LICENSE_CLOCK = {
  intervalMs: 60_000,
  failedToConnectAfterMs: 30 * DAY,
  authorizationExpiresAfterMs: 90 * DAY,
  removedAfterMs: 365 * DAY,
  usageReportRetentionMs: 400 * DAY,
  termAlertDays: [90, 60, 30, 14, 7, 3, 1],
};

describe('loadConfig', () => {
  test('loads the defaults from an empty environment', () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/license_fulfillment',
      databasePoolMax: 10,
      temporal: {
        address: '127.0.0.1:7233',
        namespace: 'default',
        taskQueue: 'order-fulfillment',
        uiUrl: 'http://localhost:8233',
      },
      smtpUrl: 'smtp://127.0.0.1:1025',
      devSmtpListen: '127.0.0.1:1025',
      mailFrom: 'Smart Licensing Orders <orders@license-fulfillment.localhost>',
      publicBaseUrl: 'http://localhost:3000',
      reminderIntervalMs: 3 * DAY,
      reminderJitterMs: 6 * 3_600_000,
      escalationAfterMs: 30 * DAY,
      delegationTokenTtlMs: 14 * DAY,
      signInLinkTtlMs: 15 * 60_000,
      webSessionTtlMs: 12 * 3_600_000,
      historyEventLimit: 2000,
      operationsEmail: 'operations@license-fulfillment.localhost',
      logLevel: 'INFO',
      apiListen: '127.0.0.1:3000',
      workerMetricsListen: '127.0.0.1:9464',
      workerMaxCachedWorkflows: 50,
      workerMaxConcurrentWorkflowTasks: 8,
      workerMaxConcurrentActivities: 20,
      orderTransfer: { concurrency: 8, chunkSize: 250, chunksPerRun: 20 },
      workflowBundlePath: '',
      payloadEncryptionKeys: '',
      payloadCompression: true,
      licenseClock: DEFAULT_LICENSE_CLOCK,
      tracing: { tracesEndpoint: '', serviceName: '' },
      licenseSigningKeys: '',
      usageReportBatchSize: 64,
      deviceSessionTtlMs: 24 * 3_600_000,
      rateLimits: {
        perApiKey: { max: 1200, timeWindowMs: 60_000 },
        perDeviceCredential: { max: 30, timeWindowMs: 60_000 },
        deviceRegistrationPerIp: { max: 60, timeWindowMs: 60_000 },
        signInPerIp: { max: 60, timeWindowMs: 60_000 },
        linkPagesPerIp: { max: 30, timeWindowMs: 60_000 },
      },
      loadShedding: { maxInFlight: 32, maxEventLoopDelayMs: 500, maxHeapUsedBytes: 1024 * 1024 * 1024, retryAfterS: 2 },
      apiDatabaseTimeouts: { statementTimeoutMs: 15_000, idleInTransactionTimeoutMs: 30_000 },
    });
  });

  test("the API's Postgres session timeouts are durations, or off (0: the server's own setting)", () => {
    const config = loadConfig({ API_DATABASE_STATEMENT_TIMEOUT: '500ms', API_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: 'OFF' });
    expect(config.apiDatabaseTimeouts).toEqual({ statementTimeoutMs: 500, idleInTransactionTimeoutMs: 0 });
    expect(loadConfig({ API_DATABASE_STATEMENT_TIMEOUT: '0' }).apiDatabaseTimeouts.statementTimeoutMs).toBe(0);
    for (const value of ['15', '1.5s', 'never', '-1s']) {
      expect(() => loadConfig({ API_DATABASE_STATEMENT_TIMEOUT: value })).toThrow(
        /API_DATABASE_STATEMENT_TIMEOUT: must be a positive duration such as 500ms, 15s or 1m, or off/,
      );
    }
    expect(() => loadConfig({ API_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: '30 s' })).toThrow(
      /API_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: must be/,
    );
  });

  test('rate limits are requests per window, or off; load shedding bounds are 0 (off) or more', () => {
    const config = loadConfig({
      API_KEY_RATE_LIMIT: '10 / 1s',
      DEVICE_RATE_LIMIT: 'off',
      API_MAX_IN_FLIGHT: '0',
      API_SHED_RETRY_AFTER: '1500ms',
    });
    expect(config.rateLimits.perApiKey).toEqual({ max: 10, timeWindowMs: 1000 });
    expect(config.rateLimits.perDeviceCredential).toBeUndefined();
    expect(config.loadShedding).toMatchObject({ maxInFlight: 0, retryAfterS: 2 });
    expect(() => loadConfig({ SIGN_IN_RATE_LIMIT: '60' })).toThrow(/SIGN_IN_RATE_LIMIT: must be requests per window such as 120\/1m/);
    expect(() => loadConfig({ API_KEY_RATE_LIMIT: '0/1m' })).toThrow(/API_KEY_RATE_LIMIT: must be requests per window/);
    expect(() => loadConfig({ API_MAX_IN_FLIGHT: '-1' })).toThrow(/API_MAX_IN_FLIGHT: must be 0 or a whole number/);
  });

  test('DEVICE_SESSION_TTL is a positive duration', () => {
    expect(loadConfig({ DEVICE_SESSION_TTL: '90s' }).deviceSessionTtlMs).toBe(90_000);
    expect(() => loadConfig({ DEVICE_SESSION_TTL: '0' })).toThrow(/DEVICE_SESSION_TTL: must be a positive duration/);
  });

  test('every documented default is valid and documented', () => {
    const env = Object.fromEntries(Object.entries(CONFIG_VARIABLES).map(([name, v]) => [name, v.default]));
    expect(loadConfig(env)).toEqual(loadConfig({}));
    for (const variable of Object.values(CONFIG_VARIABLES)) expect(variable.doc.trim()).not.toBe('');
  });

  test('empty and blank values fall back to the default', () => {
    expect(loadConfig({ DATABASE_POOL_MAX: '', TEMPORAL_NAMESPACE: '   ', REMINDER_INTERVAL: undefined })).toEqual(loadConfig({}));
  });

  test('reads process.env when no environment is given', () => {
    const saved = process.env.TEMPORAL_TASK_QUEUE;
    process.env.TEMPORAL_TASK_QUEUE = 'from-process-env';
    try {
      expect(loadConfig().temporal.taskQueue).toBe('from-process-env');
    } finally {
      if (saved === undefined) delete process.env.TEMPORAL_TASK_QUEUE;
      else process.env.TEMPORAL_TASK_QUEUE = saved;
    }
  });

  test('accepts and normalizes valid overrides', () => {
    const config = loadConfig({
      DATABASE_URL: '  postgresql://app:secret@db.internal:6432/orders  ',
      DATABASE_POOL_MAX: '25',
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'orders.prod',
      TEMPORAL_TASK_QUEUE: 'order_fulfillment-2',
      TEMPORAL_UI_URL: 'https://temporal.example.com/ui/',
      SMTP_URL: 'smtps://user:pass@mail.example.com:465',
      MAIL_FROM: 'orders@example.com',
      PUBLIC_BASE_URL: 'https://licenses.example.com//',
      REMINDER_INTERVAL: '500ms',
      REMINDER_JITTER: '0',
      ESCALATION_AFTER: '12h',
      DELEGATION_TOKEN_TTL: '15m',
      LOG_LEVEL: 'warn',
      PAYLOAD_COMPRESSION: 'off',
      API_LISTEN: '0.0.0.0:8080',
      WORKER_METRICS_LISTEN: '[::]:9464',
      WORKER_MAX_CACHED_WORKFLOWS: '40',
      WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '4',
      WORKER_MAX_CONCURRENT_ACTIVITIES: '30',
      ORDER_TRANSFER_CONCURRENCY: '4',
      ORDER_TRANSFER_CHUNK_SIZE: '100',
      ORDER_TRANSFER_CHUNKS_PER_RUN: '10',
      WORKFLOW_BUNDLE_PATH: ' dist/workflow-bundle.js ',
      UNRELATED_VARIABLE: 'ignored',
    });
    expect(config).toEqual({
      databaseUrl: 'postgresql://app:secret@db.internal:6432/orders',
      databasePoolMax: 25,
      temporal: {
        address: 'temporal:7233',
        namespace: 'orders.prod',
        taskQueue: 'order_fulfillment-2',
        uiUrl: 'https://temporal.example.com/ui',
      },
      smtpUrl: 'smtps://user:pass@mail.example.com:465',
      devSmtpListen: '127.0.0.1:1025',
      mailFrom: 'orders@example.com',
      publicBaseUrl: 'https://licenses.example.com',
      reminderIntervalMs: 500,
      reminderJitterMs: 0,
      escalationAfterMs: 12 * 3_600_000,
      delegationTokenTtlMs: 15 * 60_000,
      signInLinkTtlMs: 15 * 60_000,
      webSessionTtlMs: 12 * 3_600_000,
      historyEventLimit: 2000,
      operationsEmail: 'operations@license-fulfillment.localhost',
      logLevel: 'WARN',
      apiListen: '0.0.0.0:8080',
      workerMetricsListen: '[::]:9464',
      workerMaxCachedWorkflows: 40,
      workerMaxConcurrentWorkflowTasks: 4,
      workerMaxConcurrentActivities: 30,
      orderTransfer: { concurrency: 4, chunkSize: 100, chunksPerRun: 10 },
      workflowBundlePath: 'dist/workflow-bundle.js',
      payloadEncryptionKeys: '',
      payloadCompression: false,
      licenseClock: DEFAULT_LICENSE_CLOCK,
      tracing: { tracesEndpoint: '', serviceName: '' },
      licenseSigningKeys: '',
      usageReportBatchSize: 64,
      deviceSessionTtlMs: 24 * 3_600_000,
      rateLimits: loadConfig({}).rateLimits,
      loadShedding: loadConfig({}).loadShedding,
      apiDatabaseTimeouts: loadConfig({}).apiDatabaseTimeouts,
    });
  });

  test('accepts an IPv6 Temporal address', () => {
    expect(loadConfig({ TEMPORAL_ADDRESS: '[::1]:7233' }).temporal.address).toBe('[::1]:7233');
  });

  describe('rejects', () => {
    test('a value that is not a URL', () => {
      expectRejected({ DATABASE_URL: 'not a url' }, 'DATABASE_URL', /must be a URL \(got "not a url"\)/);
      expectRejected({ PUBLIC_BASE_URL: 'licenses.example.com' }, 'PUBLIC_BASE_URL', /must be a URL/);
    });

    test('a URL with the wrong protocol', () => {
      expectRejected(
        { DATABASE_URL: 'mysql://root@db:3306/orders' },
        'DATABASE_URL',
        /must use postgres:\/\/ or postgresql:\/\/ \(got "mysql:\/\/"\)/,
      );
      expectRejected({ SMTP_URL: 'http://mailpit:1025' }, 'SMTP_URL', /must use smtp:\/\/ or smtps:\/\//);
      expectRejected({ TEMPORAL_UI_URL: 'ftp://localhost:8233' }, 'TEMPORAL_UI_URL', /must use http:\/\/ or https:\/\//);
      expectRejected({ PUBLIC_BASE_URL: 'postgres://localhost' }, 'PUBLIC_BASE_URL', /must use http:\/\/ or https:\/\//);
    });

    test.each(['3 days', '0s', '-1d', '1.5h', 'off'])('the reminder jitter "%s" (only 0 turns it off)', (value) => {
      expectRejected({ REMINDER_JITTER: value }, 'REMINDER_JITTER', /must be 0 or a positive duration/);
    });

    test.each(['0', '-5', '2.5', 'many'])('the workflow cache size "%s"', (value) => {
      expectRejected({ WORKER_MAX_CACHED_WORKFLOWS: value }, 'WORKER_MAX_CACHED_WORKFLOWS', /must be a whole number of at least 1/);
    });

    test.each(['WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', 'WORKER_MAX_CONCURRENT_ACTIVITIES'] as const)('a concurrency of 0 (%s)', (name) => {
      expectRejected({ [name]: '0' }, name, /must be a whole number of at least 1/);
    });

    test.each(['3 days', '0s', '0ms', '-1d', '1.5h', '3w', '3D', 'd', '30'])('the duration "%s"', (value) => {
      expectRejected({ REMINDER_INTERVAL: value }, 'REMINDER_INTERVAL', /must be a positive duration such as 500ms, 30s, 15m, 12h or 3d/);
      expectRejected({ ESCALATION_AFTER: value }, 'ESCALATION_AFTER', /must be a positive duration/);
      expectRejected({ DELEGATION_TOKEN_TTL: value }, 'DELEGATION_TOKEN_TTL', /must be a positive duration/);
    });

    test.each(['verbose', 'WARNING', '1'])('the log level "%s"', (value) => {
      expectRejected({ LOG_LEVEL: value }, 'LOG_LEVEL', /must be one of TRACE, DEBUG, INFO, WARN, ERROR/);
    });

    test.each(['yes', 'true', '1'])('the payload compression "%s"', (value) => {
      expectRejected({ PAYLOAD_COMPRESSION: value }, 'PAYLOAD_COMPRESSION', /must be one of ON, OFF/);
    });

    test('the duration in the message as given', () => {
      expectRejected({ REMINDER_INTERVAL: '3 days' }, 'REMINDER_INTERVAL', /\(got "3 days"\)/);
    });

    test.each(['0', '-1', '2.5', 'ten', '1e3'])('DATABASE_POOL_MAX=%s', (value) => {
      expectRejected({ DATABASE_POOL_MAX: value }, 'DATABASE_POOL_MAX', /must be a whole number of at least 1/);
    });

    test('a Temporal address without a port', () => {
      expectRejected({ TEMPORAL_ADDRESS: 'temporal' }, 'TEMPORAL_ADDRESS', /must be host:port \(got "temporal"\)/);
      expectRejected({ TEMPORAL_ADDRESS: '127.0.0.1:' }, 'TEMPORAL_ADDRESS', /must be host:port/);
      expectRejected({ TEMPORAL_ADDRESS: 'http://temporal:7233' }, 'TEMPORAL_ADDRESS', /must be host:port/);
    });

    test('namespace and task queue names with invalid characters', () => {
      expectRejected({ TEMPORAL_NAMESPACE: 'my namespace' }, 'TEMPORAL_NAMESPACE', /must be letters, digits/);
      expectRejected({ TEMPORAL_TASK_QUEUE: '-queue' }, 'TEMPORAL_TASK_QUEUE', /must be letters, digits/);
    });

    test('a From address with a newline (header injection)', () => {
      expectRejected(
        { MAIL_FROM: 'Orders <orders@example.com>\nBcc: victim@example.com' },
        'MAIL_FROM',
        /must be an address such as "Orders <orders@example.com>"/,
      );
      expectRejected({ MAIL_FROM: 'Orders\r\n<orders@example.com>' }, 'MAIL_FROM', /must be an address/);
    });

    test('a From value that is not an address', () => {
      expectRejected({ MAIL_FROM: 'Smart Licensing Orders' }, 'MAIL_FROM', /must be an address/);
      expectRejected({ MAIL_FROM: 'orders @example.com' }, 'MAIL_FROM', /must be an address/);
    });
  });

  test('reports every problem together, in one ConfigError', () => {
    const error = configError({
      DATABASE_URL: 'mysql://db/orders',
      DATABASE_POOL_MAX: '0',
      TEMPORAL_ADDRESS: 'temporal',
      SMTP_URL: 'not a url',
      MAIL_FROM: 'a@b.c\nBcc: x@y.z',
      REMINDER_INTERVAL: '3 days',
      DELEGATION_TOKEN_TTL: '0s',
    });
    expect(error.name).toBe('ConfigError');
    expect(error).toBeInstanceOf(Error);
    expect(error.problems.map((p) => p.variable)).toEqual([
      'DATABASE_URL',
      'DATABASE_POOL_MAX',
      'TEMPORAL_ADDRESS',
      'SMTP_URL',
      'MAIL_FROM',
      'REMINDER_INTERVAL',
      'DELEGATION_TOKEN_TTL',
    ]);
    expect(error.message.startsWith('Invalid configuration:\n')).toBe(true);
    for (const { variable, reason } of error.problems) {
      expect(reason).not.toBe('');
      expect(error.message).toContain(`  ${variable}: ${reason}`);
    }
  });

  test('does not print the password of a URL it rejects', () => {
    const error = expectRejected({ DATABASE_URL: 'postgres//app:s3cret@db:5432/orders' }, 'DATABASE_URL', /must be a URL/);
    expect(error.message).not.toContain('s3cret');
    expect(error.message).toContain('app:***@db');
  });
});

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['1ms', 1],
    ['30s', 30_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['3d', 3 * DAY],
    ['  3d  ', 3 * DAY],
    ['007s', 7_000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', '3', 'd', '3 days', '3 d', '0s', '0ms', '-1s', '+1s', '1.5h', '3w', '3D', '1h30m', '999999999999999999d'])(
    '%j is malformed',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe('redact', () => {
  test.each([
    ['postgres://app:s3cret@db:5432/orders', 'postgres://app:***@db:5432/orders'],
    ['smtps://mailer:p%40ss@mail.example.com:465', 'smtps://mailer:***@mail.example.com:465'],
    ['postgres//app:s3cret@db', 'postgres//app:***@db'],
  ])('hides the password in %s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  test.each(['postgres://postgres@127.0.0.1:5432/license_fulfillment', 'smtp://127.0.0.1:1025', 'not a url', '3d'])(
    'leaves %s unchanged',
    (input) => {
      expect(redact(input)).toBe(input);
    },
  );
});

describe('license clock settings', () => {
  test('term alert days are read as a set, largest first', () => {
    expect(loadConfig({ TERM_ALERT_DAYS: '1, 7,30,7' }).licenseClock.termAlertDays).toEqual([30, 7, 1]);
  });

  test('a bad day list or duration names the variable', () => {
    expect(() => loadConfig({ TERM_ALERT_DAYS: '30,-1' })).toThrow(/TERM_ALERT_DAYS: must be whole numbers of days/);
    expect(() => loadConfig({ LICENSE_CLOCK_INTERVAL: 'soon' })).toThrow(/LICENSE_CLOCK_INTERVAL: must be a positive duration/);
  });

  test('usage reports are kept at least as long as a credential is valid, so every retry finds its answer', () => {
    expect(loadConfig({ USAGE_REPORT_RETENTION: '365d' }).licenseClock.usageReportRetentionMs).toBe(365 * DAY);
    expect(() => loadConfig({ USAGE_REPORT_RETENTION: '364d' })).toThrow(
      /USAGE_REPORT_RETENTION: must be at least 365d, the validity of a device credential.*\(got "364d"\)/,
    );
    expect(() => loadConfig({ USAGE_REPORT_RETENTION: 'forever' })).toThrow(/USAGE_REPORT_RETENTION: must be a positive duration/);
  });

  test('usage reports share a transaction up to USAGE_REPORT_BATCH_SIZE; 1 turns the group commit off', () => {
    expect(loadConfig({}).usageReportBatchSize).toBe(64);
    expect(loadConfig({ USAGE_REPORT_BATCH_SIZE: '1' }).usageReportBatchSize).toBe(1);
    expect(() => loadConfig({ USAGE_REPORT_BATCH_SIZE: '0' })).toThrow(/USAGE_REPORT_BATCH_SIZE: must be a whole number of at least 1/);
  });
});

describe('OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME', () => {
  test('tracing is off unless a collector is named', () => {
    expect(loadConfig({}).tracing).toEqual({ tracesEndpoint: '', serviceName: '' });
  });

  test('the base URL gets /v1/traces, a traces URL is taken as it is and wins', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing.tracesEndpoint).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example.com/otlp/v1/traces',
        OTEL_SERVICE_NAME: 'orders-eu',
      }).tracing,
    ).toEqual({ tracesEndpoint: 'https://tempo.example.com/otlp/v1/traces', serviceName: 'orders-eu' });
  });

  test('a URL that is not http(s) is refused, naming the variable', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT: must use http:\/\/ or https:\/\//,
    );
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' })).toThrow(
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be a URL/,
    );
  });
});

describe('LICENSE_SIGNING_KEYS', () => {
  const seed = (byte: number) => Buffer.alloc(32, byte).toString('base64');

  test('id:base64seed pairs are accepted, the first signs and every key verifies', () => {
    const keys = `s2:${seed(2)},s1:${seed(1)}`;
    expect(loadConfig({ LICENSE_SIGNING_KEYS: keys }).licenseSigningKeys).toBe(keys);
    const parsed = parseSigningKeys(keys);
    expect(parsed.current.id).toBe('s2');
    expect([...parsed.verifiers.keys()]).toEqual(['s2', 's1']);
    expect(parsed.published.keys.map((k) => [k.keyId, k.current, k.publicKey.length])).toEqual([
      ['s2', true, 43],
      ['s1', false, 43],
    ]);
  });

  test.each([
    ['a short seed', `s1:${Buffer.alloc(16).toString('base64')}`, 'must be a 32-byte Ed25519 seed'],
    ['no id', seed(1), 'each key must be written id:base64seed'],
    ['a repeated id', `s1:${seed(1)},s1:${seed(2)}`, 'key IDs must be unique'],
  ])('%s is refused, naming the variable and never echoing the value', (_name, value, message) => {
    expect(() => loadConfig({ LICENSE_SIGNING_KEYS: value })).toThrow(message);
    try {
      loadConfig({ LICENSE_SIGNING_KEYS: value });
    } catch (err) {
      expect((err as Error).message).toContain('LICENSE_SIGNING_KEYS');
      expect((err as Error).message).not.toContain(seed(1));
    }
  });
});
