import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** Something the quick start started and stops again, newest first. */
export interface Stoppable {
  name: string;
  stop: () => Promise<void>;
  pid?: number;
}

/**
 * What the quick start started, stopped in reverse order. If the process dies without the
 * orderly shutdown (an exception, a closed pipe), its children must not outlive it: the exit
 * handler SIGTERMs each child still registered.
 */
export class StackProcesses {
  private readonly stops: Stoppable[] = [];

  constructor(private readonly cwd: string) {
    process.on('exit', () => {
      for (const { pid } of this.stops) {
        if (!pid) continue;
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    });
  }

  add(entry: Stoppable): void {
    this.stops.push(entry);
  }

  /** One at a time off the end, so a death mid-way still leaves the rest to the exit handler. */
  async stopAll(): Promise<void> {
    for (let entry = this.stops.pop(); entry; entry = this.stops.pop()) {
      const { name, stop } = entry;
      process.stdout.write(`    stopping ${name}\n`);
      await stop().catch((err: unknown) => process.stderr.write(`    ${name}: ${(err as Error).message}\n`));
    }
  }

  /**
   * A child in its own process group, so Ctrl-C reaches only us and we stop children in order.
   * Its output is printed with a `[name]` prefix, or appended to `logFile` (a chatty server).
   */
  spawnChild(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv, options: { logFile?: string } = {}): ChildProcess {
    const log = options.logFile ? openSync(options.logFile, 'a') : undefined;
    const stdio = log === undefined ? (['ignore', 'pipe', 'pipe'] as const) : (['ignore', log, log] as const);
    const child = spawn(command, args, { cwd: this.cwd, env: env ?? process.env, stdio: [...stdio], detached: true });
    if (log !== undefined) closeSync(log);
    const prefix = (chunk: Buffer) =>
      chunk
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((line) => `[${name}] ${line}\n`)
        .join('');
    child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(prefix(chunk)));
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(prefix(chunk)));
    this.add({
      name,
      pid: child.pid,
      stop: () =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGINT');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    });
    return child;
  }
}
