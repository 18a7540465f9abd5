import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { apiSettings, CliExit, CliFailure, EXIT_REFUSED, printResult, UsageError, withHints } from '../cli/context';
import { formatKeyValues, formatTable } from '../cli/table';
import { DeviceApiError, DeviceClient, generateDeviceKeys, type DeviceState } from './client';
import { keysFromPublished, type PublishedSigningKeys } from './protocol';
import { type SignedUsageAnswer } from './answers';

/**
 * `device ...`: a product instance on the command line (R16, R17), for demos, support and scripts.
 * The device's state (its private key, instance ID, credential, session, last answer) lives in a JSON file
 * given by --state, written 0600; the API is LICENSE_API_URL, and no API key is needed.
 */

function readState(file: string): DeviceState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DeviceState;
  } catch (err) {
    throw new CliFailure(`--state ${file} is not a device state file: ${(err as Error).message}`);
  }
}

/** Written whole, then renamed: a crash never leaves half a state file (and so never loses the key). */
function writeState(file: string, state: DeviceState): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

function registeredState(file: string): DeviceState {
  const state = readState(file);
  if (!state?.instanceId) throw new UsageError(`--state ${file} holds no registered device: run "device register" first`);
  return state;
}

function clientFor(state: DeviceState): DeviceClient {
  return new DeviceClient({ baseUrl: apiSettings().baseUrl, state });
}

/** The service's refusal as the CLI reports failures: the reason, its code and the fields. */
async function refusalsAsFailures<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof DeviceApiError) throw new CliFailure(`${err.message} [${err.status} ${err.code}]`, err.fieldErrors);
    throw err;
  }
}

function parseUse(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const match = /^([^=]+)=(\d{1,7})$/.exec(value);
  if (!match) throw new UsageError(`--use must be SKU=count, e.g. C9300-DNA-E=4 (got "${value}")`);
  return { ...previous, [match[1]]: Number(match[2]) };
}

function renderAnswer(answer: SignedUsageAnswer): string {
  return [
    formatKeyValues([
      ['Instance', answer.instanceId],
      ['Report', answer.reportId],
      ['Compliant', answer.compliant ? 'yes' : 'no'],
      ['Signed by', answer.keyId],
    ]),
    '',
    formatTable(
      ['SKU', 'COUNT', 'STATE'],
      answer.usage.map((u) => [u.sku, u.count, u.state]),
    ),
  ].join('\n');
}

export function registerDeviceCommands(program: Command): void {
  const device = program
    .command('device')
    .description('act as a product instance: register with a token, report use, verify signed answers (LICENSE_API_URL, no API key)');
  registerCommand(device);
  reportCommand(device);
  verifyCommand(device);
  renewCommand(device);
}

function registerCommand(device: Command): void {
  device
    .command('register')
    .description('register this device (a key pair is made on first use and kept in the state file)')
    .requiredOption('--state <file>', 'the device state file (created if missing)')
    .requiredOption('--token <token>', 'a registration token (lrt_...)')
    .requiredOption('--product-id <id>', 'the product ID, e.g. C9300-48P')
    .requiredOption('--serial <serialNumber>', 'the serial number')
    .requiredOption('--hostname <name>', 'the host name')
    .action(
      withHints(
        { productId: '--product-id', serialNumber: '--serial', hostname: '--hostname', token: '--token' },
        async (opts: { state: string; token: string; productId: string; serial: string; hostname: string }, command: Command) => {
          const state = readState(opts.state) ?? generateDeviceKeys();
          writeState(opts.state, state);
          const client = clientFor(state);
          const registered = await refusalsAsFailures(() =>
            client.register(opts.token, { productId: opts.productId, serialNumber: opts.serial, hostname: opts.hostname }),
          );
          writeState(opts.state, client.state);
          const { credential: _credential, ...shown } = registered;
          printResult(command, shown, (r) =>
            formatKeyValues([
              ['Instance', r.instanceId],
              ['Account', r.accountId],
              ['Virtual account', r.virtualAccountPath],
              ['Credential valid until', r.expiresAt],
              ['Renew after', r.renewAfter],
              ['Result', r.alreadyRegistered ? 'already registered: no token use spent' : 'registered'],
            ]),
          );
        },
      ),
    );
}

function reportCommand(device: Command): void {
  device
    .command('report')
    .description('report what this device uses; prints the signed answer after checking it')
    .requiredOption('--state <file>', 'the device state file')
    .option('--use <SKU=count>', 'a SKU and its count (repeat for each SKU); none reports no use', parseUse, {})
    .option('--report-id <id>', 'the report ID (default: the unanswered report of the same use, else a new one)')
    .action(
      withHints({}, async (opts: { state: string; use: Record<string, number>; reportId?: string }, command: Command) => {
        const state = registeredState(opts.state);
        const pending = state.pendingReport;
        const reportId =
          opts.reportId ?? (pending && JSON.stringify(pending.usage) === JSON.stringify(opts.use) ? pending.reportId : `r-${randomUUID()}`);
        // Saved before sending: a retry after a crash or a lost answer reuses the report ID.
        writeState(opts.state, { ...state, pendingReport: { reportId, usage: opts.use } });
        const client = clientFor({ ...state, pendingReport: { reportId, usage: opts.use } });
        const answer = await refusalsAsFailures(() => client.report(opts.use, { reportId }));
        writeState(opts.state, client.state);
        printResult(command, answer, renderAnswer);
      }),
    );
}

function verifyCommand(device: Command): void {
  device
    .command('verify')
    .description('check a signed answer offline against the published signing keys')
    .requiredOption('--state <file>', 'the device state file (its last answer is checked unless --answer is given)')
    .option('--answer <file>', 'a saved answer (JSON)')
    .option('--keys <file>', 'the published keys (JSON of GET /v1/license-signing-keys); default: fetch them from LICENSE_API_URL')
    .action(
      withHints({}, async (opts: { state: string; answer?: string; keys?: string }, command: Command) => {
        const state = registeredState(opts.state);
        const answer = opts.answer ? (JSON.parse(readFileSync(opts.answer, 'utf8')) as SignedUsageAnswer) : state.lastAnswer;
        if (!answer) throw new UsageError(`--state ${opts.state} holds no answer yet: run "device report" or give --answer`);
        const client = clientFor(state);
        const keys = opts.keys
          ? keysFromPublished(JSON.parse(readFileSync(opts.keys, 'utf8')) as PublishedSigningKeys)
          : await refusalsAsFailures(() => client.signingKeys());
        const result = client.verify(answer, keys);
        printResult(
          command,
          result.ok ? { valid: true, keyId: answer.keyId, answer: result.body } : { valid: false, reason: result.reason },
          () => (result.ok ? `valid: signed by ${answer.keyId}\n\n${renderAnswer(answer)}` : `NOT valid: ${result.reason}`),
        );
        if (!result.ok) throw new CliExit(EXIT_REFUSED);
      }),
    );
}

function renewCommand(device: Command): void {
  device
    .command('renew')
    .description("renew this device's credential (valid a year; due six months after it was issued)")
    .requiredOption('--state <file>', 'the device state file')
    .action(
      withHints({}, async (opts: { state: string }, command: Command) => {
        const client = clientFor(registeredState(opts.state));
        const renewed = await refusalsAsFailures(() => client.renew());
        writeState(opts.state, client.state);
        printResult(command, { instanceId: renewed.instanceId, expiresAt: renewed.expiresAt, renewAfter: renewed.renewAfter }, (r) =>
          formatKeyValues([
            ['Instance', r.instanceId],
            ['Credential valid until', r.expiresAt],
            ['Renew after', r.renewAfter],
          ]),
        );
      }),
    );
}
