import { mkdirSync, rmSync } from 'node:fs';

/** Cleanups of what a fault run has running now, newest first; run on success, failure and Ctrl-C alike. */
export const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];

export async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    const { name, run } = cleanups.pop()!;
    await run().catch((err) => process.stderr.write(`cleanup of ${name} failed: ${(err as Error).message}\n`));
  }
}

export type Later = (name: string, run: () => Promise<void>) => void;

/**
 * One fault's scratch: its directory made afresh, its notes, and `later`, which registers a
 * cleanup both with the run's (so Ctrl-C stops it) and with this fault's, which `end` runs
 * newest first: the fault's services stop there, what is shared stays for the next one.
 */
export function faultScope(dir: string): { notes: string[]; later: Later; end: () => Promise<void> } {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const local: typeof cleanups = [];
  const later: Later = (name, run) => {
    const entry = { name, run };
    local.push(entry);
    cleanups.push(entry);
  };
  const end = async () => {
    while (local.length > 0) {
      const entry = local.pop()!;
      const at = cleanups.indexOf(entry);
      if (at >= 0) cleanups.splice(at, 1);
      await entry.run().catch((err) => process.stderr.write(`cleanup of ${entry.name} failed: ${(err as Error).message}\n`));
    }
  };
  return { notes: [], later, end };
}
