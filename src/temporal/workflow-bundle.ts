/**
 * The order workflows bundled once, ahead of the worker: `npm run build` writes
 * dist/workflow-bundle.js for the image, `npm start` and the tests write their own under .data/.
 * A worker given the bundle (WORKFLOW_BUNDLE_PATH) never loads webpack, which would otherwise stay
 * in its memory for good (about 140 MB of RSS, docs/BENCHMARKS.md).
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';

/**
 * The module that exports every workflow the order worker runs. Resolved when asked, not at
 * import: a worker given a bundle never needs it, and the benchmark's worker (compiled to one file
 * under .data/bench/) could not resolve it from there.
 */
export const orderWorkflowsPath = (): string => require.resolve('../../workflows');

/**
 * The workflow interceptors of every order bundle, traced or not: they trace only a run started
 * with a trace context, so the bundle is the same whether or not tracing is configured.
 */
export const orderWorkflowInterceptorModules = (): string[] => [require.resolve('../../workflows/shared/tracing-interceptors')];

/** Only warnings and errors, on stderr: webpack's progress lines would drown a test run's output. */
const quietBundleLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`[bundle] ${message}\n`),
  error: (message: string) => process.stderr.write(`[bundle] ${message}\n`),
};

/**
 * Bundles the workflows at `workflowsPath` (the order workflows by default, with their
 * interceptors; any other module, the benchmark's baseline, without) into `outPath`.
 */
export async function writeWorkflowBundle(outPath: string, workflowsPath: string = orderWorkflowsPath()): Promise<string> {
  const workflowInterceptorModules = workflowsPath === orderWorkflowsPath() ? orderWorkflowInterceptorModules() : [];
  const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: quietBundleLogger });
  writeFileSync(outPath, code);
  return outPath;
}
