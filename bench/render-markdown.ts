/** The run as Markdown, for docs/BENCHMARKS.md and .data/bench/. */
import { TARGETS, type CpuPerOrder, type BenchResults } from './results';
import { f, mb, markdownTable, summaryRows, costRows, latencyRow, prefixed } from './render-tables';
import { licensingMarkdown } from './licensing-report';
import { licenseScaleMarkdown } from './licensing-scale-report';
import { overloadMarkdown } from './overload-report';
import { cpuColumns, workerSpreadMarkdown } from './render-workers';

type Extra = { findings?: string; method?: string };
type ParkedResults = NonNullable<BenchResults['parked']>;

export function renderMarkdown(results: BenchResults, extra: Extra = {}): string {
  const lines: string[] = [];
  headerSection(lines, results, extra);
  throughputSection(lines, results);
  engineLimitSection(lines, results);
  lines.push(...workerSpreadMarkdown(results));
  costSection(lines, results);
  if (results.parked) {
    parkedSection(lines, results.parked);
    parkedNotes(lines, results.parked);
  }
  apiSection(lines, results);
  poolSection(lines, results);

  if (results.licensing) lines.push('', ...licensingMarkdown(results.licensing));
  lines.push(...licenseScaleMarkdown(results));
  if (results.overload) lines.push('', ...overloadMarkdown(results.overload));
  if (extra.method) {
    lines.push('');
    lines.push(extra.method.trim());
  }
  if (results.failures.length) {
    lines.push('');
    lines.push('## Failures in this run');
    lines.push('');
    for (const failure of results.failures) lines.push(`- ${failure}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** The title, what this run was (date, machine, options) and the summary against the targets. */
function headerSection(lines: string[], results: BenchResults, extra: Extra): void {
  const m = results.meta;
  lines.push('# Benchmarks');
  lines.push('');
  lines.push('Written by `npm run bench` (`bench/run.ts`); the same figures are in `docs/benchmarks/latest.json`.');
  lines.push(
    `Everything runs on one machine: ${m.machine.temporalServer ? 'the Temporal server (on Postgres)' : 'the Temporal dev server (SQLite file)'}, Postgres, the SMTP server,`,
  );
  lines.push('the benchmark driver and the worker processes share its cores, so the figures are what this machine');
  lines.push('does, not what a cluster does. How each part is measured is described at the end.');
  lines.push('');
  lines.push('## This run');
  lines.push('');
  lines.push(
    markdownTable([
      ['', ''],
      ['date', m.date],
      ['command', `\`${m.command}\``],
      ['duration', `${f(m.durationS)} s`],
      ['machine', `${m.machine.cpus} × ${m.machine.cpuModel}, ${f(m.machine.ramGiB, 1)} GiB RAM, ${m.machine.os}`],
      [
        'software',
        `Node.js ${m.machine.node}, ${m.machine.temporalServer ?? `Temporal CLI ${m.machine.temporalCli} (dev server)`}, ${m.machine.postgres}`,
      ],
      ['options', `\`${JSON.stringify(m.options)}\``],
    ]),
  );
  if (m.notes.length) {
    lines.push('');
    for (const note of m.notes) lines.push(`- ${note}`);
  }
  lines.push('');
  lines.push('## Summary and targets');
  lines.push('');
  lines.push(markdownTable(summaryRows(results)));
  if (extra.findings) {
    lines.push('');
    lines.push(extra.findings.trim());
  }
}

function throughputSection(lines: string[], results: BenchResults): void {
  const t = results.throughput;
  if (t) {
    lines.push('');
    lines.push('## 1. Throughput and latency');
    lines.push('');
    lines.push(
      `${t.orders} orders, at most ${t.concurrency} in flight (closed loop: a slot books its next order when its last one is fulfilled), ` +
        `mix ${Object.entries(t.mix)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}` +
        (t.rounds && t.rounds > 1 ? `, in ${t.rounds} rounds alternating with the engine-limit workflow` : '') +
        `: ${f(t.durationS, 1)} s, **${f(t.ordersPerSecond, 1)} orders fulfilled per second**.`,
    );
    lines.push('');
    lines.push(
      markdownTable([
        ['latency (ms)', 'orders', 'p50', 'p95', 'p99', 'max'],
        latencyRow('booking -> provisioned, all', t.provisionedLatencyMs),
        ...Object.entries(t.perKind).map(([kind, k]) => latencyRow(`booking -> provisioned, ${kind}`, k.provisionedLatencyMs)),
        latencyRow('booking -> workflow completed, all', t.completedLatencyMs),
      ]),
    );
  }
}

/** The engine-limit workflow: its rate, where an order's CPU goes, the shapes copied. */
function engineLimitSection(lines: string[], results: BenchResults): void {
  const e = results.engineLimit;
  if (e) {
    lines.push('');
    lines.push('## 2. Engine limit');
    lines.push('');
    lines.push(
      `The same mix and driver against \`bench/baseline/workflows.ts\`: per scenario, the same number of activities (doing nothing), ` +
        `local activities, signals, Updates and timer waits as the real orders' histories (shapes below). ` +
        `${e.orders} orders, ${e.concurrency} in flight, in the rounds between ours: ${f(e.durationS, 1)} s, **${f(e.ordersPerSecond, 1)} orders per second**; ` +
        `ours is **${f(e.ratio, 2)}** of it (target >= ${TARGETS.engineLimitRatio}).`,
    );
    const ourCpu = results.throughput?.cpuMsPerOrder;
    if (ourCpu && e.cpuMsPerOrder) {
      const { header, row } = cpuColumns(ourCpu.temporalPostgres !== undefined || e.cpuMsPerOrder.temporalPostgres !== undefined);
      const minus = (a: CpuPerOrder, b: CpuPerOrder): CpuPerOrder => ({
        worker: a.worker - b.worker,
        temporalServer: a.temporalServer - b.temporalServer,
        temporalPostgres: (a.temporalPostgres ?? 0) - (b.temporalPostgres ?? 0),
        postgres: a.postgres - b.postgres,
        driver: a.driver - b.driver,
        total: a.total - b.total,
      });
      lines.push('');
      lines.push("Where an order's CPU goes (ms per order, user + system, from /proc; the machine's cores are shared by all of these):");
      lines.push('');
      lines.push(
        markdownTable([
          header,
          row('ours', ourCpu),
          row('engine limit', e.cpuMsPerOrder),
          row('ours - engine limit', minus(ourCpu, e.cpuMsPerOrder)),
        ]),
      );
    }
    lines.push('');
    lines.push('Shapes copied from the real histories:');
    lines.push('');
    lines.push(
      markdownTable([
        ['scenario', 'local activities', 'activities at start', 'in the Update', 'after the messages', 'timers', 'signals', 'Updates'],
        ...Object.entries(e.shapes).map(([kind, s]) => [
          kind,
          String(s.localActivities),
          String(s.startActivities),
          String(s.updateActivities),
          String(s.endActivities),
          String(s.timers),
          String(s.signals),
          String(s.updates),
        ]),
      ]),
    );
  }
}

function costSection(lines: string[], results: BenchResults): void {
  if (results.cost) {
    lines.push('');
    lines.push('## 3. Cost per order');
    lines.push('');
    lines.push(`Mean over ${results.cost.sampledPerKind} sampled histories per scenario, fetched from the server after the run.`);
    lines.push('');
    lines.push(markdownTable(costRows(results.cost.perKind)));
    if (Object.keys(results.cost.engineLimit).length) {
      lines.push('');
      lines.push('The engine-limit workflow, for comparison:');
      lines.push('');
      lines.push(markdownTable(costRows(results.cost.engineLimit)));
    }
    if (Object.keys(results.cost.parked).length) {
      lines.push('');
      lines.push('Parked orders (held, reminded, then transferred; not yet shipped), per level:');
      lines.push('');
      lines.push(markdownTable(costRows(prefixed('parked ', results.cost.parked))));
    }
    lines.push('');
    lines.push('Counting rule:');
    lines.push('');
    lines.push(results.cost.rule);
  }
}

/** Per parked level: memory, Postgres growth, reminders, bulk transfer; CPU per phase. */
function parkedSection(lines: string[], p: ParkedResults): void {
  lines.push('');
  lines.push('## 4. Parked scale');
  lines.push('');
  lines.push(
    markdownTable([
      [
        'parked',
        'reminder interval (s)',
        'park (s)',
        'parked/s',
        'worker RSS idle / parked / after reminders / peak (MB)',
        'RSS peak while parking / reminding / transferring (MB)',
        'cached workflows (max)',
        'RSS per cached workflow (KB)',
        'Postgres growth (MB)',
        'holds max/s',
        'first reminders: sent / expected, spread s, max/s',
        'bulk transfer s (per s)',
      ],
      ...p.levels.map((l) => [
        String(l.orders),
        f(l.reminderIntervalS),
        f(l.parkS, 1),
        f(l.parkPerSecond, 1),
        `${f(l.workerRssIdleMB)} / ${f(l.workerRssParkedMB)} / ${f(l.workerRssAfterRemindersMB)} / ${f(l.workerRssPeakMB)}`,
        l.workerRssPeakByPhaseMB
          ? `${f(l.workerRssPeakByPhaseMB.park)} / ${f(l.workerRssPeakByPhaseMB.reminders)} / ${f(l.workerRssPeakByPhaseMB.transfer)}`
          : '',
        `${l.cachedWorkflowsParked} (${l.maxCachedWorkflows ?? 'n/a'})`,
        f(l.rssPerCachedWorkflowKB),
        f(mb(l.dbBytesDelta), 1),
        String(l.holds.maxPerSecond),
        `${l.reminders.count} / ${l.reminders.expected}, ${f(l.reminders.spreadS, 1)}, ${l.reminders.maxPerSecond}`,
        `${f(l.transfer.s, 1)} (${f(l.transfer.perSecond, 1)})${l.transfer.failures ? `, ${l.transfer.failures} failed` : ''}`,
      ]),
    ]),
  );
  if (p.levels.some((l) => l.cpuMsPerOrder)) {
    lines.push('');
    lines.push('CPU per order (ms, user + system) while parking and while transferring:');
    lines.push('');
    lines.push(
      markdownTable([
        ['parked', 'phase', 'worker process', 'Temporal server', 'Postgres', 'driver', 'total'],
        ...p.levels.flatMap((l) =>
          l.cpuMsPerOrder
            ? (['park', 'transfer'] as const).map((phase) => {
                const c = l.cpuMsPerOrder![phase];
                return [String(l.orders), phase, f(c.worker, 1), f(c.temporalServer, 1), f(c.postgres, 1), f(c.driver, 1), f(c.total, 1)];
              })
            : [],
        ),
      ]),
    );
  }
}

/** How the parked figures grow with the level, and what of them the SDK costs by itself. */
function parkedNotes(lines: string[], p: ParkedResults): void {
  lines.push('');
  lines.push(
    `Slopes (least squares over the levels): worker RSS ${f(p.slopes.rssMBPer1000.slope, 1)} MB per 1,000 parked orders (r2 ${f(p.slopes.rssMBPer1000.r2, 3)}), ` +
      `Postgres ${f(p.slopes.dbMBPer1000.slope, 2)} MB per 1,000 (r2 ${f(p.slopes.dbMBPer1000.r2, 3)}), ` +
      `bulk transfer ${f(p.slopes.transferSPer1000.slope, 1)} s per 1,000 (r2 ${f(p.slopes.transferSPer1000.r2, 3)})` +
      (p.slopes.actionsPer1000
        ? `, billable actions ${f(p.slopes.actionsPer1000.slope)} per 1,000 parked orders (r2 ${f(p.slopes.actionsPer1000.r2, 3)})`
        : '') +
      '.',
  );
  if (p.engineLimitCache) {
    lines.push('');
    lines.push(
      `For comparison, ${p.engineLimitCache.workflows} cached engine-limit workflows (no product code) cost ` +
        `${f(p.engineLimitCache.rssPerCachedWorkflowKB)} KB of worker RSS each: that much of a parked order's share is the SDK's own.`,
    );
  }
  if (p.idleRss) {
    lines.push('');
    lines.push(
      `Idle worker RSS: ${f(p.idleRss.prebuiltBundleMB)} MB with a pre-built workflow bundle (what the bench runs), ` +
        `${f(p.idleRss.bundlingAtStartMB)} MB when the worker bundles the workflows at start (what \`workers/main.ts\` does today).`,
    );
  }
}

function apiSection(lines: string[], results: BenchResults): void {
  const a = results.api;
  if (a) {
    lines.push('');
    lines.push('## 5. API');
    lines.push('');
    lines.push(
      markdownTable([
        ['route', 'connections', 'duration (s)', 'requests', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors'],
        ...[a.bareStart, a.booking, a.status].flatMap((l) =>
          l
            ? [
                [
                  l.name,
                  String(l.connections),
                  f(l.durationS),
                  String(l.requests),
                  f(l.requestsPerSecond, 1),
                  f(l.latencyMs.p50),
                  f(l.latencyMs.p90),
                  f(l.latencyMs.p99),
                  f(l.latencyMs.max),
                  String(l.non2xx),
                  String(l.errors),
                ],
              ]
            : [],
        ),
      ]),
    );
  }
}

function poolSection(lines: string[], results: BenchResults): void {
  const pool = results.pool;
  if (pool?.levels.length) {
    lines.push('');
    lines.push('## 6. Postgres pool');
    lines.push('');
    lines.push(
      `The throughput mix (ours only, one round) on a fresh order worker per \`DATABASE_POOL_MAX\`; the worker's pool counters sampled every 100 ms.`,
    );
    lines.push('');
    lines.push(
      markdownTable([
        [
          'DATABASE_POOL_MAX',
          'orders',
          'in flight',
          'orders/s',
          'provisioned p50 / p95 / p99 ms',
          'connections used, max',
          'waiting for a connection, max / mean',
          'Postgres statements per order',
          'worker CPU ms/order',
          'Postgres CPU ms/order',
          'worker RSS peak MB',
        ],
        ...pool.levels.map((l) => [
          String(l.poolMax),
          String(l.orders),
          String(l.concurrency),
          f(l.ordersPerSecond, 1),
          `${f(l.provisionedLatencyMs.p50)} / ${f(l.provisionedLatencyMs.p95)} / ${f(l.provisionedLatencyMs.p99)}`,
          String(l.connectionsUsedMax),
          `${l.waitingForConnectionMax} / ${f(l.waitingForConnectionMean, 1)}`,
          l.statementsPerOrder !== undefined ? f(l.statementsPerOrder, 1) : '',
          l.cpuMsPerOrder ? f(l.cpuMsPerOrder.worker, 1) : '',
          l.cpuMsPerOrder ? f(l.cpuMsPerOrder.postgres, 1) : '',
          f(l.workerRssPeakMB),
        ]),
      ]),
    );
  }
}
