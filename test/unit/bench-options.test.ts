/**
 * The benchmark's command line (bench/options.ts) and the pieces of its production-shape run:
 * which Temporal (`--temporal-store`), how many worker processes (`--order-workers`), the CPU
 * per order of several workers and of Temporal's own Postgres (bench/cpu.ts), and the table of
 * how the work spread over them (bench/render-workers.ts).
 */
import { addCpu, cpuBetween, NO_CPU, perOrder, type CpuSnapshot } from '../../bench/cpu';
import { parseArgs } from '../../bench/options';
import type { BenchResults } from '../../bench/results';
import { workerSpreadMarkdown } from '../../bench/render-workers';
import { benchTemporalDatabases } from '../../bench/temporal-production';

/** parseArgs with commander's exit turned into an error carrying what it printed. */
function refused(argv: string[]): string {
  const exit = jest.spyOn(process, 'exit').mockImplementation(() => {
    throw new Error('exit');
  });
  let printed = '';
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  });
  try {
    parseArgs(argv);
  } catch {
    return printed;
  } finally {
    exit.mockRestore();
    stderr.mockRestore();
  }
  throw new Error(`parseArgs accepted ${argv.join(' ')}`);
}

describe('bench options: which Temporal and how many workers', () => {
  test("defaults: the dev server's SQLite in WAL mode and one worker process, full and smoke alike", () => {
    for (const argv of [[], ['--smoke']]) {
      expect(parseArgs(argv)).toMatchObject({ temporalStore: 'wal', orderWorkers: 1 });
    }
  });

  test('--temporal-store postgres --order-workers 2: the production shape with two worker processes per side', () => {
    const options = parseArgs(['--smoke', '--temporal-store', 'postgres', '--order-workers', '2', '--skip', 'parked,api']);
    expect(options).toMatchObject({ smoke: true, temporalStore: 'postgres', orderWorkers: 2, skip: ['parked', 'api'], orders: 8 });
    expect(parseArgs(['--temporal-store', 'memory']).temporalStore).toBe('memory');
  });

  test('refuses an unknown store and a worker count below 1, naming the option', () => {
    expect(refused(['--temporal-store', 'sqlite'])).toContain('--temporal-store must be one of wal, file, memory, postgres');
    expect(refused(['--order-workers', '0'])).toContain('--order-workers must be a whole number of at least 1');
    expect(refused(['--order-workers', '1.5'])).toContain('--order-workers');
  });

  test("Temporal's databases are named after BENCH_DATABASE, apart from the dev and production stacks'", () => {
    expect(benchTemporalDatabases('bench_h1')).toEqual({ DBNAME: 'bench_h1_temporal', VISIBILITY_DBNAME: 'bench_h1_temporal_visibility' });
  });
});

describe('CPU per order with several workers and Temporal on Postgres', () => {
  const snapshot = (workers: number[], temporalPostgres: Array<[number, number]>): CpuSnapshot => ({
    workers,
    temporalServer: 1000,
    driver: 10,
    postgres: new Map([[7, 100]]),
    temporalPostgres: new Map(temporalPostgres),
  });

  test('each worker process apart and together; Temporal backends that appeared meanwhile count from zero', () => {
    const spent = cpuBetween(
      snapshot([100, 200], [[1, 50]]),
      snapshot(
        [400, 300],
        [
          [1, 80],
          [2, 20],
        ],
      ),
    );
    expect(spent).toMatchObject({ worker: 400, workers: [300, 100], temporalPostgres: 50, temporalServer: 0, postgres: 0 });
    const twice = addCpu(addCpu(NO_CPU, spent), spent);
    expect(twice.workers).toEqual([600, 200]);
    const per = perOrder(twice, 10);
    expect(per).toMatchObject({ worker: 80, workers: [60, 20], temporalPostgres: 10 });
    expect(per.total).toBeCloseTo(80 + 10);
  });

  test("one worker on the dev server: the figures keep today's shape (no per-worker list, no Temporal Postgres)", () => {
    const per = perOrder(cpuBetween(snapshot([100], []), snapshot([300], [])), 2);
    expect(per).toEqual({ worker: 100, temporalServer: 0, postgres: 0, driver: 0, total: 100 });
  });
});

describe('how the work spread over the worker processes', () => {
  const latency = { count: 1, p50: 1, p95: 1, p99: 1, max: 1, mean: 1 };
  const results = {
    meta: { machine: { cpus: 2 } },
    throughput: {
      ordersPerSecond: 10,
      orderWorkers: 2,
      provisionedLatencyMs: latency,
      cpuMsPerOrder: { worker: 60, workers: [40, 20], temporalServer: 30, temporalPostgres: 20, postgres: 10, driver: 5, total: 125 },
      workers: [
        { cpuMsPerOrder: 40, rssMB: 200, peakRssMB: 210, workflowTasks: 90, activities: 60, localActivities: 10, statements: 500 },
        { cpuMsPerOrder: 20, rssMB: 190, peakRssMB: 195, workflowTasks: 40, activities: 50, localActivities: 5, statements: 300 },
      ],
    },
  } as unknown as BenchResults;

  test('one row per process with its share, cores busy, memory and tasks; then the cores each part kept busy', () => {
    const text = workerSpreadMarkdown(results).join('\n');
    expect(text).toContain('(2 worker processes per side)');
    expect(text).toContain('| ours #1 | 40.0 | 0.40 | 200 | 210 | 90 | 60 | 10 | 500 |');
    expect(text).toContain('| ours #2 | 20.0 | 0.20 | 190 | 195 | 40 | 50 | 5 | 300 |');
    expect(text).toContain(
      "| | worker processes | Temporal server | Temporal's Postgres | Postgres (bench database) | driver | total |".replace('| |', '|  |'),
    );
    expect(text).toContain('| ours | 0.60 | 0.30 | 0.20 | 0.10 | 0.05 | 1.25 |');
  });

  test('nothing when the throughput part did not run', () => {
    expect(workerSpreadMarkdown({ meta: { machine: { cpus: 2 } } } as unknown as BenchResults)).toEqual([]);
  });
});
