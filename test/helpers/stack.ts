import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { Client } from '@temporalio/client';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { loadConfig, type Config } from '../../src/config';
import { createDb, type Db } from '../../src/db/knex';
import { createSmtpMailer, type Mailer } from '../../src/email/mailer';
import { readCaughtMail, type CaughtMail } from '../../src/dev/mail-catcher';
import { connectTemporal, dataConverterFor } from '../../src/temporal/connect';
import { connectWorkerTemporal } from '../../src/temporal/worker-connection';
import { createOrderWorker } from '../../workers/order-worker';
import { withGenerousApiLimits } from './api-limits';

let runtimeInstalled = false;

export interface TestStack {
  config: Config;
  db: Db;
  mailer: Mailer;
  client: Client;
  worker: Worker;
  /** This file's own task queue, so parallel test files never take each other's tasks. */
  taskQueue: string;
  stop(): Promise<void>;
}

/**
 * Connects one test file to the stack global setup started, and runs a real worker (real
 * Postgres, real SMTP) on a task queue of its own.
 */
export async function startTestStack(testFile: string, overrides: Partial<Config> = {}, sameTaskQueue?: string): Promise<TestStack> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  // Every API a test builds from this config is unthrottled unless the test says otherwise.
  const config = { ...withGenerousApiLimits(loadConfig()), ...overrides };
  // `sameTaskQueue`: a worker restarted (new configuration) takes over the workflows of one stopped before.
  const taskQueue = sameTaskQueue ?? `test-${basename(testFile).replace(/\W+/g, '-')}-${randomBytes(3).toString('hex')}`;
  const db = createDb(config.databaseUrl, 5);
  const mailer = createSmtpMailer(config.smtpUrl);
  const nativeConnection = await connectWorkerTemporal(config.temporal);
  const connection = await connectTemporal(config.temporal);
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterFor(config) });
  const worker = await createOrderWorker({
    connection: nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue,
    db,
    mailer,
    temporal: client,
    config,
    workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
  });
  const running = worker.run();
  return {
    config,
    db,
    mailer,
    client,
    worker,
    taskQueue,
    async stop() {
      // A test may have stopped this worker already (a worker killed mid-workflow).
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await db.destroy();
      mailer.close();
    },
  };
}

/**
 * The stack of a test file: started (with `overrides`) before the file's tests, stopped after them.
 * The object returned is filled in by the file's beforeAll, so use it only inside tests and hooks.
 */
export function useTestStack(testFile: string, overrides: Partial<Config> = {}): TestStack {
  const stack = {} as TestStack;
  beforeAll(async () => {
    Object.assign(stack, await startTestStack(testFile, overrides));
  });
  afterAll(async () => {
    await stack.stop?.();
  });
  return stack;
}

/** A short unique suffix for IDs, domains and references, so test files share one database safely. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** Every message the SMTP catcher has received so far, oldest first. */
export function caughtMail(): CaughtMail[] {
  for (let attempt = 1; ; attempt++) {
    try {
      return readCaughtMail(process.env.TEST_MAIL_DIR!);
    } catch (err) {
      // The catcher writes each .json summary in place: one caught half-written does not parse yet.
      if (!(err instanceof SyntaxError) || attempt >= 5) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** Matches the mail of an order (the x-order-id header), and of one template if given. */
export function mailOf(orderId: string, template?: string): (mail: CaughtMail) => boolean {
  return (m) => m.headers['x-order-id'] === orderId && (template === undefined || m.headers['x-email-template'] === template);
}

/** Every message received so far that matches, without waiting. */
export function receivedNow(match: (mail: CaughtMail) => boolean): CaughtMail[] {
  return caughtMail().filter(match);
}

/** Waits until the SMTP server has received `count` messages matching `match`, and returns them. */
export async function waitForMail(match: (mail: CaughtMail) => boolean, count = 1, timeoutMs = 20_000): Promise<CaughtMail[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = receivedNow(match);
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function mailFor(address: string, mail = caughtMail()): CaughtMail[] {
  return mail.filter((m) => m.to.includes(address.toLowerCase()));
}

/** A real order worker of its own on `taskQueue` (the stack's Postgres, SMTP and config), for a test that stops and restarts it. */
export async function startOrderWorkerOn(stack: TestStack, taskQueue: string): Promise<{ worker: Worker; stop: () => Promise<void> }> {
  const connection = await connectWorkerTemporal(stack.config.temporal);
  const worker = await createOrderWorker({
    connection,
    namespace: stack.config.temporal.namespace,
    taskQueue,
    db: stack.db,
    mailer: stack.mailer,
    temporal: stack.client,
    config: stack.config,
    workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
