import type { Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import type { ResendEmail } from '../email/resend-refusal';

/** What every route module is given: its own module, so routes need not import the server that registers them. */
export interface ApiDependencies {
  db: Db;
  client: Client;
  config: Config;
  logger: Logger;
  /** Emails a new delegation link (activities/orders/link-resend.ts); absent in an API that cannot send email. */
  resendDelegationLink?: (orderId: string, requestKey: string) => Promise<{ repeated: boolean }>;
  /** Emails a new activation link (activities/accounts/activation-link.ts); absent in an API that cannot send email. */
  resendActivationLink?: (accountId: string, requestKey: string) => Promise<{ repeated: boolean }>;
  /** Set when tracing is configured (src/observability/tracing.ts): every request gets a span. */
  tracer?: Tracer;
  /** Sends a failed email again (activities/shared/email-resend.ts); absent in an API that cannot send email. */
  resendEmail?: ResendEmail;
}
