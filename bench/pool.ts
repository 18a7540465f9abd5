/**
 * Part 6: the order worker's Postgres pool (`DATABASE_POOL_MAX`). For each size, a fresh order
 * worker with that pool runs the throughput part's mix (ours only, one round) while the driver
 * samples, from inside the worker, how many connections are lent out and how many callers wait
 * for one. Too small a pool shows as waiters and a lower rate; a size past what the work uses
 * shows as connections never lent out.
 */
import type { TestWorld } from '../test/helpers/fixtures';
import type { PoolLevelResult } from './report';
import type { BenchStack } from './stack';
import { runThroughputAndEngineLimit, type ThroughputOptions } from './throughput';

const MB = 1024 * 1024;

export async function runPoolLevel(
  stack: BenchStack,
  worlds: readonly TestWorld[],
  poolMax: number,
  options: ThroughputOptions,
): Promise<PoolLevelResult & { failures: string[] }> {
  const taskQueue = `bench-pool-${poolMax}-${options.runId}`;
  // Reminders far away, as in the throughput part: its held orders are assigned within seconds.
  const worker = await stack.startWorker({
    kind: 'orders',
    taskQueue,
    env: { DATABASE_POOL_MAX: String(poolMax), REMINDER_INTERVAL: '1h', ESCALATION_AFTER: '30d' },
  });
  let usedMax = 0;
  let pendingMax = 0;
  let pendingSum = 0;
  let samples = 0;
  let sampling = true;
  // One IPC round trip at a time, every 100 ms: the counters move with every activity.
  const sampler = (async () => {
    while (sampling) {
      const stats = await worker.stats().catch(() => undefined);
      if (stats?.pool) {
        usedMax = Math.max(usedMax, stats.pool.used);
        pendingMax = Math.max(pendingMax, stats.pool.pendingAcquires);
        pendingSum += stats.pool.pendingAcquires;
        samples++;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    const run = await runThroughputAndEngineLimit(
      stack,
      worlds,
      { orders: taskQueue },
      { orders: [worker] },
      { ...options, rounds: 1, runId: `${options.runId}p${poolMax}` },
    );
    const t = run.throughput;
    // Every order the worker ran: the warm-up's and the measured ones.
    const ordersRun = run.outcomes.length + run.warmupOrders;
    const statements = (await worker.stats()).statements ?? 0;
    return {
      poolMax,
      orders: t.orders,
      concurrency: t.concurrency,
      ordersPerSecond: t.ordersPerSecond,
      provisionedLatencyMs: t.provisionedLatencyMs,
      ...(t.cpuMsPerOrder ? { cpuMsPerOrder: t.cpuMsPerOrder } : {}),
      connectionsUsedMax: usedMax,
      waitingForConnectionMax: pendingMax,
      waitingForConnectionMean: samples ? pendingSum / samples : 0,
      workerRssPeakMB: worker.peakRss() / MB,
      statementsPerOrder: ordersRun > 0 ? statements / ordersRun : 0,
      failures: run.failures,
    };
  } finally {
    sampling = false;
    await sampler;
    await worker.stop();
  }
}
