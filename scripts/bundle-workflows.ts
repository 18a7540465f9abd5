/**
 * `npm run build` (after tsc): the order workflows as one pre-built bundle, by default
 * dist/workflow-bundle.js, for workers started with WORKFLOW_BUNDLE_PATH pointing at it.
 *   tsx scripts/bundle-workflows.ts [out-file]
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle';

const out = resolve(process.argv[2] ?? resolve(__dirname, '..', 'dist', 'workflow-bundle.js'));
mkdirSync(dirname(out), { recursive: true });
writeWorkflowBundle(out).then(
  (path) => process.stdout.write(`wrote ${path}\n`),
  (err) => {
    process.stderr.write(`cannot bundle the workflows: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
