import { Writable } from 'node:stream';
import { createLogger } from '../../src/logging';
import type { LogLevel } from '../../src/config';
import { PinoTemporalLogger, logFields, redactText } from '../../src/observability/temporal-logger';
import { coreLogFilter, workerTelemetryOptions } from '../../src/observability/telemetry';

/** A worker logger writing into an array of parsed JSON lines. */
function capture(level: LogLevel) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: new PinoTemporalLogger(createLogger('worker', level, destination)) };
}

const LOG_TIMESTAMP = Symbol.for('log_timestamp');

describe('PinoTemporalLogger (the SDK Logger on pino)', () => {
  test('an activity line keeps its context, names the run and the order, and drops the task token', () => {
    const { lines, logger } = capture('INFO');
    logger.info('order entered phase', {
      [LOG_TIMESTAMP]: 1n,
      sdkComponent: 'activity',
      isLocal: false,
      attempt: 2,
      namespace: 'default',
      taskToken: 'CiQ4YjM…secret',
      activityId: '7',
      activityType: 'placeLines',
      taskQueue: 'order-fulfillment',
      workflowId: 'order-7c1f89bb54c95760d7d4',
      workflowRunId: 'b0b8c1a6-run',
      workflowType: 'orderFulfillment',
      phase: 'AwaitingShipment',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({
      level: 'info',
      time: expect.any(String),
      service: 'worker',
      msg: 'order entered phase',
      sdkComponent: 'activity',
      isLocal: false,
      attempt: 2,
      namespace: 'default',
      activityId: '7',
      activityType: 'placeLines',
      taskQueue: 'order-fulfillment',
      workflowId: 'order-7c1f89bb54c95760d7d4',
      runId: 'b0b8c1a6-run',
      workflowType: 'orderFulfillment',
      orderId: '7c1f89bb54c95760d7d4',
      phase: 'AwaitingShipment',
    });
  });

  test('a workflow line of an activation workflow names its Smart Account', () => {
    expect(logFields({ workflowId: 'smart-account-sa-acme', runId: 'r1', taskQueue: 'q' })).toEqual({
      workflowId: 'smart-account-sa-acme',
      runId: 'r1',
      taskQueue: 'q',
      accountId: 'sa-acme',
    });
  });

  test("Core's snake_case fields get the names workflow and activity lines use", () => {
    expect(
      logFields({ sdkComponent: 'core', target: 'temporalio_sdk_core::worker', task_queue: 'q', workflow_id: 'order-abc', run_id: 'r' }),
    ).toEqual({
      sdkComponent: 'core',
      target: 'temporalio_sdk_core::worker',
      taskQueue: 'q',
      workflowId: 'order-abc',
      runId: 'r',
      orderId: 'abc',
    });
  });

  test('an explicit orderId is kept; fields pino writes itself are renamed, not duplicated', () => {
    expect(logFields({ workflowId: 'order-abc', orderId: 'other', level: 'x', msg: 'y', time: 1, service: 'z' })).toEqual({
      workflowId: 'order-abc',
      orderId: 'other',
      sdk_level: 'x',
      sdk_msg: 'y',
      sdk_time: 1,
      sdk_service: 'z',
    });
  });

  test('an error is serialized with its message and stack', () => {
    const { lines, logger } = capture('INFO');
    logger.warn('Activity failed', { error: new Error('connection refused'), durationMs: 12 });
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'Activity failed',
      durationMs: 12,
      err: { message: 'connection refused', stack: expect.any(String) },
    });
  });

  test('LOG_LEVEL filters: below it nothing is written', () => {
    const { lines, logger } = capture('WARN');
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    logger.log('WARN', 'w');
    logger.error('e');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  test('passwords in URLs and link tokens are redacted in messages and string fields', () => {
    const { lines, logger } = capture('INFO');
    logger.error('cannot connect to postgres://app:s3cret@db:5432/x or smtps://mailer:p%40ss@smtp:465', {
      url: 'https://portal.test/delegations/tok123?x=1',
    });
    expect(lines[0].msg).toBe('cannot connect to postgres://app:***@db:5432/x or smtps://mailer:***@smtp:465');
    expect(lines[0].url).toBe('https://portal.test/delegations/[token]?x=1');
    expect(JSON.stringify(lines[0])).not.toMatch(/s3cret|p%40ss|tok123/);
  });

  test('redaction does not swallow text between a host:port and a later email address', () => {
    expect(redactText('polling 127.0.0.1:7233 http://temporal:7233 for orders@partner.test')).toBe(
      'polling 127.0.0.1:7233 http://temporal:7233 for orders@partner.test',
    );
  });
});

describe('worker telemetry options', () => {
  test('Core logs at LOG_LEVEL, its libraries never below WARN', () => {
    expect(coreLogFilter('TRACE')).toEqual({ core: 'TRACE', other: 'WARN' });
    expect(coreLogFilter('INFO')).toEqual({ core: 'INFO', other: 'WARN' });
    expect(coreLogFilter('WARN')).toEqual({ core: 'WARN', other: 'WARN' });
    expect(coreLogFilter('ERROR')).toEqual({ core: 'ERROR', other: 'ERROR' });
  });

  test('Core logs are forwarded to the Runtime logger and metrics served by Prometheus on WORKER_METRICS_LISTEN', () => {
    const options = workerTelemetryOptions({ logLevel: 'INFO', metricsListen: '0.0.0.0:9464' });
    expect(options.metrics).toEqual({ prometheus: { bindAddress: '0.0.0.0:9464' } });
    expect(options.logging).toMatchObject({ forward: {}, filter: expect.stringContaining('temporalio_sdk_core=INFO') });
    expect(options.logging?.filter).toMatch(/^WARN,/);
  });
});
