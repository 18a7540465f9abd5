/**
 * Command-line options of the fault-injection runner (`tsx scripts/faults/run.ts`). Pure: parsed
 * from argv only, so the unit tests can check every flag and every refusal.
 */

/** The faults, one separate run each, in the order they run. */
export const FAULTS = ['worker-kill', 'postgres-stop', 'smtp-stop', 'temporal-restart'] as const;
/**
 * The faults of the production shape (--production: temporal-server on Postgres, two workers, two
 * APIs, Mailpit), which only it has or which hit it differently: one of the two workers killed
 * while the other carries on, the Temporal server restarted, Postgres (Temporal's and the app's)
 * stopped.
 */
export const PRODUCTION_FAULTS = ['one-worker-kill', 'temporal-restart', 'postgres-stop'] as const;
export type FaultKind = (typeof FAULTS)[number] | (typeof PRODUCTION_FAULTS)[number];

export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  'worker-kill': 'SIGKILL the worker process group, start a new worker at once',
  'postgres-stop': 'pg_ctl stop -m fast, wait the outage, pg_ctl start',
  'smtp-stop': 'stop the SMTP server, wait the outage, start it again on the same port',
  'temporal-restart': 'stop the Temporal dev server (SIGTERM), start it again on the same SQLite file',
  'one-worker-kill': 'SIGKILL the process group of worker 1 of 2, worker 2 carries on alone for the outage, then worker 1 starts again',
};

/** With --production the same names say what happens to the production shape. */
export const PRODUCTION_FAULT_DESCRIPTIONS: Record<(typeof PRODUCTION_FAULTS)[number], string> = {
  'one-worker-kill': FAULT_DESCRIPTIONS['one-worker-kill'],
  'temporal-restart': 'stop temporal-server (SIGTERM), start it again on the same Postgres databases and ports',
  'postgres-stop': "pg_ctl stop -m fast of the cluster holding Temporal's two databases and the app's, wait the outage, pg_ctl start",
};

export interface FaultRunOptions {
  smoke: boolean;
  /** The production shape instead of the dev-server stack, with its own faults (PRODUCTION_FAULTS). */
  production: boolean;
  /** Orders per fault run, spread round-robin over the scenario kinds. */
  orders: number;
  faults: FaultKind[];
  /** How long Postgres and SMTP stay down. */
  outageSeconds: number;
  /** Orders are booked evenly over this many seconds; the fault hits half-way through. */
  rampSeconds: number;
  /** Per fault run: orders not at their end state by then count as lost. */
  deadlineSeconds: number;
  /** REMINDER_INTERVAL and ESCALATION_AFTER of the worker: short, so reminders and escalations happen during the run. */
  reminderInterval: string;
  escalationAfter: string;
  /** Write the table into docs/RELIABILITY.md (full runs only, unless --no-docs). */
  writeDocs: boolean;
  /** Seed of the random human delays, printed so a run's timing can be repeated. */
  seed: number;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `Usage: tsx scripts/faults/run.ts [options]   (npm run test:faults -- [options])

  --smoke               the CI size: 21 orders per fault (3 of each kind), results to .data/faults/ only
  --production          the production shape (temporal-server on Postgres, 2 workers, 2 APIs, Mailpit) and its
                        faults: ${PRODUCTION_FAULTS.join(', ')}; outage 30 s unless --outage says
  --orders N            orders per fault run (default 200; --smoke: 21), spread over the 7 scenario kinds
  --faults a,b          which faults to run (default all): ${FAULTS.join(', ')}
  --outage SECONDS      how long Postgres and SMTP (--production: Postgres, worker 1) stay down (default 20; --production: 30)
  --ramp SECONDS        book the orders over this many seconds; the fault hits half-way (default 60; --smoke: 12)
  --deadline SECONDS    per fault run, after which unfinished orders count as lost (default 900; --smoke: 300)
  --reminder DURATION   REMINDER_INTERVAL of the worker (default 8s)
  --escalation DURATION ESCALATION_AFTER of the worker (default 20s)
  --seed N              seed of the random human delays (default: the time)
  --no-docs             do not write docs/RELIABILITY.md (a full run writes it by default)
  --help                this text`;

const DURATION = /^\d+(ms|s|m|h|d)$/;

/** Parses argv (without node and the script). Throws UsageError naming the flag and the reason. */
export function parseFaultArgs(argv: string[], now: () => number = Date.now): FaultRunOptions | 'help' {
  const given = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--smoke' || flag === '--no-docs' || flag === '--production') {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
      given.set(flag, true);
      continue;
    }
    if (!['--orders', '--faults', '--outage', '--ramp', '--deadline', '--reminder', '--escalation', '--seed'].includes(flag)) {
      throw new UsageError(`unknown option "${flag}"`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    given.set(flag, value);
  }

  const smoke = given.has('--smoke');
  const production = given.has('--production');
  const known: readonly FaultKind[] = production ? PRODUCTION_FAULTS : FAULTS;
  const count = (flag: string, fallback: number, min: number, max: number): number => {
    const value = given.get(flag);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || n > max) {
      throw new UsageError(`${flag} must be a whole number from ${min} to ${max} (got "${String(value)}")`);
    }
    return n;
  };
  const duration = (flag: string, fallback: string): string => {
    const value = given.get(flag);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !DURATION.test(value))
      throw new UsageError(`${flag} must be a duration such as 500ms, 8s or 2m (got "${String(value)}")`);
    return value;
  };

  let faults: FaultKind[] = [...known];
  const faultList = given.get('--faults');
  if (typeof faultList === 'string') {
    const names = faultList
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = names.filter((n) => !(known as readonly string[]).includes(n));
    if (names.length === 0 || unknown.length > 0) {
      throw new UsageError(`--faults must list some of ${known.join(', ')} (unknown: ${unknown.join(', ') || 'none given'})`);
    }
    // Always in the canonical order, each once.
    faults = known.filter((f) => names.includes(f));
  }

  return {
    smoke,
    production,
    orders: count('--orders', smoke ? 21 : 200, 1, 5_000),
    faults,
    outageSeconds: count('--outage', production ? 30 : 20, 1, 600),
    rampSeconds: count('--ramp', smoke ? 12 : 60, 1, 3_600),
    deadlineSeconds: count('--deadline', smoke ? 300 : 900, 30, 7_200),
    reminderInterval: duration('--reminder', '8s'),
    escalationAfter: duration('--escalation', '20s'),
    // The docs' table is the dev-server run's; the production shape's figures are written by hand.
    writeDocs: !smoke && !production && !given.has('--no-docs'),
    seed: count('--seed', now() % 1_000_000_007, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** The command line that reproduces a run (written next to its table). */
export function commandLineOf(argv: string[]): string {
  const args = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return ['npm run test:faults', ...(args.length ? ['--', ...args] : [])].join(' ');
}
