/** The command line of `npm run bench`: its options, their defaults (full and smoke), the parts. */
import { Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../src/config';
import type { ScenarioKind } from './report';
import { DEFAULT_MIX, SCENARIO_KINDS } from './scenarios';
import type { TemporalStore } from './stack';

export const PARTS = [
  'throughput',
  'engine-limit',
  'cost',
  'parked',
  'api',
  'pool',
  'licensing',
  'license-view',
  'license-clock',
  'true-up',
  'overload',
] as const;
export type Part = (typeof PARTS)[number];

export interface Options {
  smoke: boolean;
  orders: number;
  concurrency: number;
  warmup: number;
  rounds: number;
  parked: number[];
  mix: Record<ScenarioKind, number>;
  reminderInterval?: number;
  bookConcurrency: number;
  transferConcurrency: number;
  apiDuration: number;
  apiConnections: number;
  samples: number;
  poolSizes: number[];
  poolOrders: number;
  fleet: number;
  fleetVas: number;
  fleetConcurrency: number;
  fleetSeconds: number;
  fleetOffered: number;
  fleetOfferedSeconds: number;
  viewInstances: number;
  viewSkus: number;
  viewConnections: number;
  viewSeconds: number;
  clockInstances: number;
  trueUpAccounts: number;
  overloadFactor: number;
  overloadSeconds: number;
  overloadConnections: number;
  overloadCapacitySeconds: number;
  overloadInFlight?: number;
  skip: Part[];
  out?: string;
  render?: string;
  temporalStore: TemporalStore;
  /** Order worker processes on the throughput part's task queue (and as many engine-limit ones). */
  orderWorkers: number;
}

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1`);
  return n;
};

export function parseArgs(argv: string[]): Options {
  const program = withStackOptions(withOverloadOptions(withScaleOptions(withFleetOptions(new Command()))))
    .name('npm run bench --')
    .description('Measures throughput, latency, Temporal cost per order, parked scale and the API on a real stack of its own.')
    .option('--smoke', 'a few orders per part, every part exercised (CI); writes to .data/bench/, never to docs/', false)
    .option('--orders <n>', 'orders in the throughput and engine-limit parts', positiveInt('--orders'))
    .option('--concurrency <n>', 'orders in flight in the throughput and engine-limit parts', positiveInt('--concurrency'))
    .option('--warmup <n>', 'orders run (and not counted) before each throughput measurement', (v) => Number(v))
    .option('--rounds <n>', 'alternating rounds of ours and the engine-limit workflow', positiveInt('--rounds'))
    .option('--parked <list>', 'parked-scale levels, comma-separated', (v) => v.split(',').map((x) => positiveInt('--parked')(x.trim())))
    .option('--mix <list>', 'the mix in percent, e.g. direct=40,held=25,delegated=15,classic=20', parseMix)
    .option(
      '--reminder-interval <duration>',
      'REMINDER_INTERVAL of the parked workers (default: a bit more than each level takes to park)',
      (v) => {
        const ms = parseDuration(v);
        if (ms === undefined) throw new InvalidArgumentError('--reminder-interval must be a duration such as 30s or 5m');
        return ms;
      },
    )
    .option('--book-concurrency <n>', 'bookings in flight while parking', positiveInt('--book-concurrency'))
    .option(
      '--transfer-concurrency <n>',
      'assignSmartAccount Updates in flight in the bulk transfer, all batches together (default 8: WORKER_MAX_CONCURRENT_WORKFLOW_TASKS)',
      positiveInt('--transfer-concurrency'),
    )
    .option('--api-duration <s>', 'seconds of load per API route', positiveInt('--api-duration'))
    .option('--api-connections <n>', 'autocannon connections', positiveInt('--api-connections'))
    .option('--samples <n>', 'histories fetched per scenario for the cost part', positiveInt('--samples'))
    .option('--pool-sizes <list>', 'DATABASE_POOL_MAX values of the pool part, comma-separated', (v) =>
      v.split(',').map((x) => positiveInt('--pool-sizes')(x.trim())),
    )
    .option('--pool-orders <n>', 'orders per pool size', positiveInt('--pool-orders'))
    .option('--skip <parts>', `parts to skip, comma-separated (${PARTS.join(', ')}); the docs are then not written`, (v) =>
      v.split(',').map((p) => {
        if (!PARTS.includes(p.trim() as Part)) throw new InvalidArgumentError(`--skip: unknown part "${p}"`);
        return p.trim() as Part;
      }),
    )
    .option('--out <dir>', 'write BENCHMARKS.md and latest.json here instead')
    .option(
      '--render <json>',
      'run nothing: write BENCHMARKS.md again from a latest.json (after editing bench/findings.md or bench/method.md)',
    )
    .parse(argv, { from: 'user' });
  const o = program.opts();
  const smoke = Boolean(o.smoke);
  return {
    smoke,
    orders: o.orders ?? (smoke ? 8 : 2000),
    concurrency: o.concurrency ?? (smoke ? 4 : 32),
    warmup: o.warmup ?? (smoke ? 4 : 40),
    rounds: o.rounds ?? (smoke ? 2 : 4),
    parked: o.parked ?? (smoke ? [3, 6] : [1000, 5000, 10000]),
    mix: o.mix ?? DEFAULT_MIX,
    reminderInterval: o.reminderInterval,
    bookConcurrency: o.bookConcurrency ?? (smoke ? 3 : 20),
    transferConcurrency: o.transferConcurrency ?? (smoke ? 3 : 8),
    apiDuration: o.apiDuration ?? (smoke ? 1 : 10),
    apiConnections: o.apiConnections ?? (smoke ? 2 : 10),
    samples: o.samples ?? (smoke ? 2 : 10),
    poolSizes: o.poolSizes ?? (smoke ? [1, 4] : [2, 5, 10, 20]),
    poolOrders: o.poolOrders ?? (smoke ? 4 : 300),
    ...fleetOptions(o, smoke),
    viewInstances: o.viewInstances ?? (smoke ? 200 : 10_000),
    viewSkus: o.viewSkus ?? (smoke ? 10 : 100),
    viewConnections: o.viewConnections ?? (smoke ? 2 : 10),
    viewSeconds: o.viewSeconds ?? (smoke ? 1 : 10),
    clockInstances: o.clockInstances ?? (smoke ? 2000 : 100_000),
    trueUpAccounts: o.trueUpAccounts ?? (smoke ? 5 : 1000),
    ...overloadOptions(o, smoke),
    skip: o.skip ?? [],
    out: o.out,
    render: o.render,
    ...stackOptions(o),
  };
}

function parseMix(value: string): Record<ScenarioKind, number> {
  const mix: Record<ScenarioKind, number> = { direct: 0, held: 0, delegated: 0, classic: 0 };
  for (const part of value.split(',')) {
    const [kind, weight] = part.split('=').map((s) => s.trim());
    if (!SCENARIO_KINDS.includes(kind as ScenarioKind) || !(Number(weight) >= 0)) {
      throw new InvalidArgumentError(`--mix: "${part}" must be kind=percent with kind one of ${SCENARIO_KINDS.join(', ')}`);
    }
    mix[kind as ScenarioKind] = Number(weight);
  }
  if (Object.values(mix).every((w) => w === 0)) throw new InvalidArgumentError('--mix: at least one kind needs a weight');
  return mix;
}

/** The license-use part's options: the simulated fleet. */
function withFleetOptions(program: Command): Command {
  return program
    .option('--fleet <n>', 'product instances of the license-use part', positiveInt('--fleet'))
    .option('--fleet-vas <n>', 'virtual accounts the fleet is spread over', positiveInt('--fleet-vas'))
    .option('--fleet-concurrency <n>', 'device requests in flight in the license-use part', positiveInt('--fleet-concurrency'))
    .option('--fleet-seconds <s>', 'seconds of usage reports (HTTP, then straight against Postgres)', positiveInt('--fleet-seconds'))
    .option(
      '--fleet-offered <n>',
      'usage reports a second offered in the open-loop phase (the target rate)',
      positiveInt('--fleet-offered'),
    )
    .option('--fleet-offered-seconds <s>', 'seconds of the open-loop phase', positiveInt('--fleet-offered-seconds'));
}

/** The license-use scale parts' options: the views, the clock's fleet, the true-ups. */
function withScaleOptions(program: Command): Command {
  return program
    .option('--view-instances <n>', 'product instances in the one VA the license-view part reads', positiveInt('--view-instances'))
    .option('--view-skus <n>', 'SKUs (pools) of that VA', positiveInt('--view-skus'))
    .option('--view-connections <n>', 'autocannon connections of the license-view part', positiveInt('--view-connections'))
    .option('--view-seconds <s>', 'seconds of load per view route', positiveInt('--view-seconds'))
    .option('--clock-instances <n>', 'product instances the license-clock part sweeps', positiveInt('--clock-instances'))
    .option('--true-up-accounts <n>', 'Smart Accounts reconciled at once in the true-up part', positiveInt('--true-up-accounts'));
}

type FleetOptionValues = Pick<Options, 'fleet' | 'fleetVas' | 'fleetConcurrency' | 'fleetSeconds' | 'fleetOffered' | 'fleetOfferedSeconds'>;

function fleetOptions(o: Partial<FleetOptionValues>, smoke: boolean): FleetOptionValues {
  return {
    fleet: o.fleet ?? (smoke ? 40 : 10_000),
    fleetVas: o.fleetVas ?? (smoke ? 4 : 100),
    fleetConcurrency: o.fleetConcurrency ?? (smoke ? 4 : 32),
    fleetSeconds: o.fleetSeconds ?? (smoke ? 1 : 20),
    fleetOffered: o.fleetOffered ?? (smoke ? 40 : 2000),
    fleetOfferedSeconds: o.fleetOfferedSeconds ?? (smoke ? 1 : 15),
  };
}

type OverloadOptionValues = Pick<
  Options,
  'overloadFactor' | 'overloadSeconds' | 'overloadConnections' | 'overloadCapacitySeconds' | 'overloadInFlight'
>;

function overloadOptions(o: Partial<OverloadOptionValues>, smoke: boolean): OverloadOptionValues {
  return {
    overloadFactor: o.overloadFactor ?? 2,
    overloadSeconds: o.overloadSeconds ?? (smoke ? 3 : 20),
    overloadConnections: o.overloadConnections ?? (smoke ? 4 : 32),
    overloadCapacitySeconds: o.overloadCapacitySeconds ?? (smoke ? 2 : 10),
    overloadInFlight: o.overloadInFlight,
  };
}

/** The overload part's options: capacity first, then a multiple of it offered. */
function withOverloadOptions(program: Command): Command {
  return program
    .option('--overload-factor <x>', 'offered load of the overload part, times the measured capacity (default 2)', (v) => {
      const x = Number(v);
      if (!(x > 0)) throw new InvalidArgumentError('--overload-factor must be a positive number');
      return x;
    })
    .option('--overload-seconds <s>', 'seconds of offered load in the overload part', positiveInt('--overload-seconds'))
    .option('--overload-connections <n>', 'closed-loop connections measuring the capacity', positiveInt('--overload-connections'))
    .option('--overload-capacity-seconds <s>', 'seconds measuring the capacity', positiveInt('--overload-capacity-seconds'))
    .option(
      '--overload-in-flight <n>',
      'API_MAX_IN_FLIGHT of the API under load (default: the production default)',
      positiveInt('--overload-in-flight'),
    );
}

function stackOptions(o: Partial<Pick<Options, 'temporalStore' | 'orderWorkers'>>): Pick<Options, 'temporalStore' | 'orderWorkers'> {
  return { temporalStore: o.temporalStore ?? 'wal', orderWorkers: o.orderWorkers ?? 1 };
}

export const TEMPORAL_STORES: readonly TemporalStore[] = ['wal', 'file', 'memory', 'postgres'];

/** Which Temporal the bench runs on and how it stores its state; how many worker processes share the throughput part. */
function withStackOptions(program: Command): Command {
  return program
    .option(
      '--temporal-store <store>',
      "the dev server's store: wal (SQLite file, WAL), file (SQLite file, the CLI's default journal) or memory; " +
        "or postgres: the production shape's temporal-server v1.29.1 on Postgres instead of the dev server",
      (v) => {
        if (!TEMPORAL_STORES.includes(v as TemporalStore))
          throw new InvalidArgumentError(`--temporal-store must be one of ${TEMPORAL_STORES.join(', ')}`);
        return v as TemporalStore;
      },
    )
    .option(
      '--order-workers <n>',
      "worker processes polling the throughput part's task queue (and as many for the engine-limit workflow); default 1",
      positiveInt('--order-workers'),
    );
}
