/**
 * The throughput part's worker processes (`--order-workers`) and where the machine's cores went:
 * how the work spread over the processes, and how many cores each part of the stack kept busy.
 */
import type { BenchResults, CpuPerOrder, WorkerShare } from './results';
import { f, markdownTable } from './render-tables';

/** The CPU table's columns: Temporal's own Postgres only when the production shape's server ran. */
export function cpuColumns(withTemporalPostgres: boolean): { header: string[]; row: (name: string, c: CpuPerOrder) => string[] } {
  const header = [
    '',
    'worker processes',
    'Temporal server',
    ...(withTemporalPostgres ? ["Temporal's Postgres"] : []),
    'Postgres (bench database)',
    'driver',
    'total',
  ];
  const row = (name: string, c: CpuPerOrder) => [
    name,
    f(c.worker, 1),
    f(c.temporalServer, 1),
    ...(withTemporalPostgres ? [f(c.temporalPostgres ?? 0, 1)] : []),
    f(c.postgres, 1),
    f(c.driver, 1),
    f(c.total, 1),
  ];
  return { header, row };
}

/** Cores kept busy = CPU ms per order x orders per second / 1000, per process group. */
function coresBusy(c: CpuPerOrder, ordersPerSecond: number): Record<string, number> {
  const busy = (ms: number | undefined) => ((ms ?? 0) * ordersPerSecond) / 1000;
  return {
    workers: busy(c.worker),
    temporal: busy(c.temporalServer),
    temporalPostgres: busy(c.temporalPostgres),
    postgres: busy(c.postgres),
    driver: busy(c.driver),
    total: busy(c.total),
  };
}

function shareRow(name: string, w: WorkerShare, ordersPerSecond: number): string[] {
  return [
    name,
    f(w.cpuMsPerOrder, 1),
    f((w.cpuMsPerOrder * ordersPerSecond) / 1000, 2),
    f(w.rssMB),
    f(w.peakRssMB),
    w.workflowTasks === undefined ? 'n/a' : String(w.workflowTasks),
    w.activities === undefined ? 'n/a' : String(w.activities),
    w.localActivities === undefined ? 'n/a' : String(w.localActivities),
    w.statements === undefined ? '' : String(w.statements),
  ];
}

/** "How the work spread": one row per worker process of each side, then the cores each part kept busy. */
export function workerSpreadMarkdown(results: BenchResults): string[] {
  const t = results.throughput;
  const e = results.engineLimit;
  if (!t?.workers?.length) return [];
  const lines: string[] = [];
  const n = t.orderWorkers ?? t.workers.length;
  lines.push('');
  lines.push(`### Worker processes and cores (${n} worker process${n > 1 ? 'es' : ''} per side)`);
  lines.push('');
  lines.push(
    'Each worker process in the measured rounds: its CPU per order of the whole side (the rows add up to the worker column above), ' +
      'the cores it kept busy (CPU ms per order x orders per second), its memory from /proc at the end, and the workflow tasks, ' +
      'activities and local activities it ran (its SDK metrics) and Postgres statements it sent.',
  );
  lines.push('');
  lines.push(
    markdownTable([
      [
        'process',
        'CPU ms / order',
        'cores busy',
        'RSS (MB)',
        'peak RSS (MB)',
        'workflow tasks',
        'activities',
        'local activities',
        'statements',
      ],
      ...t.workers.map((w, i) => shareRow(`ours #${i + 1}`, w, t.ordersPerSecond)),
      ...(e?.workers ?? []).map((w, i) => shareRow(`engine limit #${i + 1}`, w, e!.ordersPerSecond)),
    ]),
  );
  const sides = [
    ...(t.cpuMsPerOrder ? [['ours', coresBusy(t.cpuMsPerOrder, t.ordersPerSecond)] as const] : []),
    ...(e?.cpuMsPerOrder ? [['engine limit', coresBusy(e.cpuMsPerOrder, e.ordersPerSecond)] as const] : []),
  ];
  if (sides.length) {
    const cores = results.meta.machine.cpus;
    lines.push('');
    lines.push(
      `Cores kept busy while each side ran (of ${cores}; what nears its share first is what saturates; Postgres's own ` +
        'background processes, the WAL writer and checkpointer, are not counted):',
    );
    lines.push('');
    const withTemporalPostgres = t.cpuMsPerOrder?.temporalPostgres !== undefined;
    lines.push(
      markdownTable([
        cpuColumns(withTemporalPostgres).header,
        ...sides.map(([name, c]) => [
          name,
          f(c.workers, 2),
          f(c.temporal, 2),
          ...(withTemporalPostgres ? [f(c.temporalPostgres, 2)] : []),
          f(c.postgres, 2),
          f(c.driver, 2),
          f(c.total, 2),
        ]),
      ]),
    );
  }
  return lines;
}
