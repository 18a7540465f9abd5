/**
 * CPU time per process, from /proc (Linux): where an order's CPU goes. On a machine whose cores
 * are shared by the worker, the Temporal server, Postgres and the driver, throughput follows the
 * CPU an order costs all of them together, so each one's share points at what to cut.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { CpuPerOrder } from './results';

/** Clock ticks per second of /proc/<pid>/stat's times; 100 on Linux (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

/** User + system CPU of a process so far, in ms (0 once it is gone). */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces or parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Postgres backends serving `database` (or any of several; their process title names it), with their CPU so far. */
export function postgresBackendsCpuMs(database: string | readonly string[]): Map<number, number> {
  const names = typeof database === 'string' ? [database] : database;
  const out = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return out;
  }
  for (const name of pids) {
    try {
      const title = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (title.startsWith('postgres:') && names.some((db) => title.includes(` ${db} `))) out.set(Number(name), processCpuMs(Number(name)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export interface CpuSnapshot {
  workers: number[];
  temporalServer: number;
  driver: number;
  postgres: Map<number, number>;
  temporalPostgres: Map<number, number>;
}

export interface CpuSpent {
  /** All worker processes together. */
  worker: number;
  /** Each worker process, in the order their pids were given. */
  workers: number[];
  temporalServer: number;
  /** Backends of Temporal's own databases (production shape; 0 on the dev server, whose SQLite is in its process). */
  temporalPostgres: number;
  /** Backends that closed between the snapshots are missed: a lower bound. */
  postgres: number;
  driver: number;
}

/** What to read: the worker processes, the Temporal server, the bench database and Temporal's own databases (if any). */
export interface CpuSources {
  workers: readonly number[];
  temporalServer: number;
  database: string;
  temporalDatabases?: readonly string[];
  /** The bench's SMTP server process (bench/mail-process.ts): counted with the driver, as when it ran inside it. */
  mailServer?: number;
}

export function cpuSnapshot(sources: CpuSources): CpuSnapshot {
  const driver = process.cpuUsage();
  const temporalDatabases = sources.temporalDatabases ?? [];
  return {
    workers: sources.workers.map(processCpuMs),
    temporalServer: processCpuMs(sources.temporalServer),
    driver: (driver.user + driver.system) / 1000 + (sources.mailServer ? processCpuMs(sources.mailServer) : 0),
    postgres: postgresBackendsCpuMs(sources.database),
    temporalPostgres: temporalDatabases.length ? postgresBackendsCpuMs(temporalDatabases) : new Map(),
  };
}

function backendsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let spent = 0;
  for (const [pid, ms] of after) spent += Math.max(0, ms - (before.get(pid) ?? 0));
  return spent;
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuSpent {
  const workers = after.workers.map((ms, i) => ms - (before.workers[i] ?? 0));
  return {
    worker: workers.reduce((a, b) => a + b, 0),
    workers,
    temporalServer: after.temporalServer - before.temporalServer,
    temporalPostgres: backendsBetween(before.temporalPostgres, after.temporalPostgres),
    postgres: backendsBetween(before.postgres, after.postgres),
    driver: after.driver - before.driver,
  };
}

export function addCpu(a: CpuSpent, b: CpuSpent): CpuSpent {
  const length = Math.max(a.workers.length, b.workers.length);
  return {
    worker: a.worker + b.worker,
    workers: Array.from({ length }, (_, i) => (a.workers[i] ?? 0) + (b.workers[i] ?? 0)),
    temporalServer: a.temporalServer + b.temporalServer,
    temporalPostgres: a.temporalPostgres + b.temporalPostgres,
    postgres: a.postgres + b.postgres,
    driver: a.driver + b.driver,
  };
}

/** CPU ms per order of each process; `workers` (one entry per worker process) only when there are several. */
export function perOrder(spent: CpuSpent, orders: number): CpuPerOrder {
  const n = Math.max(1, orders);
  const out = {
    worker: spent.worker / n,
    temporalServer: spent.temporalServer / n,
    postgres: spent.postgres / n,
    driver: spent.driver / n,
  };
  const temporalPostgres = spent.temporalPostgres / n;
  return {
    ...out,
    ...(spent.temporalPostgres > 0 ? { temporalPostgres } : {}),
    ...(spent.workers.length > 1 ? { workers: spent.workers.map((ms) => ms / n) } : {}),
    total: out.worker + out.temporalServer + temporalPostgres + out.postgres + out.driver,
  };
}

export const NO_CPU: CpuSpent = { worker: 0, workers: [], temporalServer: 0, temporalPostgres: 0, postgres: 0, driver: 0 };
