/**
 * The engine-limit workflow: the shape of a real order (as many activities, local activities,
 * signals, Updates and timer waits as its history shows) with activities that do nothing, no
 * search attributes, no database and no email. Its throughput on the same stack is the most the
 * engine gives this machine for orders of that shape; the real orders are measured against it.
 * Bundled on its own (bench/stack.ts) and run by its own worker process on its own task queue.
 */
import { condition, defineSignal, defineUpdate, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type * as activities from './activities';

export interface EngineLimitShape {
  localActivities: number;
  startActivities: number;
  updateActivities: number;
  endActivities: number;
  timers: number;
  signals: number;
  updates: number;
}

/** Same timeouts and retry policy as workflows/shared/activity-proxies.ts, so the server does the same bookkeeping. */
const { nothing } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
const { nothingLocal } = proxyLocalActivities<typeof activities>({ startToCloseTimeout: '5 seconds' });

export const engineLimitSignal = defineSignal<[{ lineNumber: number }]>('lineShipped');
export const engineLimitUpdate = defineUpdate<number, [{ accountId: string }]>('assign');

export async function engineLimitOrder(shape: EngineLimitShape): Promise<number> {
  let signals = 0;
  let updates = 0;
  let started = false;
  setHandler(engineLimitSignal, () => {
    signals++;
  });
  setHandler(engineLimitUpdate, async () => {
    // An Update sent right after the start waits for the start phase, as the real validator
    // refuses one before the order is placed.
    await condition(() => started);
    for (let i = 0; i < shape.updateActivities; i++) await nothing();
    updates++;
    return updates;
  });

  for (let i = 0; i < shape.localActivities; i++) await nothingLocal();
  for (let i = 0; i < shape.startActivities; i++) await nothing();
  started = true;

  // The real order waits with a timeout while a reminder is due: one timer per such wait.
  let timersLeft = shape.timers;
  while (signals < shape.signals || updates < shape.updates) {
    const seen = signals + updates;
    const arrived = () => signals + updates !== seen;
    if (timersLeft > 0) {
      timersLeft--;
      await condition(arrived, '1 day');
    } else {
      await condition(arrived);
    }
  }
  for (let i = 0; i < shape.endActivities; i++) await nothing();
  return signals + updates;
}
