/**
 * The device commands of the CLI (R16, R17): register with a token, report use, verify the signed
 * answer offline, renew; the device's state in a file of its own. Runs through runCli in this
 * process against the real API, as a device maker's script would run it.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useTestApi } from '../helpers/api';
import { depositElsewhere, provisionLicenses, smartLine } from '../helpers/devices';
import { createTestWorld, type TestWorld } from '../helpers/fixtures';
import { uniqueSuffix, useTestStack } from '../helpers/stack';
import { runCliInProcess, type CliRun } from '../helpers/cli';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-CLI';
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lf-device-cli-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (args: string[], key?: string): Promise<CliRun> => runCliInProcess(args, { apiUrl: api.baseUrl, apiKey: key });

test('device register, report, verify and renew through the CLI, the state in its own file', async () => {
  const world: TestWorld = await createTestWorld(stack.db, uniqueSuffix());
  await provisionLicenses(stack.client, stack.taskQueue, world, 'Finance', [smartLine(SKU, 3)], `PO-${world.suffix}`);
  // The token through the CLI as a partner would make it: printed once on stdout, the rest on stderr.
  const partnerKey = await api.keyFor('partner', world.partnerId);
  const created = await cli(['tokens', 'create', world.smartAccountId, '--va', 'Finance', '--days', '30', '--max-uses', '1'], partnerKey);
  expect(created.code).toBe(0);
  const token = created.stdout.trim();
  expect(token).toMatch(/^lrt_[A-Za-z0-9_-]{43}$/);
  expect(created.stderr).toContain('shown only this once');
  const stateFile = join(dir, 'switch-1.json');
  const identity = ['--product-id', 'C9300-48P', '--serial', `FOC-${world.suffix}`, '--hostname', 'sw1'];

  const registered = await cli(['device', 'register', '--state', stateFile, '--token', token, ...identity]);
  expect(registered).toMatchObject({ code: 0, stderr: '' });
  expect(registered.stdout).toMatch(/Virtual account\s+Finance/);
  const state = JSON.parse(await readFile(stateFile, 'utf8'));
  expect(state.instanceId).toMatch(/^pi-/);
  expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
  expect(await stack.db('product_instances').where({ id: state.instanceId }).first('serial_number')).toEqual({
    serial_number: `FOC-${world.suffix}`,
  });
  // Registering again is the same instance (the token has only one use).
  const again = await cli(['--json', 'device', 'register', '--state', stateFile, '--token', token, ...identity]);
  expect(JSON.parse(again.stdout)).toMatchObject({ instanceId: state.instanceId, alreadyRegistered: true });
  expect(again.stdout).not.toContain('lic1.');

  // NOT-HELD exists (another account holds it), but not in this VA.
  await depositElsewhere(stack, 'NOT-HELD');
  const reported = await cli(['device', 'report', '--state', stateFile, '--use', `${SKU}=2`, '--use', 'NOT-HELD=1']);
  expect(reported.code).toBe(0);
  expect(reported.stdout).toMatch(new RegExp(`${SKU}\\s+2\\s+Authorized`));
  expect(reported.stdout).toMatch(/NOT-HELD\s+1\s+OutOfCompliance/);
  expect(reported.stdout).toMatch(/Compliant\s+no/);

  // Offline: the published keys saved to a file, the answer checked against them.
  const keysFile = join(dir, 'keys.json');
  await writeFile(keysFile, JSON.stringify((await api.call('GET', '/v1/license-signing-keys')).body));
  const verified = await cli(['device', 'verify', '--state', stateFile, '--keys', keysFile]);
  expect(verified.code).toBe(0);
  expect(verified.stdout).toMatch(/^valid: signed by /);
  // A doctored answer (OutOfCompliance turned Authorized) fails.
  const saved = JSON.parse(await readFile(stateFile, 'utf8'));
  saved.lastAnswer.usage[1].state = 'Authorized';
  const doctored = join(dir, 'doctored.json');
  await writeFile(doctored, JSON.stringify(saved.lastAnswer));
  const refused = await cli(['device', 'verify', '--state', stateFile, '--keys', keysFile, '--answer', doctored]);
  expect(refused.code).toBe(1);
  expect(refused.stdout).toContain('NOT valid: the fields shown differ from the fields signed');

  const renewed = await cli(['device', 'renew', '--state', stateFile]);
  expect(renewed.code).toBe(0);
  expect(JSON.parse(await readFile(stateFile, 'utf8')).credential).not.toBe(state.credential);
  expect((await cli(['device', 'report', '--state', stateFile, '--use', `${SKU}=3`])).stdout).toMatch(/Compliant\s+yes/);

  // Refusals name the reason; usage errors exit 2.
  const usedUp = await cli([
    'device',
    'register',
    '--state',
    join(dir, 'switch-2.json'),
    '--token',
    token,
    '--product-id',
    'C9300-48P',
    '--serial',
    `X-${world.suffix}`,
    '--hostname',
    'sw2',
  ]);
  expect(usedUp.code).toBe(1);
  expect(usedUp.stderr).toContain('[409 TokenUsedUp]');
  expect((await cli(['device', 'report', '--state', stateFile, '--use', 'oops'])).code).toBe(2);
  const badCount = await cli(['device', 'report', '--state', stateFile, '--use', `${SKU}=2000000`]);
  expect(badCount.code).toBe(1);
  expect(badCount.stderr).toContain(`usage.${SKU}: must be a whole number from 0 to 1000000`);

  const listed = await cli(['tokens', 'list', world.smartAccountId, '--va', 'Finance'], partnerKey);
  expect(listed.stdout).toMatch(/Finance\s+used_up\s+1\s+1/);
  expect(listed.stdout).not.toContain(token);
  const tokenId = (await stack.db('registration_tokens').where({ account_id: world.smartAccountId }).first('id')).id;
  const revoked = await cli(['tokens', 'revoke', world.smartAccountId, String(tokenId)], partnerKey);
  expect(revoked.stdout).toContain(`Token ${tokenId} (Finance) is revoked`);
  const badDays = await cli(['tokens', 'create', world.smartAccountId, '--va', 'Finance', '--days', '400', '--max-uses', '1'], partnerKey);
  expect(badDays.code).toBe(2);
});
