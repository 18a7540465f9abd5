import type { Knex } from 'knex';
import type { SignedUsageAnswer } from '../device-client/answers';
import { isDatabaseUnavailable } from '../db/unavailable';
import type { DeviceCaller } from './device-auth';
import { applyReportBatch, type BatchOutcome, type QueuedReport } from './report-batch';
import { reportUsage } from './reports';
import type { SigningKeys } from './signing';

/**
 * Group commit of usage reports in the API process (issue 15): authenticated reports queue, and a
 * batch of them is applied in one transaction (report-batch.ts) as soon as a connection for it is
 * free, so under load each commit carries many reports and alone (one in flight) a report waits
 * for nothing. A batch that fails as a whole (a deadlock, a serialization failure, anything but
 * the database being unreachable) is retried report by report through the one-report path, so
 * one report's error never becomes another's answer.
 */

/** Batches of usage reports the API applies at once, each on its own connection: one commits while the next gathers. */
export const REPORT_BATCHES_IN_FLIGHT = 2;

interface Pending extends QueuedReport {
  resolve: (answer: SignedUsageAnswer) => void;
  reject: (err: unknown) => void;
}

export interface ReportBatcherOptions {
  /** Most reports in one transaction (USAGE_REPORT_BATCH_SIZE). */
  batchSize: number;
  /** Batches applied at once, each on its own connection. */
  batchesInFlight: number;
  /**
   * While a batch runs, the next leaves only once this many reports wait (or when none runs any
   * more); default an eighth of batchSize, at least 2. A batch costs the same round trips whatever
   * its size, so under load each carries more reports; alone, a report still leaves at once.
   */
  gatherWhileBusy?: number;
  /** Told when a whole batch failed and its reports went one by one (a deadlock now and then is normal; many are not). */
  onBatchFailed?: (err: unknown, reports: number) => void;
}

export class UsageReportBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;
  private flushScheduled = false;
  /** Instances with a report in a running batch: a second report of one waits for the next batch. */
  private readonly busy = new Set<string>();
  private readonly gatherWhileBusy: number;

  constructor(
    private readonly db: Knex,
    private readonly keys: SigningKeys,
    private readonly options: ReportBatcherOptions,
  ) {
    this.gatherWhileBusy = options.gatherWhileBusy ?? Math.max(2, Math.floor(options.batchSize / 8));
  }

  submit(caller: DeviceCaller, report: QueuedReport['report']): Promise<SignedUsageAnswer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ caller, report, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** May a batch leave now? Always when none runs; while one runs, once enough reports wait. */
  private mayStart(): boolean {
    return this.inFlight === 0 || (this.inFlight < this.options.batchesInFlight && this.queue.length >= this.gatherWhileBusy);
  }

  /** On the next turn of the event loop, so the reports that arrive together go together. */
  private scheduleFlush(): void {
    if (this.flushScheduled || !this.mayStart()) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.mayStart()) {
      const batch = this.take();
      if (batch.length === 0) return;
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        for (const p of batch) this.busy.delete(p.caller.claims.instanceId);
        if (this.queue.length > 0) this.scheduleFlush();
      });
    }
  }

  /** The oldest reports, at most one per instance (and none of an instance a running batch holds). */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    for (const pending of this.queue) {
      const instanceId = pending.caller.claims.instanceId;
      if (batch.length < this.options.batchSize && !this.busy.has(instanceId)) {
        this.busy.add(instanceId);
        batch.push(pending);
      } else {
        rest.push(pending);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async run(batch: Pending[]): Promise<void> {
    let outcomes: BatchOutcome[];
    try {
      // One report alone takes the one-report path: the same statements, nothing to gather.
      outcomes = batch.length === 1 ? [{ kind: 'alone' }] : await applyReportBatch(this.db, this.keys, batch);
    } catch (err) {
      // Unreachable, each report alone would fail the same way: all get the 503.
      if (isDatabaseUnavailable(err)) return batch.forEach((p) => p.reject(err));
      this.options.onBatchFailed?.(err, batch.length);
      outcomes = batch.map(() => ({ kind: 'alone' }));
    }
    await Promise.all(
      batch.map(async (pending, i) => {
        const outcome = outcomes[i];
        if (outcome.kind === 'answered') return pending.resolve(outcome.answer);
        if (outcome.kind === 'refused') return pending.reject(outcome.refusal);
        await reportUsage(this.db, this.keys, pending.caller, pending.report).then(pending.resolve, pending.reject);
      }),
    );
  }
}
