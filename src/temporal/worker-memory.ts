/**
 * What a worker process is started with to keep its memory down under load (measured in
 * docs/BENCHMARKS.md, "Worker memory"). They act before the process runs any code of ours, so
 * they cannot be configuration the worker reads: whoever starts the worker passes them (npm start,
 * the benchmark's workers, `npm run worker`; the image sets the same in its Dockerfile).
 *
 * - `MALLOC_ARENA_MAX=2`: glibc otherwise gives each thread that allocates (the SDK's Rust core
 *   runs a pool of them) an arena of its own, up to 8 per core, and keeps what they freed.
 * - `--max-semi-space-size=4` (MB): V8's young generation, per isolate (the main thread and the
 *   workflow thread); the default lets each grow to 48 MB under a burst of activations.
 * - `--heap-growing-percent=50`: after each full collection V8 lets an isolate's old generation
 *   grow to 1.5 times what survived, not up to 4 times. A bulk transfer replays an evicted order
 *   per Update, and both isolates then grew to 120-150 MB of mostly garbage before collecting
 *   (transfer peak 290-406 MB at 300 parked); with it 256-258 MB, at no CPU cost measurable on
 *   a quiet machine (docs/BENCHMARKS.md, "worker heap growth").
 *
 * A value already in the environment wins.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=50'];

export function workerMemoryEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2' };
}
