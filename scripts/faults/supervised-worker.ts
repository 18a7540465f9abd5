/**
 * A worker process of a fault run, supervised: one that exits by itself is noted and started
 * again, as a process manager would. The dev-server run has one; the production shape two.
 */
import type { Connection } from '@temporalio/client';
import { freePort, spawnWorker, type ProcessRegistry, type WorkerProcess } from './services';

export interface SupervisedWorkerOptions {
  /** Who it is in the notes ("the worker", "worker 1"). */
  name: string;
  root: string;
  env: Record<string, string>;
  connection: Connection;
  namespace: string;
  taskQueue: string;
  logFile: string;
  registry: ProcessRegistry;
  notes: string[];
  nodeFlags?: readonly string[];
}

export class SupervisedWorker {
  current: WorkerProcess | undefined;
  expectingExit = false;
  /** Set when the orders start; exits are reported relative to it. */
  runStartedAt = Date.now();

  constructor(private readonly options: SupervisedWorkerOptions) {}

  async start(): Promise<WorkerProcess> {
    const { options } = this;
    const w = spawnWorker({
      root: options.root,
      env: { ...options.env, WORKER_METRICS_LISTEN: `127.0.0.1:${await freePort()}` },
      logFile: options.logFile,
      connection: options.connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      registry: options.registry,
      nodeFlags: options.nodeFlags,
    });
    void w.exited.then(({ code, signal }) => {
      if (this.expectingExit || this.current !== w) return;
      options.notes.push(
        `${options.name} exited by itself (${signal ?? `code ${code}`}) at +${Math.round((Date.now() - this.runStartedAt) / 1000)} s; restarted (see ${options.logFile.replace(/^.*\/\.data\//, '.data/')})`,
      );
      this.start().catch((err: Error) => options.notes.push(`${options.name} could not be restarted: ${err.message}`));
    });
    this.current = w;
    return w;
  }

  /** SIGKILL to its process group (nothing of it finishes what it was doing); not restarted. */
  async kill(): Promise<number> {
    this.expectingExit = true;
    const killed = this.current!.pid;
    await this.current!.kill();
    this.expectingExit = false;
    return killed;
  }

  async stopForGood(): Promise<void> {
    this.expectingExit = true;
    await this.current?.stop();
  }
}
