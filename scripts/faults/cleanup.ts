/** Cleanups of what a fault run has running now, newest first; run on success, failure and Ctrl-C alike. */
export const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];

export async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    const { name, run } = cleanups.pop()!;
    await run().catch((err) => process.stderr.write(`cleanup of ${name} failed: ${(err as Error).message}\n`));
  }
}
