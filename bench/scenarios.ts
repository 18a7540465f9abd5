/**
 * The orders the benchmark books and how the driver plays the people around them: the ordering
 * system (booking, shipments), the partner (assigns the customer's account once told the order
 * is held) and the end-customer contact (picks an account through the link in the delegation
 * email). Each order is driven until its workflow completes.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { submitCustomerChoice } from '../src/accounts/customer-links';
import { bookOrder } from '../src/orders/book-order';
import { assignSmartAccount, reportShipment } from '../src/orders/order-actions';
import type { Db } from '../src/db/knex';
import type { BookOrderInput, OrderLineInput } from '../src/orders/order';
import { orderWorkflowId } from '../src/orders/workflow-api';
import { createTestWorld, type TestWorld } from '../test/helpers/fixtures';
import type { EngineLimitShape } from './baseline/workflows';
import type { BenchMailServer } from './mail';
import type { ScenarioKind } from './report';

export const SCENARIO_KINDS: readonly ScenarioKind[] = ['direct', 'held', 'delegated', 'classic'];

/** The default mix, in percent: most orders go straight to a known account. */
export const DEFAULT_MIX: Record<ScenarioKind, number> = { direct: 40, held: 25, delegated: 15, classic: 20 };

export const SCENARIO_DESCRIPTIONS: Record<ScenarioKind, string> = {
  direct: "into the customer's active Smart Account (virtual account Finance): a perpetual and a 36-month term line, both shipped",
  held: "into the partner's holding account (EMEA): both lines shipped while held; the partner assigns the customer's account on the 'transfer needed' email (assignSmartAccount Update)",
  delegated:
    'delegated to the end-customer contact: both lines shipped; the contact picks the existing account through the link in the delegation email (submitCustomerChoice Update, token read from the received email)',
  classic:
    "a mixed order (S7) into the customer's account: a classic line (License Registration Portal record) and a perpetual smart line, both shipped",
};

const PERPETUAL: OrderLineInput = { lineNumber: 1, sku: 'ISR4K-SEC-PERP', quantity: 2, licenseType: 'smart', smartAccountMandatory: true };
const TERM: OrderLineInput = {
  lineNumber: 2,
  sku: 'C9300-DNA-E-3Y',
  quantity: 10,
  licenseType: 'smart',
  termMonths: 36,
  smartAccountMandatory: true,
};
const CLASSIC: OrderLineInput = {
  lineNumber: 1,
  sku: 'ASA5506-SEC-BUN',
  quantity: 1,
  licenseType: 'classic',
  smartAccountMandatory: false,
};

export function linesOf(kind: ScenarioKind): OrderLineInput[] {
  return kind === 'classic' ? [CLASSIC, { ...PERPETUAL, lineNumber: 2 }] : [PERPETUAL, TERM];
}

/**
 * The kind of each of `count` orders, interleaved by smooth weighted round robin so any prefix of
 * the run has the mix's proportions; every kind with a weight appears at least once when count
 * allows it (the smoke run books a handful).
 */
export function kindSequence(count: number, mix: Record<ScenarioKind, number>): ScenarioKind[] {
  const kinds = SCENARIO_KINDS.filter((k) => mix[k] > 0);
  const total = kinds.reduce((s, k) => s + mix[k], 0);
  const current = new Map<ScenarioKind, number>(kinds.map((k) => [k, 0]));
  const out: ScenarioKind[] = [];
  for (let i = 0; i < count; i++) {
    for (const k of kinds) current.set(k, current.get(k)! + mix[k]);
    const pick = kinds.reduce((best, k) => (current.get(k)! > current.get(best)! ? k : best), kinds[0]);
    current.set(pick, current.get(pick)! - total);
    out.push(pick);
  }
  for (const k of kinds) {
    if (count >= kinds.length && !out.includes(k)) {
      const most = kinds.reduce(
        (best, x) => (out.filter((o) => o === x).length > out.filter((o) => o === best).length ? x : best),
        kinds[0],
      );
      out[out.lastIndexOf(most)] = k;
    }
  }
  return out;
}

export function countKinds(kinds: readonly ScenarioKind[]): Record<ScenarioKind, number> {
  const counts = { direct: 0, held: 0, delegated: 0, classic: 0 };
  for (const k of kinds) counts[k]++;
  return counts;
}

/** Partners, holding accounts and customer accounts for the run (test/helpers/fixtures.ts worlds). */
export async function createWorlds(db: Db, count: number, label: string): Promise<TestWorld[]> {
  const worlds: TestWorld[] = [];
  for (let i = 0; i < count; i++) worlds.push(await createTestWorld(db, `${label}${i}-${randomBytes(2).toString('hex')}`));
  return worlds;
}

export function bookingFor(kind: ScenarioKind, world: TestWorld, externalReference: string): BookOrderInput {
  const base = { externalReference, bookedByPartnerId: world.partnerId, lines: linesOf(kind) };
  switch (kind) {
    case 'direct':
    case 'classic':
      return { ...base, assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' } };
    case 'held':
      return { ...base, assignment: { kind: 'holding_account', accountId: world.holdingAccountId, virtualAccountPath: 'EMEA' } };
    case 'delegated':
      return { ...base, assignment: { kind: 'delegate' }, endCustomerContact: { email: world.customerEmail, fullName: 'Casey Customer' } };
  }
}

export interface DriverContext {
  client: Client;
  db: Db;
  mail: BenchMailServer;
  taskQueue: string;
  shippedOn: string;
  /** How long the driver waits for an email, an Update or the workflow's end. */
  timeoutMs: number;
}

export interface OrderOutcome {
  orderId: string;
  workflowId: string;
  kind: ScenarioKind;
  /** Just before the booking request left the driver. */
  bookedAtMs: number;
  /** When the driver saw the workflow complete. */
  completedAtMs: number;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]);
}

/** One real order, start to finish, as the people around it would drive it. */
export async function driveRealOrder(
  ctx: DriverContext,
  kind: ScenarioKind,
  world: TestWorld,
  externalReference: string,
): Promise<OrderOutcome> {
  const bookedAtMs = Date.now();
  const booked = await bookOrder(ctx.client, ctx.taskQueue, bookingFor(kind, world, externalReference));
  if (booked.alreadyBooked) throw new Error(`order ${externalReference} was already booked`);
  // The ordering system reports both shipments at once; a held order keeps them (S3).
  for (const line of linesOf(kind))
    await reportShipment(ctx.client, booked.orderId, { lineNumber: line.lineNumber, shippedOn: ctx.shippedOn });
  if (kind === 'held') {
    await ctx.mail.next(booked.orderId, 'transfer-needed', ctx.timeoutMs);
    await withTimeout(
      assignSmartAccount(ctx.client, booked.orderId, {
        accountId: world.smartAccountId,
        virtualAccountPath: 'Finance',
        actingPartnerId: world.partnerId,
      }),
      ctx.timeoutMs,
      `assignSmartAccount ${booked.orderId}`,
    );
  } else if (kind === 'delegated') {
    const mail = await ctx.mail.next(booked.orderId, 'delegation-request', ctx.timeoutMs);
    if (!mail.token) throw new Error(`the delegation email of order ${booked.orderId} has no link token`);
    // What the customer page does: open the link, then send the choice as an Update.
    await withTimeout(
      submitCustomerChoice({ db: ctx.db, client: ctx.client }, mail.token, {
        kind: 'existing',
        accountId: world.smartAccountId,
        virtualAccountPath: 'Finance',
      }),
      ctx.timeoutMs,
      `submitCustomerChoice ${booked.orderId}`,
    );
  }
  const status = await withTimeout(
    ctx.client.workflow.getHandle(booked.workflowId).result(),
    ctx.timeoutMs,
    `workflow ${booked.workflowId}`,
  );
  const phase = (status as { phase?: string } | undefined)?.phase;
  if (phase !== 'Fulfilled') throw new Error(`order ${booked.orderId} (${kind}) ended ${phase ?? 'without a status'}`);
  return { orderId: booked.orderId, workflowId: booked.workflowId, kind, bookedAtMs, completedAtMs: Date.now() };
}

export const ENGINE_LIMIT_WORKFLOW_TYPE = 'engineLimitOrder';

/** One engine-limit order: the same messages from the driver, no emails to wait for. */
export async function driveEngineLimitOrder(
  ctx: DriverContext,
  kind: ScenarioKind,
  shape: EngineLimitShape,
  id: string,
): Promise<OrderOutcome> {
  const bookedAtMs = Date.now();
  const workflowId = `engine-limit-${id}`;
  const handle = await ctx.client.workflow.start(ENGINE_LIMIT_WORKFLOW_TYPE, { workflowId, taskQueue: ctx.taskQueue, args: [shape] });
  for (let line = 1; line <= shape.signals; line++) await handle.signal('lineShipped', { lineNumber: line });
  for (let i = 0; i < shape.updates; i++) {
    await withTimeout(handle.executeUpdate('assign', { args: [{ accountId: 'sa' }] }), ctx.timeoutMs, `engine-limit Update ${workflowId}`);
  }
  await withTimeout(handle.result(), ctx.timeoutMs, `workflow ${workflowId}`);
  return { orderId: id, workflowId, kind, bookedAtMs, completedAtMs: Date.now() };
}

/**
 * Runs `count` jobs with at most `concurrency` in flight (a closed loop: a slot takes the next job
 * when its last one finished). Failures are collected, not thrown, so one bad order does not hide
 * the figures of the others.
 */
export async function runClosedLoop<T>(
  count: number,
  concurrency: number,
  job: (index: number) => Promise<T>,
): Promise<{ results: T[]; failures: Array<{ index: number; error: string }>; startedAtMs: number; finishedAtMs: number }> {
  const results: T[] = [];
  const failures: Array<{ index: number; error: string }> = [];
  let next = 0;
  const startedAtMs = Date.now();
  const slot = async () => {
    for (;;) {
      const index = next++;
      if (index >= count) return;
      try {
        results.push(await job(index));
      } catch (err) {
        failures.push({ index, error: describeError(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, slot));
  return { results, failures, startedAtMs, finishedAtMs: Date.now() };
}

/** An error with its causes ("Workflow Update failed: NotAuthorized: ..."): the outer one alone says little. */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(': ');
}

export function workflowIdOf(orderId: string): string {
  return orderWorkflowId(orderId);
}

export function todayIso(): string {
  return new Date().toISOString().slice(0, 10);
}
