/**
 * CPU time per process, from /proc (Linux): where an order's CPU goes. On a machine whose cores
 * are shared by the worker, the Temporal server, Postgres and the driver, throughput follows the
 * CPU an order costs all of them together, so each one's share points at what to cut.
 */
import { readdirSync, readFileSync } from 'node:fs';

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

/** Postgres backends serving `database` (their process title names it), with their CPU so far. */
export function postgresBackendsCpuMs(database: string): Map<number, number> {
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
      if (title.startsWith('postgres:') && title.includes(` ${database} `)) out.set(Number(name), processCpuMs(Number(name)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export interface CpuSnapshot {
  worker: number;
  temporalServer: number;
  driver: number;
  postgres: Map<number, number>;
}

export interface CpuSpent {
  worker: number;
  temporalServer: number;
  /** Backends that closed between the snapshots are missed: a lower bound. */
  postgres: number;
  driver: number;
}

export function cpuSnapshot(pids: { worker: number; temporalServer: number }, database: string): CpuSnapshot {
  const driver = process.cpuUsage();
  return {
    worker: processCpuMs(pids.worker),
    temporalServer: processCpuMs(pids.temporalServer),
    driver: (driver.user + driver.system) / 1000,
    postgres: postgresBackendsCpuMs(database),
  };
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuSpent {
  let postgres = 0;
  for (const [pid, ms] of after.postgres) postgres += Math.max(0, ms - (before.postgres.get(pid) ?? 0));
  return {
    worker: after.worker - before.worker,
    temporalServer: after.temporalServer - before.temporalServer,
    postgres,
    driver: after.driver - before.driver,
  };
}

export function addCpu(a: CpuSpent, b: CpuSpent): CpuSpent {
  return {
    worker: a.worker + b.worker,
    temporalServer: a.temporalServer + b.temporalServer,
    postgres: a.postgres + b.postgres,
    driver: a.driver + b.driver,
  };
}

export function perOrder(spent: CpuSpent, orders: number): CpuSpent & { total: number } {
  const n = Math.max(1, orders);
  const out = {
    worker: spent.worker / n,
    temporalServer: spent.temporalServer / n,
    postgres: spent.postgres / n,
    driver: spent.driver / n,
  };
  return { ...out, total: out.worker + out.temporalServer + out.postgres + out.driver };
}

export const NO_CPU: CpuSpent = { worker: 0, temporalServer: 0, postgres: 0, driver: 0 };
