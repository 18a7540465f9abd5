import type { MailCatcher } from '../../src/dev/mail-catcher';
import type { TemporalDevServer } from '../../src/dev/temporal-dev-server';

/** Hands what global setup started to global teardown (both run in Jest's parent process). */
export interface StackHandle {
  temporal: TemporalDevServer;
  mail: MailCatcher;
  databaseUrl: string;
  dataDir: string;
}

const KEY = Symbol.for('license-fulfillment.test-stack');

export function setStack(stack: StackHandle): void {
  (globalThis as Record<symbol, unknown>)[KEY] = stack;
}

export function takeStack(): StackHandle | undefined {
  const stack = (globalThis as Record<symbol, unknown>)[KEY] as StackHandle | undefined;
  delete (globalThis as Record<symbol, unknown>)[KEY];
  return stack;
}
