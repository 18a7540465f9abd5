/**
 * The license-fulfillment CLI as operators run it, against the real API on the real stack: most
 * runs go through its entry function in this process (runCli, with the environment and the
 * standard streams it would have); the ones marked `process: true` spawn the real binary
 * (tsx src/cli/main.ts), so the process-level behaviour (exit codes, streams) is covered too. Keys are created in Postgres and then work; bookings from a
 * file become workflows and rows; lists, status, shipments and cancellations reach the orders;
 * refusals exit 1 with the reason on stderr, usage mistakes exit 2; --json output parses.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from '../../src/cli/main';
import { deriveOrderId } from '../../src/orders/book-order';
import type { BookOrderInput } from '../../src/orders/order';
import { orderStatusQuery, orderWorkflowId } from '../../src/orders/workflow-api';
import { useTestApi } from '../helpers/api';
import { createTestWorld, registerContact, type TestWorld } from '../helpers/fixtures';
import { directBooking, pollUntil, waitForPhase, waitForStatus } from '../helpers/orders';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

// Reminders far away: these flows are about the CLI, not the reminder cadence.
const stack = useTestStack(__filename, { reminderIntervalMs: 10 * 60_000, escalationAfterMs: 60 * 60_000 });
const api = useTestApi(stack);

// A spawned CLI run is a new Node process compiling TypeScript (a second or more on a busy machine).
jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const MAIN = join(ROOT, 'src/cli/main.ts');

let world: TestWorld;
let partnerKey: string;
let operatorKey: string;
let dir: string;

beforeAll(async () => {
  world = await createTestWorld(stack.db, uniqueSuffix());
  partnerKey = await api.keyFor('partner', world.partnerId);
  operatorKey = await api.keyFor('operator');
  dir = await mkdtemp(join(tmpdir(), 'lf-cli-test-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with the API's URL, a key (none when null) and the test database. */
function cli(args: string[], options: { key?: string | null; env?: Record<string, string>; process?: boolean } = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, LICENSE_API_URL: api.baseUrl, DATABASE_URL: stack.config.databaseUrl, ...options.env };
  const key = options.key === undefined ? partnerKey : options.key;
  if (key === null) delete env.LICENSE_API_KEY;
  else env.LICENSE_API_KEY = key;
  if (!options.process) return cliInProcess(args, env);
  return new Promise((done) => {
    execFile(TSX, [MAIN, ...args], { cwd: ROOT, env, timeout: 45_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** The same run through runCli in this process: its environment and standard streams swapped in. */
async function cliInProcess(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  // Saved to be put back as they were; they are called on their streams again, never alone.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const saved = { env: process.env, out: process.stdout.write, err: process.stderr.write };
  let stdout = '';
  let stderr = '';
  process.env = env;
  process.stdout.write = (chunk: string | Uint8Array) => ((stdout += chunk.toString()), true);
  process.stderr.write = (chunk: string | Uint8Array) => ((stderr += chunk.toString()), true);
  try {
    const code = await runCli(['node', 'license-fulfillment', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.env = saved.env;
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  }
}

/** A booking as an ordering system sends it with a partner key: the key says who books. */
function bookingBody(overrides: Partial<BookOrderInput>): Record<string, unknown> {
  const { bookedByPartnerId: _ignored, ...body } = directBooking(world, overrides);
  return body;
}

async function writeJson(name: string, value: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(value, null, 2));
  return path;
}

describe('keys (Postgres directly)', () => {
  test('keys create prints a key once, stores only its hash, and the key then works; keys revoke stops it', async () => {
    const created = await cli(['keys', 'create', '--role', 'partner', '--partner', world.partnerId, '--label', 'cli test ERP'], {
      key: null,
      process: true,
    });
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^lfk_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('shown only this once');
    const id = /key (\d+) for/.exec(created.stderr)?.[1];
    expect(id).toBeDefined();

    const row = await stack.db('api_keys').where({ id }).first();
    expect(row).toMatchObject({ role: 'partner', partner_id: world.partnerId, label: 'cli test ERP', revoked_at: null });
    expect(Buffer.from(row.key_hash).equals(createHash('sha256').update(key).digest())).toBe(true);

    const listed = await cli(['orders', 'list', '--json'], { key });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ orders: expect.any(Array), nextCursor: null });

    const revoked = await cli(['keys', 'revoke', id!], { key: null });
    expect(revoked).toMatchObject({ code: 0, stdout: `API key ${id} is revoked.\n` });
    expect((await stack.db('api_keys').where({ id }).first()).revoked_at).not.toBeNull();

    const refused = await cli(['orders', 'list'], { key });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('[401 Unauthorized]');

    const again = await cli(['keys', 'revoke', id!], { key: null });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no live API key with ID ${id}`);
  });

  test('keys create --json prints the key as JSON; a key for the wrong kind of partner is refused with the field', async () => {
    const created = await cli(['--json', 'keys', 'create', '--role', 'operator', '--label', 'cli test ops'], { key: null });
    expect(created.code).toBe(0);
    const parsed = JSON.parse(created.stdout);
    expect(parsed).toEqual({
      id: expect.stringMatching(/^\d+$/),
      key: expect.stringMatching(/^lfk_/),
      role: 'operator',
      partnerId: null,
      label: 'cli test ops',
    });
    expect(await stack.db('api_keys').where({ id: parsed.id }).first('role', 'partner_id')).toEqual({ role: 'operator', partner_id: null });

    const before = await stack.db('api_keys').count({ n: '*' }).first();
    const wrongKind = await cli(['keys', 'create', '--role', 'distributor', '--partner', world.partnerId, '--label', 'wrong'], {
      key: null,
    });
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.stdout).toBe('');
    expect(wrongKind.stderr).toContain(`role (--role): partner "${world.partnerId}" is a partner, so its key must have role partner`);
    expect(await stack.db('api_keys').count({ n: '*' }).first()).toEqual(before);

    const badRole = await cli(['keys', 'create', '--role', 'admin', '--label', 'x'], { key: null, process: true });
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('Allowed choices are partner, distributor, operator');
  });
});

describe('orders', () => {
  const refs = () => [1, 2, 3].map((n) => `CLI-BULK-${world.suffix}-${n}`);

  test('orders book with a bulk file of 3: progress on stderr, a summary, 3 orders; re-running it books nothing new', async () => {
    const file = await writeJson(
      'bulk.json',
      refs().map((externalReference) => bookingBody({ externalReference })),
    );
    const prefix = `bulk-${world.suffix}`;
    const run = await cli(['orders', 'book', file, '--idempotency-key-prefix', prefix], { process: true });
    expect(run.code).toBe(0);
    const orderIds = refs().map((ref) => deriveOrderId(world.partnerId, ref));
    expect(run.stderr).toContain('Booking 3 orders from');
    for (const [i, ref] of refs().entries()) {
      expect(run.stderr).toContain(`/3] ${ref}: booked, order ${orderIds[i]}`);
      expect(run.stdout).toMatch(new RegExp(`\\b${i + 1}  ${ref}\\s+booked\\s+${orderIds[i]}`));
    }
    expect(run.stdout).toMatch(/^#\s+REFERENCE\s+RESULT\s+ORDER ID\s+DETAIL$/m);
    expect(run.stdout).toContain('3 bookings: 3 booked, 0 already booked, 0 refused');

    // Three workflows running, three order rows, three remembered Idempotency-Keys.
    for (const orderId of orderIds) await waitForPhase(stack.client, orderWorkflowId(orderId), 'AwaitingShipment');
    expect((await stack.db('orders').whereIn('id', orderIds).pluck('external_reference')).sort()).toEqual(refs());
    expect(
      (
        await stack
          .db('api_idempotency_keys')
          .whereIn('order_id', orderIds)
          .orderBy('idempotency_key')
          .select('idempotency_key', 'order_id')
      ).map((r) => [r.idempotency_key, r.order_id]),
    ).toEqual([1, 2, 3].map((n) => [`${prefix}-${n}`, orderIds[n - 1]]));

    const rerun = await cli(['orders', 'book', file, '--idempotency-key-prefix', prefix, '--json']);
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout)).toEqual(
      refs().map((externalReference, i) => ({
        index: i + 1,
        externalReference,
        outcome: 'alreadyBooked',
        idempotencyKey: `${prefix}-${i + 1}`,
        orderId: orderIds[i],
        workflowId: orderWorkflowId(orderIds[i]),
      })),
    );
    expect(await stack.db('orders').whereIn('id', orderIds).count({ n: '*' }).first()).toEqual({ n: '3' });
  });

  test('orders list: a table by default, --json parses, filters and --all pages through', async () => {
    const orderIds = refs().map((ref) => deriveOrderId(world.partnerId, ref));
    await pollUntil(
      () => stack.db('orders').whereIn('id', orderIds).where({ status: 'AwaitingShipment' }).count({ n: '*' }).first(),
      (r) => r?.n === '3',
      'three orders awaiting shipment',
    );

    const text = await cli(['orders', 'list', '--status', 'AwaitingShipment']);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(
      /^ORDER ID\s+REFERENCE\s+PARTNER\s+STATUS\s+WAITING FOR\s+ASSIGNMENT\s+ACCOUNT\s+HOLDING ACCOUNT\s+BOOKED AT$/,
    );
    for (const ref of refs()) expect(text.stdout).toContain(ref);

    const json = await cli(['orders', 'list', '--json', '--status', 'AwaitingShipment', '--partner', world.partnerId]);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout);
    expect(listed.orders.map((o: { orderId: string }) => o.orderId).sort()).toEqual(expect.arrayContaining(orderIds));
    expect(listed.orders.every((o: { status: string }) => o.status === 'AwaitingShipment')).toBe(true);

    // Bulk bookings land within the same millisecond; make that certain, a microsecond apart,
    // so paging one order at a time must not lose any of them between pages.
    for (const [i, orderId] of orderIds.entries()) {
      await stack
        .db('orders')
        .where({ id: orderId })
        .update({ booked_at: stack.db.raw(`timestamptz '2026-01-02T03:04:05.678Z' + ? * interval '1 microsecond'`, [i + 1]) });
    }
    const onePage = await cli(['orders', 'list', '--json', '--limit', '1']);
    expect(JSON.parse(onePage.stdout)).toEqual({ orders: [expect.any(Object)], nextCursor: expect.any(String) });
    const all = await cli(['orders', 'list', '--json', '--limit', '1', '--all', '--partner', world.partnerId]);
    expect(all.code).toBe(0);
    const every = JSON.parse(all.stdout);
    expect(every.nextCursor).toBeNull();
    expect(every.orders.map((o: { orderId: string }) => o.orderId)).toEqual(expect.arrayContaining(orderIds));

    const badStatus = await cli(['orders', 'list', '--status', 'Sleeping']);
    expect(badStatus.code).toBe(1);
    expect(badStatus.stdout).toBe('');
    // The option is named beside the API's field, with the API's reason.
    expect(badStatus.stderr).toMatch(/^ {2}status \(--status\): must /m);

    const badLimit = await cli(['orders', 'list', '--limit', 'many']);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('--limit must be a whole number from 1 to 500');
  });

  test('orders get shows the live status; orders ship reaches the workflow; a bad ship date is refused naming --date', async () => {
    const orderId = deriveOrderId(world.partnerId, refs()[0]);
    const text = await cli(['orders', 'get', orderId]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^Order\\s+${orderId}$`, 'm'));
    expect(text.stdout).toMatch(/^Phase\s+AwaitingShipment$/m);
    expect(text.stdout).toMatch(/^\s+1\s+ISR4K-SEC-PERP\s+2\s+smart\s+perpetual\s+deposited\s+/m);
    expect(text.stdout).toMatch(/^\s+2\s+C9300-DNA-E-3Y\s+10\s+smart\s+36 months\s+deposited\s+/m);

    const shipped = await cli(['orders', 'ship', orderId, '--line', '2', '--date', '2026-01-31', '--json']);
    expect(shipped.code).toBe(0);
    expect(JSON.parse(shipped.stdout)).toEqual({ orderId, lineNumber: 2, shippedOn: '2026-01-31', accepted: true });
    const status = await waitForStatus(stack.client, orderWorkflowId(orderId), (s) => s.lines[1].shippedOn === '2026-01-31');
    expect(status.lines[1].subscription).toEqual({ startsOn: '2026-01-31', endsOn: '2029-01-31' });

    const json = await cli(['orders', 'get', orderId, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ orderId, lines: [{ lineNumber: 1 }, { lineNumber: 2, shippedOn: '2026-01-31' }] });

    const badDate = await cli(['orders', 'ship', orderId, '--line', '1', '--date', '2026-02-30']);
    expect(badDate.code).toBe(1);
    expect(badDate.stderr).toContain('shippedOn (--date): must be a real calendar date YYYY-MM-DD');
    expect((await stack.client.workflow.getHandle(orderWorkflowId(orderId)).query(orderStatusQuery)).lines[0].shippedOn).toBeUndefined();

    const missingDate = await cli(['orders', 'ship', orderId, '--line', '1']);
    expect(missingDate.code).toBe(2);
    expect(missingDate.stderr).toContain("required option '--date <YYYY-MM-DD>' not specified");
  });

  test('orders cancel cancels the order; a refused assignment exits 1 with the reason and changes nothing', async () => {
    const orderId = deriveOrderId(world.partnerId, refs()[2]);
    const refused = await cli(['orders', 'assign', orderId, '--account', `sa-nowhere-${world.suffix}`]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^error: .*sa-nowhere-.* \[422 UnknownAccount\]$/m);

    const otherKey = await api.keyFor('partner', world.otherPartnerId);
    const forbidden = await cli(['orders', 'cancel', orderId], { key: otherKey });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain('[403 Forbidden]');

    const cancelled = await cli(['orders', 'cancel', orderId, '--reason', 'customer withdrew', '--json']);
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ orderId, phase: 'Cancelled' });
    await waitForPhase(stack.client, orderWorkflowId(orderId), 'Cancelled');
    await pollUntil(
      () => stack.db('orders').where({ id: orderId }).first('status'),
      (r) => r?.status === 'Cancelled',
      'the order row cancelled',
    );
  });

  test('a refused booking exits 1 with every field at fault; a bulk file with a refusal books the rest and exits 1', async () => {
    const badLine = { lineNumber: 1, sku: 'ISR4K-SEC-PERP', quantity: 0, licenseType: 'smart', smartAccountMandatory: true };
    const single = await writeJson('bad.json', { ...bookingBody({ externalReference: `CLI-BAD-${world.suffix}` }), lines: [badLine] });
    const run = await cli(['orders', 'book', single]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('[400 ValidationFailed]');
    expect(run.stderr).toContain('  lines[0].quantity: must be a whole number from 1 to 1000000');
    expect(
      await stack
        .db('orders')
        .where({ external_reference: `CLI-BAD-${world.suffix}` })
        .first(),
    ).toBeUndefined();

    const mixedRef = `CLI-MIXED-${world.suffix}`;
    const mixed = await writeJson('mixed.json', [
      { ...bookingBody({ externalReference: `${mixedRef}-bad` }), lines: [badLine] },
      bookingBody({ externalReference: `${mixedRef}-good` }),
    ]);
    const bulk = await cli(['orders', 'book', mixed, '--json']);
    expect(bulk.code).toBe(1);
    expect(bulk.stderr).toMatch(/\[1\/2\] CLI-MIXED-\w+-bad: refused: .*\[400 ValidationFailed\]/);
    expect(bulk.stderr).toContain('lines[0].quantity: must be a whole number from 1 to 1000000');
    const results = JSON.parse(bulk.stdout);
    expect(results).toEqual([
      expect.objectContaining({
        index: 1,
        outcome: 'refused',
        error: expect.objectContaining({
          status: 400,
          code: 'ValidationFailed',
          errors: [{ field: 'lines[0].quantity', reason: 'must be a whole number from 1 to 1000000' }],
        }),
      }),
      expect.objectContaining({ index: 2, outcome: 'booked', orderId: deriveOrderId(world.partnerId, `${mixedRef}-good`) }),
    ]);
    await waitForPhase(stack.client, orderWorkflowId(results[1].orderId), 'AwaitingShipment');

    const notJson = join(dir, 'not.json');
    await writeFile(notJson, '{ "externalReference": ');
    const unreadable = await cli(['orders', 'book', notJson]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toContain('is not valid JSON');
  });

  test('without LICENSE_API_KEY the CLI stops with a usage error, and an unknown command is a usage error', async () => {
    const noKey = await cli(['orders', 'list'], { key: null });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('LICENSE_API_KEY is not set');
    const unknown = await cli(['orders', 'explode'], { process: true });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'explode'");
  });
});

describe('accounts', () => {
  test('accounts search lists the Smart Accounts of a domain, as a table and as JSON', async () => {
    const text = await cli(['accounts', 'search', world.domain]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ACCOUNT ID\s+NAME\s+DOMAIN\s+STATUS\s+VIRTUAL ACCOUNTS$/m);
    expect(text.stdout).toMatch(
      new RegExp(`^${world.smartAccountId}\\s+${world.smartAccountName}\\s+${world.domain.replace(/\./g, '\\.')}\\s+active\\s+`, 'm'),
    );
    const json = await cli(['accounts', 'search', world.domain, '--json']);
    const ids = JSON.parse(json.stdout).smartAccounts.map((a: { accountId: string }) => a.accountId);
    expect(ids).toEqual(expect.arrayContaining([world.smartAccountId, world.pendingSmartAccountId]));
  });

  test('accounts request: a domain mismatch is refused with the reason; a valid request creates a pending Smart Account once', async () => {
    const domain = `newco-${world.suffix}.test`;
    const mismatch = await cli([
      'accounts',
      'request',
      '--domain',
      domain,
      '--email',
      `it@elsewhere-${world.suffix}.test`,
      '--registered-id',
      'x-1',
    ]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain('[422 ');
    expect(await stack.db('accounts').where({ domain }).first()).toBeUndefined();

    const email = `it@${domain}`;
    await registerContact(stack.db, { email, registeredId: `it-${world.suffix}` });
    const requested = await cli([
      'accounts',
      'request',
      '--domain',
      domain,
      '--email',
      email,
      '--name',
      'Ida IT',
      '--registered-id',
      `it-${world.suffix}`,
      '--json',
    ]);
    expect(requested.code).toBe(0);
    const body = JSON.parse(requested.stdout);
    expect(body).toMatchObject({ domain, status: 'pending_activation', alreadyRequested: false });
    expect(await stack.db('accounts').where({ id: body.accountId }).first('status', 'domain')).toEqual({
      status: 'pending_activation',
      domain,
    });

    const again = await cli(['accounts', 'request', '--domain', domain, '--email', email, '--registered-id', `it-${world.suffix}`]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Result\s+already requested/m);
    expect(await stack.db('accounts').where({ domain }).count({ n: '*' }).first()).toEqual({ n: '1' });
  });

  test('accounts virtual-accounts list and create (operator), and a partner without sa_admin is refused', async () => {
    const listed = await cli(['accounts', 'virtual-accounts', 'list', world.smartAccountId]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^PATH\s+NAME\s+PARENT$/m);
    expect(listed.stdout).toMatch(/^Region-US\/Finance\/Sacramento\s+Sacramento\s+Region-US\/Finance$/m);

    const refused = await cli(['accounts', 'virtual-accounts', 'create', world.smartAccountId, 'Legal']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[403 Forbidden]');

    const created = await cli(['accounts', 'virtual-accounts', 'create', world.smartAccountId, 'Region-EU/Legal'], { key: operatorKey });
    expect(created).toMatchObject({ code: 0, stdout: `Created: ${world.smartAccountId}/Region-EU/Legal\n` });
    const repeated = await cli(['accounts', 'virtual-accounts', 'create', world.smartAccountId, 'Region-EU/Legal', '--json'], {
      key: operatorKey,
    });
    expect(JSON.parse(repeated.stdout)).toEqual({ path: 'Region-EU/Legal', name: 'Legal', parentPath: 'Region-EU', created: false });
    expect(
      await stack
        .db('virtual_accounts')
        .where({ account_id: world.smartAccountId })
        .whereIn('path', ['Region-EU', 'Region-EU/Legal'])
        .count({ n: '*' })
        .first(),
    ).toEqual({ n: '2' });
  });

  test("accounts members list, add and remove on the partner's holding account", async () => {
    const email = `new-member@partner-${world.suffix}.test`;
    const added = await cli(['accounts', 'members', 'add', world.holdingAccountId, email, '--name', 'Nia New']);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(`${email} is a member of ${world.holdingAccountId}`);

    const listed = await cli(['accounts', 'members', 'list', world.holdingAccountId, '--json']);
    expect(JSON.parse(listed.stdout).members.map((m: { email: string }) => m.email)).toEqual(
      expect.arrayContaining([world.holdingMemberEmail, email]),
    );

    const removed = await cli(['accounts', 'members', 'remove', world.holdingAccountId, email]);
    expect(removed).toMatchObject({ code: 0, stdout: `${email} is no longer a member of ${world.holdingAccountId}.\n` });
    const text = await cli(['accounts', 'members', 'list', world.holdingAccountId]);
    expect(text.stdout).toMatch(/^EMAIL\s+NAME\s+SUBSCRIBED AT$/m);
    expect(text.stdout).not.toContain(email);

    const again = await cli(['accounts', 'members', 'remove', world.holdingAccountId, email]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[404 NotFound]');
  });

  test('accounts grants add, list and revoke (operator); a partner may not grant', async () => {
    const refused = await cli(['accounts', 'grants', 'add', world.smartAccountId, '--partner', world.otherPartnerId, '--role', 'sa_user']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[403 Forbidden]');

    const missingPath = await cli(
      ['accounts', 'grants', 'add', world.smartAccountId, '--partner', world.otherPartnerId, '--role', 'va_user'],
      { key: operatorKey },
    );
    expect(missingPath.code).toBe(1);
    expect(missingPath.stderr).toMatch(/virtualAccountPath \(--virtual-account\): /);

    const added = await cli(
      [
        'accounts',
        'grants',
        'add',
        world.smartAccountId,
        '--partner',
        world.otherPartnerId,
        '--role',
        'va_user',
        '--virtual-account',
        'Finance',
        '--json',
      ],
      { key: operatorKey },
    );
    expect(added.code).toBe(0);
    const grant = JSON.parse(added.stdout);
    expect(grant).toMatchObject({
      grantId: expect.any(String),
      partnerId: world.otherPartnerId,
      role: 'va_user',
      virtualAccountPath: 'Finance',
    });

    const listed = await cli(['accounts', 'grants', 'list', world.smartAccountId], { key: operatorKey });
    expect(listed.stdout).toMatch(new RegExp(`^${grant.grantId}\\s+${world.otherPartnerId}\\s+va_user\\s+Finance\\s+`, 'm'));

    const revoked = await cli(['accounts', 'grants', 'revoke', world.smartAccountId, grant.grantId], { key: operatorKey });
    expect(revoked).toMatchObject({ code: 0, stdout: `Grant ${grant.grantId} on ${world.smartAccountId} is revoked.\n` });
    const after = await cli(['accounts', 'grants', 'list', world.smartAccountId, '--json'], { key: operatorKey });
    expect(JSON.parse(after.stdout).roleGrants.map((g: { grantId: string }) => g.grantId)).not.toContain(grant.grantId);
    expect(await stack.db('role_grants').where({ id: grant.grantId }).first('revoked_at')).toEqual({ revoked_at: expect.any(Date) });
  });
});

describe('administration (operator key): a platform set up without psql', () => {
  test('partners create and link-reseller, holding-accounts create, a virtual account in it, users create; repeats change nothing', async () => {
    const distributorId = `cli-dist-${world.suffix}`;
    const resellerId = `cli-res-${world.suffix}`;
    const asOperator = (args: string[]) => cli(args, { key: operatorKey });

    const dist = await asOperator([
      'partners',
      'create',
      distributorId,
      '--name',
      'CLI Dist',
      '--kind',
      'distributor',
      '--email',
      `ops@${distributorId}.test`,
    ]);
    expect(dist.code).toBe(0);
    expect(dist.stdout).toMatch(/^Kind\s+distributor$/m);
    const res = await asOperator([
      'partners',
      'create',
      resellerId,
      '--name',
      'CLI Reseller',
      '--email',
      `ops@${resellerId}.test`,
      '--json',
    ]);
    expect(JSON.parse(res.stdout)).toEqual({
      partnerId: resellerId,
      name: 'CLI Reseller',
      kind: 'partner',
      notificationEmail: `ops@${resellerId}.test`,
    });
    // The same partner with another name: refused, naming the option; nothing changed.
    const renamed = await asOperator(['partners', 'create', resellerId, '--name', 'Other', '--email', `ops@${resellerId}.test`]);
    expect(renamed.code).toBe(1);
    expect(renamed.stderr).toContain('[409 Conflict]');
    expect(renamed.stderr).toContain('name (--name): differs');
    expect((await stack.db('partners').where({ id: resellerId }).first()).name).toBe('CLI Reseller');

    const link = await asOperator(['partners', 'link-reseller', distributorId, resellerId]);
    expect(link).toMatchObject({ code: 0, stdout: `${resellerId} resells through ${distributorId}.\n` });
    expect((await asOperator(['partners', 'link-reseller', distributorId, resellerId])).code).toBe(0);
    expect(await stack.db('distributor_resellers').where({ distributor_id: distributorId }).pluck('reseller_id')).toEqual([resellerId]);

    const holdingId = `pha-cli-${world.suffix}`;
    const holding = await asOperator(['holding-accounts', 'create', holdingId, '--name', 'CLI stock', '--owner', distributorId]);
    expect(holding).toMatchObject({ code: 0, stdout: `Holding account ${holdingId} (CLI stock) of ${distributorId}: active.\n` });
    const va = await asOperator(['accounts', 'virtual-accounts', 'create', holdingId, 'EMEA/DE']);
    expect(va).toMatchObject({ code: 0, stdout: `Created: ${holdingId}/EMEA/DE\n` });

    const user = await asOperator(['users', 'create', `Una.User@${world.domain}`, '--name', 'Una User', '--json']);
    expect(user.code).toBe(0);
    expect(JSON.parse(user.stdout)).toMatchObject({ email: `Una.User@${world.domain}`, fullName: 'Una User', registeredId: null });
    const badEmail = await asOperator(['users', 'create', 'not-an-email', '--name', 'X']);
    expect(badEmail.code).toBe(1);
    expect(badEmail.stderr).toContain('email (<email>): must be an email address');

    // Not for a partner key.
    const refused = await cli(['users', 'create', `x@${world.domain}`, '--name', 'X']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[403 Forbidden]');
  });
});

describe('orders book tells what the API found', () => {
  test('a refused assignment is reported with the booked order; the same reference with another body exits 1 naming the fields', async () => {
    const reference = `CLI-REFUSED-${world.suffix}`;
    const file = await writeJson('refused.json', {
      ...bookingBody({ externalReference: reference }),
      assignment: { kind: 'smart_account', accountId: `sa-nowhere-${world.suffix}` },
    });
    const booked = await cli(['orders', 'book', file]);
    expect(booked.code).toBe(0);
    expect(booked.stdout).toContain(`Booked: order ${deriveOrderId(world.partnerId, reference)}`);
    expect(booked.stdout).toMatch(/^Assignment refused \(UnknownAccount\): account "sa-nowhere-.*" does not exist$/m);

    const changed = await writeJson('changed.json', {
      ...bookingBody({ externalReference: reference }),
      assignment: { kind: 'smart_account', accountId: world.smartAccountId },
    });
    const conflict = await cli(['orders', 'book', changed]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('[409 BookingConflict]');
    expect(conflict.stderr).toContain('assignment.accountId: differs from the order booked with this externalReference');
  });
});
