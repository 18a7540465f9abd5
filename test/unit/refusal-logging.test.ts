/**
 * Refusals are information, stack traces are for bugs: a business refusal (a non-retryable
 * ApplicationFailure with a type) is one INFO line with its type and reason, in the worker (the
 * SDK's "Activity failed" WARN) and in the API's error handler; a real fault keeps its WARN/ERROR
 * and stack.
 */
import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import Fastify from 'fastify';
import { PlacementRefusal } from '../../src/accounts/placement-rules';
import { handleError } from '../../src/api/errors';
import type { LogLevel } from '../../src/config';
import { createLogger } from '../../src/logging';
import { PinoTemporalLogger } from '../../src/observability/temporal-logger';
import { refuse } from '../../activities/shared/errors';

function capture(level: LogLevel) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, pino: createLogger('worker', level, destination) };
}

const activityMeta = { activityType: 'placeLines', workflowId: 'order-7c1f89bb54c95760d7d4', attempt: 1, durationMs: 12 };

describe('the worker (the SDK logger on pino)', () => {
  test("a refused activity is one INFO line with its type and reason, without a stack, and hidden at npm start's WARN", () => {
    const info = capture('INFO');
    const refusal = refuse('AccountNotActive', 'account sa-initech is pending activation');
    new PinoTemporalLogger(info.pino).warn('Activity failed', { ...activityMeta, error: refusal });
    expect(info.lines).toHaveLength(1);
    expect(info.lines[0]).toMatchObject({
      level: 'info',
      msg: 'Activity refused',
      activityType: 'placeLines',
      orderId: '7c1f89bb54c95760d7d4',
      refusal: { type: 'AccountNotActive', message: 'account sa-initech is pending activation' },
    });
    expect(JSON.stringify(info.lines[0])).not.toMatch(/stack|"err"| {4}at /);

    const warn = capture('WARN');
    new PinoTemporalLogger(warn.pino).warn('Activity failed', { ...activityMeta, error: refusal });
    expect(warn.lines).toEqual([]);
  });

  test('a fault (a plain error, or a retryable failure) stays a WARN with its stack', () => {
    for (const error of [new Error('connection refused'), ApplicationFailure.retryable('SMTP 421', 'SmtpBusy')]) {
      const { lines, pino } = capture('WARN');
      new PinoTemporalLogger(pino).warn('Activity failed', { ...activityMeta, error });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'warn', msg: 'Activity failed', err: { message: error.message } });
      expect((lines[0].err as { stack?: string }).stack).toContain('refusal-logging.test.ts');
    }
  });
});

describe("the API's error handler", () => {
  test('a refusal answers 422 and logs one INFO line with the reason, no stack; a bug is an ERROR with its stack', async () => {
    const { lines, pino } = capture('INFO');
    const app = Fastify({ loggerInstance: pino, disableRequestLogging: true });
    app.setErrorHandler(handleError);
    try {
      app.get('/refused', async () => {
        throw new PlacementRefusal('AccountNotActive', 'account sa-initech is pending activation');
      });
      app.get('/bug', async () => {
        throw new TypeError('cannot read properties of undefined');
      });
      // Over a real socket: light-my-request's inject does not load under jest.
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      lines.length = 0; // the "Server listening" line
      expect((await fetch(`${base}/refused`)).status).toBe(422);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'info',
        msg: 'request refused',
        refusal: { type: 'AccountNotActive', message: 'account sa-initech is pending activation' },
      });
      expect(JSON.stringify(lines[0])).not.toMatch(/stack/);
      expect((await fetch(`${base}/bug`)).status).toBe(500);
      expect(lines[1]).toMatchObject({ level: 'error', msg: 'request failed' });
      expect(JSON.stringify(lines[1])).toMatch(/stack/);
    } finally {
      await app.close();
    }
  });
});
