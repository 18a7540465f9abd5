import { ApplicationFailure, type Logger as TemporalLogger, type LogLevel as TemporalLogLevel, type LogMetadata } from '@temporalio/common';
import type { Logger as PinoLogger } from 'pino';
import { redactUrl } from '../logging';

/**
 * The Temporal SDK's `Logger` interface on top of the process's pino logger, so the SDK's own
 * lines (worker lifecycle, forwarded Core logs) and the workflow and activity context loggers
 * come out as the same one-line JSON as everything else the worker prints.
 *
 * The SDK hands each line its context as metadata (workflowId, runId, activityType, taskQueue,
 * ...); this adapter keeps those fields, names them the same way for workflows and activities,
 * adds the order ID the workflow ID carries, and drops what must not be logged.
 */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: PinoLogger) {}

  log(level: TemporalLogLevel, message: string, meta?: LogMetadata): void {
    const refusal = refusalOf(meta?.error);
    if (refusal && (level === 'WARN' || level === 'ERROR')) {
      // A business refusal is information, not a fault: one line at info, its type and reason, no stack.
      if (!this.pino.isLevelEnabled('info')) return;
      const { error: _error, ...rest } = meta ?? {};
      this.pino.info({ ...logFields(rest), refusal }, redactText(message.replace(/ failed$/, ' refused')));
      return;
    }
    const method = PINO_METHOD[level] ?? 'info';
    // Cheap check first: pino would drop the line anyway, so skip building its fields.
    if (!this.pino.isLevelEnabled(method)) return;
    this.pino[method](logFields(meta), redactText(message));
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/**
 * A business refusal (src/common/refusals.ts, activities/shared/errors.ts): a non-retryable
 * ApplicationFailure with a type. Retrying cannot help and nothing is broken, so the SDK's
 * "Activity failed" WARN with a stack trace would send an operator looking for a bug.
 */
export function refusalOf(error: unknown): { type: string; message: string } | undefined {
  if (!(error instanceof ApplicationFailure) || !error.nonRetryable || !error.type) return undefined;
  return { type: error.type, message: redactText(error.message) };
}

const PINO_METHOD: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Keys never written: an activity's task token is a bearer credential (whoever holds it can
 * complete or fail the activity), and Core's span contexts are empty noise without tracing.
 */
const DROPPED_KEYS = new Set(['taskToken', 'spanContexts']);

/** Keys pino writes itself; a metadata field of the same name would make a duplicate JSON key. */
const RESERVED_KEYS = new Set(['level', 'time', 'msg', 'service']);

/**
 * One name per fact, whoever logs it: activities say `workflowRunId` where workflows say `runId`,
 * and Core's forwarded lines use snake_case fields.
 */
const FIELD_ALIASES: Record<string, string> = {
  workflowRunId: 'runId',
  run_id: 'runId',
  workflow_id: 'workflowId',
  task_queue: 'taskQueue',
  activity_type: 'activityType',
  workflow_type: 'workflowType',
};

const ORDER_WORKFLOW_PREFIX = 'order-';
const ACTIVATION_WORKFLOW_PREFIX = 'smart-account-';

/**
 * The JSON fields of one SDK log line. Symbol keys (the SDK's internal timestamp) are left out
 * by construction; a field with another name for the same fact gets its one name (FIELD_ALIASES);
 * an `error` becomes pino's `err` so its message and stack are serialized.
 */
export function logFields(meta: LogMetadata | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (!meta) return fields;
  for (const [key, value] of Object.entries(meta)) {
    if (value === undefined || DROPPED_KEYS.has(key)) continue;
    const alias = FIELD_ALIASES[key];
    if (alias) {
      fields[alias] ??= value;
    } else if (key === 'error' && value instanceof Error) {
      fields.err = value;
    } else {
      fields[RESERVED_KEYS.has(key) ? `sdk_${key}` : key] = typeof value === 'string' ? redactText(value) : value;
    }
  }
  // The order's workflow ID is order-<orderId> (src/orders/workflow-api.ts): every line of
  // an order's workflow and activities can then be found by the order ID operators know.
  const workflowId = fields.workflowId;
  if (typeof workflowId === 'string' && fields.orderId === undefined && workflowId.startsWith(ORDER_WORKFLOW_PREFIX)) {
    fields.orderId = workflowId.slice(ORDER_WORKFLOW_PREFIX.length);
  }
  if (typeof workflowId === 'string' && fields.accountId === undefined && workflowId.startsWith(ACTIVATION_WORKFLOW_PREFIX)) {
    fields.accountId = workflowId.slice(ACTIVATION_WORKFLOW_PREFIX.length);
  }
  return fields;
}

/**
 * A password in a URL or the token of a customer link never reaches a log line, whoever wrote
 * the text. Like `redact` in src/config.ts, but for free text: every URL in it, and a match
 * never runs across whitespace (so `//host:7233 ... someone@example.com` is left alone).
 */
export function redactText(text: string): string {
  return redactUrl(text.replace(/(\/\/[^:/@\s]+:)[^@\s]*@/g, '$1***@'));
}
