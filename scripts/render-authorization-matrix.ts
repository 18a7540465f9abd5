/**
 * Writes the authorization matrix (src/security/authorization-matrix.ts) into docs/SECURITY.md,
 * between its markers. `--check` writes nothing and exits 1 when the document differs from the table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withMatrixSection } from '../src/security/authorization-matrix-doc';

const path = join(__dirname, '..', 'docs', 'SECURITY.md');
const doc = readFileSync(path, 'utf8');
const rendered = withMatrixSection(doc);
if (process.argv.includes('--check')) {
  if (rendered !== doc) {
    console.error('docs/SECURITY.md differs from the authorization matrix: run npx tsx scripts/render-authorization-matrix.ts');
    process.exit(1);
  }
} else if (rendered !== doc) {
  writeFileSync(path, rendered);
  console.log('docs/SECURITY.md: authorization matrix written');
}
