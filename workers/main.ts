/**
 * Worker process entry point: `npm run worker` (tsx) or `node dist/workers/main.js`.
 * Reads the configuration, connects to Temporal, Postgres and SMTP, and polls the order task
 * queue until SIGINT or SIGTERM, then drains and closes its connections.
 */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig, redact } from '../src/config';
import { createDb } from '../src/db/knex';
import { createSmtpMailer } from '../src/email/mailer';
import { createOrderWorker } from './order-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger(config.logLevel) });
  const db = createDb(config.databaseUrl, config.databasePoolMax);
  const mailer = createSmtpMailer(config.smtpUrl);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const clientConnection = await Connection.connect({ address: config.temporal.address });
  try {
    const worker = await createOrderWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      db,
      mailer,
      temporal: new Client({ connection: clientConnection, namespace: config.temporal.namespace }),
      config,
    });
    console.log(
      `worker: polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address} ` +
        `(namespace ${config.temporal.namespace}); Postgres ${redact(config.databaseUrl)}; SMTP ${redact(config.smtpUrl)}`,
    );
    await worker.run();
  } finally {
    await clientConnection.close();
    await connection.close();
    await db.destroy();
    mailer.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
