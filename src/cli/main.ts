#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerAccountCommands } from '../accounts/cli';
import { registerDeviceCommands } from '../device-client/cli';
import { registerTokenCommands } from '../licensing/token-cli';
import { registerAdministrationCommands } from '../accounts/cli-administration';
import { describeFailure, EXIT_USAGE, exitCodeOf, HintedFailure } from './context';
import { registerKeyCommands } from './keys';
import { registerOrderCommands } from '../orders/cli';
import { registerLicenseCommands } from '../licensing/cli';
import { registerLicenseTimeCommands } from '../licensing/time-cli';
import { registerEmailCommands } from '../email/cli';

/**
 * license-fulfillment: the CLI for operators and partners. `keys` talks to Postgres (that is how
 * the first key comes to be); everything else goes through the HTTP API with an API key.
 */

const HELP_AFTER = `
Environment:
  LICENSE_API_URL   the HTTP API (default: http://localhost:3000)
  LICENSE_API_KEY   an API key (lfk_...), for every command but "keys" and "device"
  DATABASE_URL      Postgres, for "keys" only (default: postgres://postgres@127.0.0.1:5432/license_fulfillment)

Output: aligned tables for people; --json prints machine-readable JSON on stdout only.
Errors go to stderr with every field at fault.
Exit codes: 0 done, 1 refused or invalid, 2 usage (arguments, options, environment).`;

export function buildProgram(): Command {
  const program = new Command('license-fulfillment')
    .description('Book and follow software-license orders; manage accounts and API keys.')
    .option('--json', 'machine-readable JSON on stdout')
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText('after', HELP_AFTER);
  registerOrderCommands(program);
  registerAccountCommands(program);
  registerAdministrationCommands(program);
  registerKeyCommands(program);
  registerLicenseCommands(program);
  registerLicenseTimeCommands(program);
  registerTokenCommands(program);
  registerEmailCommands(program);
  registerDeviceCommands(program);
  return program;
}

/** Runs the CLI and resolves with its exit code (never exits the process itself). */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the help or the usage error already.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : EXIT_USAGE;
    }
    const failure = err instanceof HintedFailure ? err.failure : err;
    const code = exitCodeOf(failure);
    if (!(failure instanceof Error && failure.name === 'CliExit')) {
      process.stderr.write(describeFailure(failure, err instanceof HintedFailure ? err.hints : {}) + '\n');
    }
    return code;
  }
}

if (require.main === module) {
  // `license-fulfillment ... | head`: a closed stdout is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  void runCli(process.argv).then((code) => {
    process.exitCode = code;
  });
}
