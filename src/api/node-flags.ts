/**
 * The node flags the API process starts with. They act before any code of ours runs, so whoever
 * starts the API passes them: npm start (scripts/dev-stack.ts), `npm run api`, the compose file,
 * the production shape (src/dev/production-shape.ts) and the benchmark's driver, which hosts the
 * API it measures (bench/run.ts).
 *
 * - `--no-allocation-site-pretenuring`: V8 otherwise learns, from a burst in which a request's
 *   objects outlive a young-generation collection (a backlog, a slow commit), to allocate them
 *   straight into the old generation from then on. Each answered report then left about 8 kB there:
 *   15-19 MB/s at 2,000 reports/s, a full collection every 15-20 s, and with it 150-300 ms in which
 *   the two cores went to the collector rather than to answers. Without pretenuring: 3 MB/s, no full
 *   collection in the open loop's 15 s (bench/findings.md, "License use: the pause found").
 */
export const API_NODE_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];
