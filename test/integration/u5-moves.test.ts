/**
 * U5 Moves (R21): 4 licenses and one device move from Finance to Sales through the API; both
 * pools change at once; the event log shows both sides; a VA admin of only one side is refused;
 * licenses in use move only when the request says so; nothing moves between Smart Accounts.
 */
import { runCliInProcess, type CliRun } from '../helpers/cli';
import { createVirtualAccountPath } from '../../src/dev/demo-data';
import { useTestApi } from '../helpers/api';
import { createTestWorld } from '../helpers/fixtures';
import { poolOf, provisionLicenses, useLicenses, usageStates, virtualAccountId } from '../helpers/license-use';
import { uniqueSuffix, useTestStack } from '../helpers/stack';

const stack = useTestStack(__filename);
const api = useTestApi(stack);
const SKU = 'C9300-DNA-A-MV';

/** The CLI in this process, with the API's URL and `key`; returns its exit code and output. */
const cli = (key: string, args: string[]): Promise<CliRun> => runCliInProcess(args, { apiUrl: api.baseUrl, apiKey: key });

async function partnerWithRoles(accountId: string, id: string, grants: Array<{ role: 'va_admin' | 'sa_admin'; vaId?: string }>) {
  await stack.db('partners').insert({ id, name: id, kind: 'partner', notification_email: `${id}@partners.test` });
  for (const grant of grants) {
    await stack
      .db('role_grants')
      .insert({ account_id: accountId, partner_id: id, role: grant.role, virtual_account_id: grant.vaId ?? null });
  }
  return api.keyFor('partner', id);
}

test('U5: licenses and a device move Finance -> Sales at once, logged on both sides; one-sided admins are refused', async () => {
  const world = await createTestWorld(stack.db, uniqueSuffix());
  const other = await createTestWorld(stack.db, uniqueSuffix());
  await createVirtualAccountPath(stack.db, world.smartAccountId, 'Sales');
  await createVirtualAccountPath(stack.db, other.smartAccountId, 'Elsewhere');
  const finance = await virtualAccountId(stack.db, world.smartAccountId, 'Finance');
  const sales = await virtualAccountId(stack.db, world.smartAccountId, 'Sales');
  await provisionLicenses(stack, world, { sku: SKU, quantity: 10, path: 'Finance' });
  const { id: device } = await useLicenses(api, world, 'Finance', { [SKU]: 3 });
  const bothSides = await partnerWithRoles(world.smartAccountId, `both-${world.suffix}`, [
    { role: 'va_admin', vaId: finance },
    { role: 'va_admin', vaId: sales },
  ]);
  const financeOnly = await partnerWithRoles(world.smartAccountId, `fin-${world.suffix}`, [{ role: 'va_admin', vaId: finance }]);
  const path = `/v1/accounts/${world.smartAccountId}`;
  const move = { fromVirtualAccountPath: 'Finance', toVirtualAccountPath: 'Sales', sku: SKU, quantity: 4 };

  // A VA admin of only one side, and the SA user partner, are refused; nothing changes.
  const refused = await api.call('POST', `${path}/license-moves`, { key: financeOnly, body: move });
  expect(refused.status).toBe(403);
  expect(refused.body.message).toContain('Sales');
  expect((await api.call('POST', `${path}/license-moves`, { key: await api.keyFor('partner', world.partnerId), body: move })).status).toBe(
    403,
  );
  const deviceRefused = await api.call('POST', `${path}/product-instances/${device}/move`, {
    key: financeOnly,
    body: { toVirtualAccountPath: 'Sales' },
  });
  expect(deviceRefused.status).toBe(403);
  // A VA admin who cannot see the device's VA is told what an unknown instance is told.
  const salesOnly = await partnerWithRoles(world.smartAccountId, `sal-${world.suffix}`, [{ role: 'va_admin', vaId: sales }]);
  const unseen = await api.call('POST', `${path}/product-instances/${device}/move`, {
    key: salesOnly,
    body: { toVirtualAccountPath: 'Sales' },
  });
  const unknown = await api.call('POST', `${path}/product-instances/pi-nosuchinstance/move`, {
    key: salesOnly,
    body: { toVirtualAccountPath: 'Sales' },
  });
  expect([unseen.status, unseen.body.error]).toEqual([404, 'UnknownInstance']);
  expect(unseen.body.message).toBe(unknown.body.message.replace('pi-nosuchinstance', device));
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 10, authorized: 3 });

  // Bad input names the field; an unknown or another account's VA is not found; too many is refused.
  const bad = await api.call('POST', `${path}/license-moves`, { key: bothSides, body: { ...move, quantity: 0 } });
  expect(bad.status).toBe(400);
  expect(bad.body.errors).toEqual([{ field: 'quantity', reason: 'must be a whole number from 1 to 1000000' }]);
  const elsewhere = await api.call('POST', `${path}/license-moves`, {
    key: await api.keyFor('operator'),
    body: { ...move, toVirtualAccountPath: 'Elsewhere' },
  });
  expect([elsewhere.status, elsewhere.body.error]).toEqual([404, 'UnknownVirtualAccount']);
  const tooMany = await api.call('POST', `${path}/license-moves`, { key: bothSides, body: { ...move, quantity: 11 } });
  expect([tooMany.status, tooMany.body.error]).toEqual([422, 'NotEnoughLicenses']);

  // 4 licenses move: both pools change in the same answer and in the rows.
  const moved = await api.call('POST', `${path}/license-moves`, { key: bothSides, body: move });
  expect(moved.status).toBe(200);
  expect(moved.body).toMatchObject({
    moved: 4,
    shortfall: 0,
    from: { virtualAccountPath: 'Finance', purchased: 6, authorized: 3 },
    to: { virtualAccountPath: 'Sales', purchased: 4, authorized: 0 },
  });
  expect(await poolOf(stack.db, finance, SKU)).toMatchObject({ purchased: 6, authorized: 3 });
  expect(await poolOf(stack.db, sales, SKU)).toMatchObject({ purchased: 4, authorized: 0 });
  const allocations = await stack
    .db('license_allocations')
    .where({ sku: SKU, account_id: world.smartAccountId })
    .orderBy('virtual_account_id')
    .select('virtual_account_id', 'quantity', 'entitlement_id');
  expect(allocations.map((a) => [String(a.virtual_account_id), a.quantity])).toEqual([
    [finance, 6],
    [sales, 4],
  ]);
  expect(new Set(allocations.map((a) => a.entitlement_id)).size).toBe(1);

  // The device moves with its use: Finance's use goes to 0, Sales serves it.
  const deviceMoved = await api.call('POST', `${path}/product-instances/${device}/move`, {
    key: bothSides,
    body: { toVirtualAccountPath: 'Sales' },
  });
  expect(deviceMoved.status).toBe(200);
  expect(deviceMoved.body).toMatchObject({
    from: [{ virtualAccountPath: 'Finance', authorized: 0 }],
    to: [{ virtualAccountPath: 'Sales', authorized: 3 }],
  });
  expect(await stack.db('product_instances').where({ id: device }).first('virtual_account_id')).toEqual({ virtual_account_id: sales });
  expect(await stack.db('instance_usage').where({ instance_id: device }).first('virtual_account_id', 'state')).toEqual({
    virtual_account_id: sales,
    state: 'Authorized',
  });

  // Moving back 2 of Sales' 4 would leave its device short by 1: refused unless said so.
  const back = { fromVirtualAccountPath: 'Sales', toVirtualAccountPath: 'Finance', sku: SKU, quantity: 2 };
  const short = await api.call('POST', `${path}/license-moves`, { key: bothSides, body: back });
  expect([short.status, short.body.error]).toEqual([422, 'WouldLeaveShortfall']);
  expect(short.body.message).toContain('short by 1');
  const anyway = await api.call('POST', `${path}/license-moves`, { key: bothSides, body: { ...back, allowShortfall: true } });
  expect(anyway.body).toMatchObject({ shortfall: 1, from: { purchased: 2, unserved: 3 }, to: { purchased: 8 } });
  expect(await usageStates(stack.db, [device])).toEqual({ [device]: 'OutOfCompliance' });

  // The CLI moves through the same API: one-sided admins are refused there too.
  const cliArgs = ['move', 'licenses', world.smartAccountId, '--from', 'Finance', '--to', 'Sales', '--sku', SKU, '--quantity', '1'];
  const cliRefused = await cli(financeOnly, cliArgs);
  expect([cliRefused.code, cliRefused.stderr]).toEqual([1, expect.stringContaining('Sales')]);
  const cliMoved = await cli(bothSides, ['--json', ...cliArgs]);
  expect(cliMoved.code).toBe(0);
  expect(JSON.parse(cliMoved.stdout)).toMatchObject({ moved: 1, from: { purchased: 7 }, to: { purchased: 3 } });

  // The event log: each move on both sides, naming who did it.
  const events = await stack
    .db('license_events')
    .where({ account_id: world.smartAccountId })
    .orderBy('id')
    .select('type', 'virtual_account_id', 'actor', 'details');
  expect(events.map((e) => [e.type, String(e.virtual_account_id), e.details.direction])).toEqual([
    // The licenses' arrival (the fixture's order provisioned), the device's token, registration
    // and report (through the device client), then the moves.
    ['licenses_activated', finance, undefined],
    ['token_created', finance, undefined],
    ['instance_registered', finance, undefined],
    ['usage_reported', finance, undefined],
    ['licenses_moved', finance, 'out'],
    ['licenses_moved', sales, 'in'],
    ['instance_moved', finance, 'out'],
    ['instance_moved', sales, 'in'],
    ['licenses_moved', sales, 'out'],
    ['licenses_moved', finance, 'in'],
    ['licenses_moved', finance, 'out'],
    ['licenses_moved', sales, 'in'],
  ]);
  const moves = events.filter((e) => e.type.endsWith('_moved'));
  expect(new Set(moves.map((e) => e.actor))).toEqual(new Set([`partner:both-${world.suffix}`]));
  // Nothing of the other Smart Account changed.
  expect(await stack.db('license_events').where({ account_id: other.smartAccountId })).toHaveLength(0);
}, 60_000);
