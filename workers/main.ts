/**
 * Worker process entry point: `npm run worker` (tsx) or `node dist/workers/main.js`.
 * Reads the configuration, connects to Temporal, Postgres and SMTP, and polls the order task
 * queue until SIGINT or SIGTERM, then drains and closes its connections.
 *
 * Observability: every line on stdout is one JSON object (pino, src/logging.ts), including the
 * SDK's own lines and the workflow and activity loggers; Prometheus metrics (the SDK's and
 * order_phase_entered) are served at http://WORKER_METRICS_LISTEN/metrics.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Connection } from '@temporalio/client';
import { type NativeConnection, Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';
import { loadConfig, redact, type Config } from '../src/config';
import { createDb } from '../src/db/knex';
import { createSmtpMailer } from '../src/email/mailer';
import { ensureLicenseClockSchedule } from '../src/licensing/clock-schedule';
import { createLogger } from '../src/logging';
import { PinoTemporalLogger } from '../src/observability/temporal-logger';
import { connectTemporal, describeTemporalSecurity } from '../src/temporal/connect';
import { connectWorkerTemporal } from '../src/temporal/worker-connection';
import { workerTelemetryOptions } from '../src/observability/telemetry';
import { startTracing, tracingClientInterceptors, type Tracing } from '../src/observability/tracing';
import { createOrderWorker, temporalPartsFrom } from './order-worker';

const SERVICE = 'worker';

/**
 * How long a stopping worker lets the activities it has started finish (a transaction and at
 * most one SMTP send each) before it cancels them; below the 10 s a container gets after SIGTERM.
 */
const SHUTDOWN_GRACE_TIME = '8s';

async function main(config: Config, logger: Logger): Promise<void> {
  // The Runtime also turns SIGINT/SIGTERM into worker.shutdown(): run() below then resolves
  // once the worker has drained, and the finally block closes the rest.
  try {
    Runtime.install({
      logger: new PinoTemporalLogger(logger),
      telemetryOptions: workerTelemetryOptions({ logLevel: config.logLevel, metricsListen: config.workerMetricsListen }),
    });
  } catch (err) {
    // Most often the metrics port is taken (another worker on this host): name the variable.
    throw new Error(`cannot start the Temporal runtime (WORKER_METRICS_LISTEN=${config.workerMetricsListen}): ${errorMessage(err)}`);
  }
  const db = createDb(config.databaseUrl, config.databasePoolMax, logger);
  const mailer = createSmtpMailer(config.smtpUrl);
  let connection: NativeConnection | undefined;
  let clientConnection: Connection | undefined;
  let tracing: Tracing | undefined;
  try {
    tracing = startTracing(config.tracing, 'license-fulfillment-worker');
    connection = await connectWorkerTemporal(config.temporal);
    clientConnection = await connectTemporal(config.temporal);
    const temporalParts = temporalPartsFrom(config, clientConnection, tracingClientInterceptors(tracing));
    // The license clock's Schedule (docs/LICENSE-USE.md, "What takes time"), idempotently; before
    // the worker exists, so a failure here is reported as itself, not as a connection still held.
    const clock = await ensureLicenseClockSchedule(temporalParts.temporal, {
      taskQueue: config.temporal.taskQueue,
      intervalMs: config.licenseClock.intervalMs,
    });
    logger.info({ schedule: clock, everyMs: config.licenseClock.intervalMs }, 'license clock schedule ready');
    const worker = await createOrderWorker({
      connection,
      ...temporalParts,
      db,
      mailer,
      config,
      shutdownGraceTime: SHUTDOWN_GRACE_TIME,
      tracing,
      ...(config.workflowBundlePath ? { workflowBundle: { codePath: prebuiltBundle(config.workflowBundlePath) } } : {}),
    });
    logger.info(
      {
        taskQueue: config.temporal.taskQueue,
        namespace: config.temporal.namespace,
        temporalAddress: config.temporal.address,
        temporalSecurity: describeTemporalSecurity(config.temporal),
        database: redact(config.databaseUrl),
        smtp: redact(config.smtpUrl),
        metrics: `http://${config.workerMetricsListen}/metrics`,
        maxCachedWorkflows: config.workerMaxCachedWorkflows,
        maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
        maxConcurrentActivities: config.workerMaxConcurrentActivities,
        workflowBundle: config.workflowBundlePath || 'bundled at start',
        traces: redact(config.tracing.tracesEndpoint) || 'off',
      },
      'worker polling',
    );
    await worker.run();
    logger.info({ taskQueue: config.temporal.taskQueue }, 'worker drained');
  } finally {
    await clientConnection?.close();
    await connection?.close();
    await db.destroy();
    mailer.close();
    // Last: the spans of the activities just drained are still in its buffer.
    await tracing?.shutdown();
  }
  logger.info('worker stopped');
}

function start(): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    // No LOG_LEVEL to trust yet: say why at the default level, still as one JSON line.
    createLogger(SERVICE, 'INFO').fatal(errorMessage(err));
    process.exit(1);
  }
  const logger = createLogger(SERVICE, config.logLevel);
  main(config, logger).catch((err) => {
    logger.fatal({ err }, `worker failed: ${errorMessage(err)}`);
    process.exit(1);
  });
}

/** The pre-built bundle's absolute path, or an error naming the variable when it is not there. */
function prebuiltBundle(path: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw new Error(
      `WORKFLOW_BUNDLE_PATH=${path}: no such file (npm run build writes dist/workflow-bundle.js; leave it empty to bundle at start)`,
    );
  }
  return absolute;
}

function errorMessage(err: unknown): string {
  return redact(err instanceof Error ? err.message : String(err));
}

start();
