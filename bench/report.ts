/**
 * The pure pieces of the benchmark: percentiles, the Temporal cost of a workflow history
 * (history events and billable actions), linear slopes, per-second rates, and the table and
 * Markdown the run prints and writes. No I/O here, so test/unit/bench-report.test.ts covers it.
 * One module per responsibility; this one gathers them for the callers.
 */
export * from './stats';
export * from './history-cost';
export * from './results';
export * from './render-tables';
export * from './render-markdown';
