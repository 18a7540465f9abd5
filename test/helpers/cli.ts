import { runCli } from '../../src/cli/main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the project CLI in this process against an API, with its output captured: spies give the
 * streams their own write back exactly as it was, and the environment is restored.
 */
export async function runCliInProcess(args: string[], env: { apiUrl: string; apiKey?: string }): Promise<CliRun> {
  const savedEnv = process.env;
  let stdout = '';
  let stderr = '';
  process.env = { ...process.env, LICENSE_API_URL: env.apiUrl };
  if (env.apiKey) process.env.LICENSE_API_KEY = env.apiKey;
  else delete process.env.LICENSE_API_KEY;
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true));
  try {
    return { code: await runCli(['node', 'license-fulfillment', ...args]), stdout, stderr };
  } finally {
    process.env = savedEnv;
    out.mockRestore();
    err.mockRestore();
  }
}
