import { InvalidArgumentError, type Command } from 'commander';
import { ApiError, LicenseFulfillmentClient, type FieldError } from '../api-client';
import { CONFIG_VARIABLES } from '../config';

/**
 * What every command shares: where the API is and with which key, how results are printed
 * (text for people, --json for scripts), and how failures end the process.
 *
 * Exit codes: 0 done; 1 refused or invalid (the API said no, a file is unusable, a key is
 * unknown); 2 usage (a missing or malformed argument, option or environment variable).
 */

export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/** A mistake in how the CLI was called: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Something the CLI cannot do with what it was given (an unreadable file, an unknown key): exit code 1. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly fieldErrors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** The command printed what it had to say and ends with this code (a bulk run with refusals). */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'CliExit';
  }
}

export interface ApiSettings {
  baseUrl: string;
  apiKey: string | undefined;
}

/** LICENSE_API_URL (default: the API's own default PUBLIC_BASE_URL) and LICENSE_API_KEY. */
export function apiSettings(env: NodeJS.ProcessEnv = process.env): ApiSettings {
  return {
    baseUrl: env.LICENSE_API_URL?.trim() || CONFIG_VARIABLES.PUBLIC_BASE_URL.default,
    apiKey: env.LICENSE_API_KEY?.trim() || undefined,
  };
}

export function apiClient(settings: ApiSettings = apiSettings()): LicenseFulfillmentClient {
  if (!settings.apiKey) {
    throw new UsageError('LICENSE_API_KEY is not set: an operator creates a key with `license-fulfillment keys create`');
  }
  try {
    return new LicenseFulfillmentClient({ baseUrl: settings.baseUrl, apiKey: settings.apiKey });
  } catch (err) {
    throw new UsageError(`LICENSE_API_URL: ${(err as Error).message}`);
  }
}

/** True when --json was given, before or after the subcommand. */
export function wantsJson(command: Command): boolean {
  return Boolean(command.optsWithGlobals().json);
}

/** Prints the result: as JSON on stdout for scripts, else as the text `render` makes. */
export function printResult<T>(command: Command, value: T, render: (value: T) => string): void {
  if (wantsJson(command)) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else {
    const text = render(value);
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** A note for the person at the terminal: on stderr, so stdout stays the result. */
export function note(message: string): void {
  process.stderr.write(message + '\n');
}

// ---------------------------------------------------------------- option parsers (usage errors)

export function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
    }
    return Number(value);
  };
}

// ---------------------------------------------------------------- failures

/**
 * How the API's field names read on the command line, per command: "shippedOn" is what the API
 * names, "--date" is what the operator typed.
 */
export type FieldHints = Record<string, string>;

export function formatFieldErrors(errors: FieldError[], hints: FieldHints = {}): string[] {
  return errors.map((e) => `  ${e.field}${hints[e.field] ? ` (${hints[e.field]})` : ''}: ${e.reason}`);
}

/** One failure described for stderr: what was refused, why, and every field at fault. */
export function describeFailure(err: unknown, hints: FieldHints = {}): string {
  if (err instanceof ApiError) {
    return [`error: ${err.message} [${err.status} ${err.code}]`, ...formatFieldErrors(err.fieldErrors, hints)].join('\n');
  }
  if (err instanceof CliFailure) return [`error: ${err.message}`, ...formatFieldErrors(err.fieldErrors, hints)].join('\n');
  if (err instanceof UsageError) return `error: ${err.message}`;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (err instanceof TypeError && err.message === 'fetch failed') {
    return `error: cannot reach the API at ${apiSettings().baseUrl}: ${cause?.code ?? cause?.message ?? 'no answer'} (set LICENSE_API_URL)`;
  }
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `error: the API did not answer in time (${err.message})`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

/** The exit code a failure ends the process with. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliExit) return err.exitCode;
  if (err instanceof UsageError) return EXIT_USAGE;
  return EXIT_REFUSED;
}

/**
 * Wraps a command's action: field hints travel with the failure so main() can name the options.
 */
export class HintedFailure extends Error {
  constructor(
    readonly failure: unknown,
    readonly hints: FieldHints,
  ) {
    super(failure instanceof Error ? failure.message : String(failure));
    this.name = 'HintedFailure';
  }
}

export function withHints<A extends unknown[]>(hints: FieldHints, action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      throw err instanceof CliExit ? err : new HintedFailure(err, hints);
    }
  };
}
