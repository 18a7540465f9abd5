import { Client, type ClientInterceptors, type Connection } from '@temporalio/client';
import { type NativeConnection, Worker, type WorkerOptions, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type ActivityDependencies } from '../activities';
import type { Config } from '../src/config';
import { workerTracingOptions, type Tracing } from '../src/observability/tracing';
import { dataConverterFor } from '../src/temporal/connect';
import { orderWorkflowInterceptorModules, orderWorkflowsPath } from '../src/temporal/workflow-bundle';

export interface OrderWorkerOptions extends ActivityDependencies {
  config: ActivityDependencies['config'] &
    Pick<Config, 'payloadEncryptionKeys'> &
    Partial<Pick<Config, 'workerMaxCachedWorkflows' | 'workerMaxConcurrentWorkflowTasks' | 'workerMaxConcurrentActivities'>>;
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** A pre-built bundle (tests build one for all files); otherwise the workflows are bundled now. */
  workflowBundle?: WorkflowBundleOption;
  /**
   * How long a stopping worker lets running activities finish before cancelling them. The process
   * sets one so SIGTERM drains; tests keep the SDK default (0) so a file's worker stops at once.
   */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  /** Set when tracing is configured (src/observability/tracing.ts): activity spans, and workflow spans exported. */
  tracing?: Tracing;
}

/**
 * Where a worker process polls and the client its activities start and signal workflows with,
 * both from the configuration (the worker process and the benchmark's workers).
 */
export function temporalPartsFrom(
  config: Config,
  clientConnection: Connection,
  interceptors?: ClientInterceptors,
): Pick<OrderWorkerOptions, 'namespace' | 'taskQueue' | 'temporal'> {
  return {
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    temporal: new Client({
      connection: clientConnection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(config),
      ...(interceptors ? { interceptors } : {}),
    }),
  };
}

/** The order worker: the order and activation workflows plus the activities bound to real Postgres, SMTP and Temporal. */
export async function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  const tracing = workerTracingOptions(options.tracing);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: orderWorkflowsPath() }),
    ...(options.shutdownGraceTime !== undefined ? { shutdownGraceTime: options.shutdownGraceTime } : {}),
    // WORKER_MAX_CACHED_WORKFLOWS: the SDK's default grows with the heap (thousands), so memory
    // would grow with every parked order; bounded, an evicted order replays its history when it
    // next wakes (a reminder, a transfer).
    ...(options.config.workerMaxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.config.workerMaxCachedWorkflows } : {}),
    // WORKER_MAX_CONCURRENT_WORKFLOW_TASKS / _ACTIVITIES: the SDK's 40 and 100 let a burst (a bulk
    // transfer replaying evicted orders) hold that many at once in memory; the workflow code runs
    // on one thread and activities share DATABASE_POOL_MAX connections, so more add no throughput.
    ...(options.config.workerMaxConcurrentWorkflowTasks !== undefined
      ? { maxConcurrentWorkflowTaskExecutions: options.config.workerMaxConcurrentWorkflowTasks }
      : {}),
    ...(options.config.workerMaxConcurrentActivities !== undefined
      ? { maxConcurrentActivityTaskExecutions: options.config.workerMaxConcurrentActivities }
      : {}),
    // R14: payloads are sealed before they reach Temporal (src/temporal/payload-codec.ts).
    dataConverter: dataConverterFor(options.config),
    activities: createActivities(options),
    // Tracing (docs/OBSERVABILITY.md, "Traces"): the workflow interceptors are in every bundle,
    // a pre-built one (src/temporal/workflow-bundle.ts) or the one made here at start.
    interceptors: { ...tracing.interceptors, ...(options.workflowBundle ? {} : { workflowModules: orderWorkflowInterceptorModules() }) },
    sinks: tracing.sinks,
  });
}
