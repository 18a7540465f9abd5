import pino, { type Logger } from 'pino';
import type { LogLevel } from './config';

/**
 * Structured JSON logs, one line per event, for every process (API, worker, CLI). Each line
 * names its service; request and workflow lines add the order and workflow IDs. Secrets never
 * reach a log line: the Authorization header and link tokens are redacted.
 */
export function createLogger(service: string, level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: level.toLowerCase(),
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: {
        // Fastify's request line, without the token of a customer link or any header.
        req: (req: { method?: string; url?: string; ip?: string }) => ({
          method: req.method,
          url: redactUrl(req.url ?? ''),
          remoteAddress: req.ip,
        }),
        err: pino.stdSerializers.err,
      },
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.token', 'token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * Hides the secret of an emailed link (a delegation, an activation, a sign-in, an email
 * verification: each token is the credential until used) and the Temporal UI's codec key.
 */
export function redactUrl(url: string): string {
  return url
    .replace(/\/(delegations|activations|sign-in|people\/verify)\/[^/?#]+/g, '/$1/[token]')
    .replace(/\/codec\/ui\/[^/?#]+/g, '/codec/ui/[key]');
}
