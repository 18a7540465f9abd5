import { parseSigningKeys } from './licensing/signing';
import { parseEncryptionKeys } from './temporal/payload-codec';
import { CONFIG_VARIABLES, type ConfigVariable } from './config-variables';

/** How each kind of setting is read and checked; a bad value is reported through `fail`, by name and reason. */

export type Env = Record<string, string | undefined>;

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `15m`, `12h`, `3d` into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * DURATION_UNITS_MS[match[2]];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

/** Hides a password in a URL before it is printed. */
export function redact(value: string): string {
  return value.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

/** Why `value` is not host:port, or undefined when it is. */
export function hostPortProblem(value: string): string | undefined {
  return /^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(value) ? undefined : `must be host:port (got "${value}")`;
}

/** Why `value` is not a name (namespace, task queue), or undefined when it is. */
export function nameProblem(value: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value) ? undefined : `must be letters, digits, ".", "_" or "-" (got "${value}")`;
}

export function configReaders(env: Env, fail: (variable: ConfigVariable, reason: string) => void) {
  const raw = (name: ConfigVariable): string => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? CONFIG_VARIABLES[name].default : value.trim();
  };

  const url = (name: ConfigVariable, protocols: string[]): string => {
    const value = raw(name);
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        fail(name, `must use ${protocols.map((p) => p.replace(':', '://')).join(' or ')} (got "${parsed.protocol}//")`);
      }
    } catch {
      fail(name, `must be a URL (got "${redact(value)}")`);
    }
    return value;
  };
  /** An http(s) URL, or empty to turn the feature off. */
  const optionalUrl = (name: ConfigVariable): string => (raw(name) === '' ? '' : url(name, ['http:', 'https:']));
  const duration = (name: ConfigVariable): number => {
    const value = raw(name);
    const ms = parseDuration(value);
    if (ms === undefined) fail(name, `must be a positive duration such as 500ms, 30s, 15m, 12h or 3d (got "${value}")`);
    return ms ?? 0;
  };
  /** A duration, or 0 to turn the feature off. */
  const durationOrOff = (name: ConfigVariable): number => {
    const value = raw(name);
    if (value === '0') return 0;
    const ms = parseDuration(value);
    if (ms === undefined) fail(name, `must be 0 or a positive duration such as 500ms, 30s, 15m, 12h or 3d (got "${value}")`);
    return ms ?? 0;
  };
  const positiveInt = (name: ConfigVariable): number => {
    const value = raw(name);
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1) fail(name, `must be a whole number of at least 1 (got "${value}")`);
    return n;
  };
  const hostPort = (name: ConfigVariable): string => {
    const value = raw(name);
    const problem = hostPortProblem(value);
    if (problem) fail(name, problem);
    return value;
  };
  const name = (variable: ConfigVariable): string => {
    const value = raw(variable);
    const problem = nameProblem(value);
    if (problem) fail(variable, problem);
    return value;
  };
  const mailbox = (variable: ConfigVariable): string => {
    const value = raw(variable);
    if (!/^([^<>\r\n]*<)?[^\s@<>]+@[^\s@<>]+(>)?$/.test(value) || /[\r\n]/.test(value)) {
      fail(variable, `must be an address such as "Orders <orders@example.com>" (got "${value}")`);
    }
    return value;
  };

  return {
    raw,
    url,
    optionalUrl,
    duration,
    durationOrOff,
    positiveInt,
    hostPort,
    name,
    mailbox,
    ...structuredReaders(raw, fail),
  };
}

/** Settings with a structure of their own: key lists, a choice, a list of days. */
function structuredReaders(raw: (name: ConfigVariable) => string, fail: (variable: ConfigVariable, reason: string) => void) {
  /** A key list (src/security/key-list.ts), checked by the parser of its use; the value is never echoed (a secret). */
  const keyList =
    (parse: (text: string) => unknown) =>
    (variable: ConfigVariable): string => {
      const value = raw(variable);
      if (value === '') return value;
      try {
        parse(value);
      } catch (err) {
        fail(variable, err instanceof Error ? err.message : String(err));
      }
      return value;
    };
  const encryptionKeys = keyList(parseEncryptionKeys);
  const signingKeys = keyList(parseSigningKeys);

  const oneOf = <T extends string>(variable: ConfigVariable, allowed: readonly T[]): T => {
    const value = raw(variable).toUpperCase();
    if (!allowed.includes(value as T)) fail(variable, `must be one of ${allowed.join(', ')} (got "${raw(variable)}")`);
    return value as T;
  };

  const dayList = (variable: ConfigVariable): number[] => {
    const value = raw(variable);
    const days = value.split(',').map((d) => d.trim());
    if (!days.every((d) => /^\d{1,4}$/.test(d) && Number(d) >= 1)) {
      fail(variable, `must be whole numbers of days of at least 1, comma-separated (got "${value}")`);
      return [];
    }
    return [...new Set(days.map(Number))].sort((a, b) => b - a);
  };

  /** A whole number, 0 included (0 turns the feature off). */
  const wholeNumberOrOff = (variable: ConfigVariable): number => {
    const value = raw(variable);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) fail(variable, `must be 0 or a whole number (got "${value}")`);
    return Number(value);
  };

  /** `N/duration` (120/1m: 120 requests a minute), or `off`: undefined. */
  const rateLimit = (variable: ConfigVariable): { max: number; timeWindowMs: number } | undefined => {
    const value = raw(variable);
    if (value.toLowerCase() === 'off') return undefined;
    const match = /^(\d+)\s*\/\s*(\S+)$/.exec(value);
    const timeWindowMs = match ? parseDuration(match[2]) : undefined;
    if (!match || Number(match[1]) < 1 || !Number.isSafeInteger(Number(match[1])) || timeWindowMs === undefined) {
      fail(variable, `must be requests per window such as 120/1m or 10/1s, or off (got "${value}")`);
      return undefined;
    }
    return { max: Number(match[1]), timeWindowMs };
  };

  /** A time bound, or `off` (or 0) for none: 0. */
  const timeoutOrOff = (variable: ConfigVariable): number => {
    const value = raw(variable);
    if (value === '0' || value.toLowerCase() === 'off') return 0;
    const ms = parseDuration(value);
    if (ms === undefined) fail(variable, `must be a positive duration such as 500ms, 15s or 1m, or off (got "${value}")`);
    return ms ?? 0;
  };

  return { encryptionKeys, signingKeys, oneOf, dayList, rateLimit, wholeNumberOrOff, timeoutOrOff };
}
