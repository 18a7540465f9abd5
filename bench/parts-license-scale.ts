/**
 * Parts 8-10: license use at scale. The views of one large VA (8) through the API in the driver;
 * the license clock over a large fleet (9) and the true-ups of many accounts (10) on one order
 * worker process of their own (the product's worker: it runs licenseClock and trueUp too), the
 * clock first so the true-ups' accounts are not yet due while it is measured.
 */
import { runLicenseClock } from './licensing-clock';
import { runTrueUpScale } from './licensing-true-up';
import { runLicenseView } from './licensing-view';
import type { BenchRun } from './parts';

export async function runLicenseScaleParts(run: BenchRun): Promise<void> {
  const { options, stack, results, failures, runId, skipped, attempt, log } = run;
  if (!skipped('license-view')) {
    await attempt('license-view', async () => {
      log(`8. license views: 1 VA, ${options.viewInstances} instances, ${options.viewSkus} SKUs, ${options.viewConnections} connections`);
      const { failures: partFailures, ...view } = await runLicenseView(stack, {
        instances: options.viewInstances,
        skus: options.viewSkus,
        connections: options.viewConnections,
        durationS: options.viewSeconds,
        runId,
        log,
      });
      results.licenseView = view;
      failures.push(...partFailures);
    });
  }
  if (skipped('license-clock') && skipped('true-up')) return;
  const taskQueue = `bench-license-clock-${runId}`;
  const worker = await stack.startWorker({ kind: 'orders', taskQueue, env: { REMINDER_INTERVAL: '1h', ESCALATION_AFTER: '30d' } });
  try {
    if (!skipped('license-clock')) {
      await attempt('license-clock', async () => {
        log(`9. license clock: ${options.clockInstances} instances`);
        const { failures: partFailures, ...clock } = await runLicenseClock(stack, worker, {
          instances: options.clockInstances,
          taskQueue,
          runId,
          log,
        });
        results.licenseClock = clock;
        failures.push(...partFailures);
      });
    }
    if (!skipped('true-up')) {
      await attempt('true-up', async () => {
        log(`10. true-ups: ${options.trueUpAccounts} Smart Accounts`);
        const { failures: partFailures, ...trueUp } = await runTrueUpScale(stack, worker, {
          accounts: options.trueUpAccounts,
          taskQueue,
          samples: options.samples,
          timeoutMs: Math.max(run.timeoutMs, options.trueUpAccounts * 2_000),
          runId,
          log,
        });
        results.trueUp = trueUp;
        failures.push(...partFailures);
      });
    }
  } finally {
    await worker.stop();
  }
}
