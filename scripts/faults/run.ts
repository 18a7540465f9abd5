/**
 * Fault injection (`npm run test:faults`; CI runs `npm run test:faults -- --smoke`).
 *
 * For each fault, a separate run on services of its own (nothing else on the machine is
 * touched: other test runs share it): a private Postgres cluster in .data/faults/pg, a Temporal
 * dev server with its own SQLite file, the SMTP catcher, and the real worker process
 * (`node --import tsx workers/main.ts`). Orders of every scenario kind are booked and driven;
 * half-way through booking the fault hits (worker SIGKILLed and restarted, Postgres stopped for
 * the outage, SMTP stopped for the outage, Temporal dev server restarted); then every order is
 * driven to its end state and the run asserts what Postgres, Temporal and the received mail
 * say. It prints a table; a full run writes it into docs/RELIABILITY.md, a smoke run into
 * .data/faults/ only. Exit code 0 only when every fault run passed.
 *
 * `--production` runs the production shape instead (scripts/faults/production-run.ts):
 * temporal-server on the same private cluster, Mailpit, two workers and two APIs, with its own
 * faults (one of two workers killed, temporal-server restarted, Postgres stopped for 30 s).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { cleanUp, cleanups } from './cleanup';
import { BASE, runFault } from './fault-run';
import {
  FAULT_DESCRIPTIONS,
  PRODUCTION_FAULT_DESCRIPTIONS,
  USAGE,
  UsageError,
  commandLineOf,
  parseFaultArgs,
  type FaultKind,
  type FaultRunOptions,
} from './options';
import { kindCounts, planOrders } from './plan';
import { formatSection, formatTable, passed, replaceSection, type FaultResult } from './report';
import { productionBinaries } from './production-services';
import { runProductionFault } from './production-run';
import { ProcessRegistry, findPostgresBin, startPrivatePostgres } from './services';

const ROOT = resolve(__dirname, '../..');

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Set by Ctrl-C or SIGTERM: the run then fails as its services go away; only this cleanup may end the process. */
let stopping: Promise<void> | undefined;

async function main(argv: string[]): Promise<number> {
  let options: FaultRunOptions | 'help';
  try {
    options = parseFaultArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    say(USAGE);
    return 0;
  }
  const startedAt = Date.now();
  mkdirSync(BASE, { recursive: true });
  const registryFile = join(BASE, 'processes.json');
  for (const leftover of ProcessRegistry.reapLeftovers(registryFile)) say(`stopped a leftover of an earlier run: ${leftover}`);
  const registry = new ProcessRegistry(registryFile);
  // Whatever happens to this process, its children do not outlive it.
  process.on('exit', () => registry.killAllNow());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`\n${signal}: stopping everything this run started`);
      ignoreStragglers();
      stopping = cleanUp().finally(() => process.exit(130));
    });
  }

  // The production shape needs temporal-server and Mailpit (built into the cache the first time), not the CLI.
  const bins = options.production ? productionBinaries() : undefined;
  const binary =
    bins?.server ??
    execFileSync('bash', [join(ROOT, 'scripts/ensure-temporal-cli.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
  const plan = planOrders(options.orders, options.rampSeconds * 1000, 'x');
  say(
    `Fault runs${options.production ? ' of the production shape' : ''}: ${options.faults.join(', ')}; ${options.orders} orders each (${Object.entries(
      kindCounts(plan),
    )
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}), booked over ${options.rampSeconds} s, the fault at ${options.rampSeconds / 2} s; outage ${options.outageSeconds} s; ` +
      `REMINDER_INTERVAL=${options.reminderInterval} ESCALATION_AFTER=${options.escalationAfter}; seed ${options.seed}`,
  );

  const results: FaultResult[] = [];
  try {
    const pg = await startPrivatePostgres(join(BASE, 'pg'), registry);
    cleanups.push({ name: 'postgres', run: () => pg.destroy() });
    say(`Private Postgres: 127.0.0.1:${pg.port} (${pg.dataDir})`);
    for (const fault of options.faults) {
      say(`\n=== ${fault}: ${descriptionOf(fault, options)}`);
      results.push(
        bins ? await runProductionFault(fault, options, { pg, bins, registry }) : await runFault(fault, options, { pg, binary, registry }),
      );
      const r = results[results.length - 1];
      say(`=== ${fault}: ${passed(r) ? 'pass' : 'FAIL'}`);
    }
  } finally {
    await cleanUp();
  }

  writeReport(argv, options, results, { startedAt, binary });
  return results.every(passed) ? 0 : 1;
}

/** The table on the terminal, the run in .data/faults/, and with --write-docs in docs/RELIABILITY.md. */
function writeReport(argv: string[], options: FaultRunOptions, results: FaultResult[], run: { startedAt: number; binary: string }): void {
  const { startedAt, binary } = run;
  const table = formatTable(results);
  const durationSeconds = (Date.now() - startedAt) / 1000;
  say(`\n${table}\n\nAll fault runs took ${Math.round(durationSeconds)} s.`);
  for (const r of results) for (const note of r.notes) say(`  ${r.fault}: ${note}`);

  const section = formatSection({
    command: commandLineOf(argv),
    finishedAt: new Date(),
    durationSeconds,
    machine:
      `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}, ` +
      (options.production
        ? `temporal-server ${basename(resolve(binary, '..'))} on Postgres, 2 workers, 2 APIs, Mailpit`
        : `Temporal CLI ${basename(resolve(binary, '..'))} dev server (SQLite file)`) +
      `, PostgreSQL ${basename(resolve(findPostgresBin(), '..'))}`,
    settings:
      `${options.orders} orders per fault run, booked over ${options.rampSeconds} s with the fault at ${options.rampSeconds / 2} s, ` +
      `outage ${options.outageSeconds} s, REMINDER_INTERVAL=${options.reminderInterval}, ESCALATION_AFTER=${options.escalationAfter}, seed ${options.seed}`,
    results,
  });
  const name = `${options.production ? 'production-' : ''}${options.smoke ? 'latest-smoke' : 'latest-run'}`;
  writeFileSync(join(BASE, `${name}.md`), `${section}\n`);
  writeFileSync(join(BASE, `${name}.json`), JSON.stringify({ command: commandLineOf(argv), options, durationSeconds, results }, null, 2));
  say(`Written: ${join(BASE, `${name}.md`)}`);
  if (options.writeDocs) {
    const docPath = join(ROOT, 'docs', 'RELIABILITY.md');
    const doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Reliability\n';
    writeFileSync(docPath, replaceSection(doc, section));
    say(`Written: ${docPath}`);
  }
}

function descriptionOf(fault: FaultKind, options: FaultRunOptions): string {
  return options.production
    ? PRODUCTION_FAULT_DESCRIPTIONS[fault as keyof typeof PRODUCTION_FAULT_DESCRIPTIONS]
    : FAULT_DESCRIPTIONS[fault];
}

/**
 * While stopping early, drivers still retry in the background; once their connection is closed
 * their retries fail from timers. Those errors must not cut the cleanup short.
 */
function ignoreStragglers(): void {
  const note = (err: unknown) => process.stderr.write(`(while stopping) ${(err as Error)?.message ?? err}\n`);
  process.on('uncaughtException', note);
  process.on('unhandledRejection', note);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (err) => {
    if (stopping) return stopping;
    process.stderr.write(`fault run failed: ${(err as Error).stack ?? err}\n`);
    ignoreStragglers();
    await cleanUp();
    process.exit(1);
  },
);
