/**
 * API process entry point: `npm run api` or `node --no-allocation-site-pretenuring dist/workers/api.js` (src/api/node-flags.ts).
 * Serves the HTTP API, the OpenAPI document (/openapi.json, /docs), the customer pages behind the
 * email links, and /healthz and /readyz, on API_LISTEN. Stops on SIGINT or SIGTERM after the
 * requests in flight are answered.
 */
import { createActivationLinkResender } from '../activities/accounts/activation-link';
import { createDelegationLinkResender } from '../activities/orders/link-resend';
import { createEmailResender } from '../activities/shared/email-resend';
import { buildApi } from '../src/api/server';
import { loadConfig, redact } from '../src/config';
import { createDb } from '../src/db/knex';
import { createSmtpMailer } from '../src/email/mailer';
import { createLogger } from '../src/logging';
import { startTracing, tracingClientInterceptors } from '../src/observability/tracing';
import { connectTemporalClient } from '../src/temporal/connect';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('api', config.logLevel);
  const db = createDb(config.databaseUrl, config.databasePoolMax, logger, config.apiDatabaseTimeouts);
  const tracing = startTracing(config.tracing, 'license-fulfillment-api');
  const { client, connection } = await connectTemporalClient(config, tracingClientInterceptors(tracing));
  // The API's only email: a new customer link a partner asks for (POST /v1/orders/{id}/delegation-link,
  // POST /v1/accounts/{id}/activation-link), and a failed email sent again (POST /v1/emails/{id}/resend).
  const mailer = createSmtpMailer(config.smtpUrl);
  const resendDelegationLink = createDelegationLinkResender({ db, mailer, config });
  const resendActivationLink = createActivationLinkResender({ db, mailer, config });
  const resendEmail = createEmailResender({ db, mailer, config });
  const app = await buildApi({
    db,
    client,
    config,
    logger,
    resendDelegationLink,
    resendActivationLink,
    resendEmail,
    tracer: tracing?.tracer,
  });
  const [host, port] = splitHostPort(config.apiListen);
  await app.listen({ host, port });
  logger.info(
    {
      url: `http://${config.apiListen}`,
      openapi: `${config.publicBaseUrl}/openapi.json`,
      traces: redact(config.tracing.tracesEndpoint) || 'off',
    },
    'API listening',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'API stopping');
    await app.close();
    await connection.close();
    await db.destroy();
    mailer.close();
    // Last: the spans of the requests just answered are still in its buffer.
    await tracing?.shutdown();
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

export function splitHostPort(listen: string): [string, number] {
  const at = listen.lastIndexOf(':');
  return [listen.slice(0, at).replace(/^\[|\]$/g, ''), Number(listen.slice(at + 1))];
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
