/**
 * postgres-stop, license use: devices keep reporting through the outage with the device client,
 * over the real HTTP API. While Postgres is down they must be told 503 with Retry-After (and
 * nothing else); each report is sent again under its report ID until it is answered. At the end:
 * every answered report has its one usage_reports row, each instance's use is its last answered
 * report, and each pool's counters are exactly the sum of its instances' use.
 */
import { DeviceApiError, DeviceClient } from '../../src/device-client';
import { createRegistrationToken } from '../../src/licensing/tokens';
import { bookOrder } from '../../src/orders/book-order';
import { cancelOrder } from '../../src/orders/order-actions';
import { createTestWorld, type TestWorld } from '../../test/helpers/fixtures';
import { retrying, startFaultApi, type LicenseUseContext, type LicenseUsePart, type LicenseUseResult } from './license-use';
import { sleep } from './services';

const SKUS = ['DEVICE-FAULT-A', 'DEVICE-FAULT-B'];
/** A device reports about this often; after a failure it waits this long before it sends the same report again. */
const REPORT_EVERY_MS = 1_000;
/** Devices keep reporting this long after the fault was cleared. */
const REPORT_AFTER_CLEAR_MS = 8_000;

interface FaultDevice {
  client: DeviceClient;
  answered: string[];
  lastUsage?: Record<string, number>;
}

interface Tally {
  unavailable: number;
  withoutRetryAfter: number;
  otherErrors: string[];
}

export function devicePart(ctx: LicenseUseContext, count: number): LicenseUsePart {
  let world: TestWorld;
  let vaId = '';
  const devices: FaultDevice[] = [];
  const tally: Tally = { unavailable: 0, withoutRetryAfter: 0, otherErrors: [] };

  return {
    async prepare() {
      world = await createTestWorld(ctx.db, 'dv0000');
      const va = await ctx.db('virtual_accounts').where({ account_id: world.smartAccountId, path: 'Finance' }).first<{ id: string }>('id');
      vaId = String(va.id);
      await depositUnshipped(ctx, world);
      const baseUrl = await startFaultApi(ctx);
      const { token } = await createRegistrationToken(
        ctx.db,
        { accountId: world.smartAccountId, virtualAccountId: vaId },
        { expiresInDays: 1, maxUses: count, description: 'fault run devices', exportControlled: false },
        'faults',
      );
      for (let i = 0; i < count; i++) {
        // Three attempts a call, each after the Retry-After asked for (at most 5 s): a device rides out short outages itself.
        const client = DeviceClient.create(baseUrl, { attempts: 3, maxRetryAfterMs: 5_000, fetch: countingFetch(tally) });
        await client.register(token, { productId: 'C9300-48P', serialNumber: `FOC-FAULT-${i}`, hostname: `switch-${i}.faults.test` });
        devices.push({ client, answered: [] });
      }
    },

    async drive({ runStartedAt, cleared }) {
      await sleep(Math.max(0, runStartedAt - Date.now()));
      let stopAt = Number.POSITIVE_INFINITY;
      void cleared.then((at) => (stopAt = at + REPORT_AFTER_CLEAR_MS));
      await Promise.all(devices.map((d, i) => reportUntil(d, i, () => stopAt, tally)));
    },

    beforeFault: async () => undefined,
    duringFault: async () => undefined,

    async verify(): Promise<LicenseUseResult> {
      const problems = [...(await checkReports(ctx, devices)), ...(await checkPools(ctx, vaId))];
      if (tally.unavailable === 0) problems.push('no device was told 503 during the outage: the fault was not seen by the devices');
      if (tally.withoutRetryAfter > 0) problems.push(`${tally.withoutRetryAfter} answers 503 without Retry-After`);
      problems.push(...tally.otherErrors.slice(0, 5).map((e) => `a device was told something other than 503: ${e}`));
      const reports = devices.reduce((n, d) => n + d.answered.length, 0);
      return {
        checked: `${devices.length} devices, ${reports} reports`,
        problems,
        notes: [`devices were told 503 with Retry-After ${tally.unavailable} times during the outage and sent those reports again`],
      };
    },
  };
}

/**
 * The devices' SKUs deposited in Finance (a report may name only SKUs some license exists of, U9)
 * by an order then cancelled before shipment: nothing is purchased, so their use stays
 * out of compliance, and the order ends before the run does.
 */
async function depositUnshipped(ctx: LicenseUseContext, world: TestWorld): Promise<void> {
  const booked = await bookOrder(ctx.client, ctx.taskQueue, {
    externalReference: `PO-DEVICES-${world.suffix}`,
    bookedByPartnerId: world.partnerId,
    assignment: { kind: 'smart_account', accountId: world.smartAccountId, virtualAccountPath: 'Finance' },
    lines: SKUS.map((sku, i) => ({ lineNumber: i + 1, sku, quantity: 1, licenseType: 'smart' as const, smartAccountMandatory: true })),
  });
  await retrying(async () => {
    const row = await ctx.db('orders').where({ id: booked.orderId }).first<{ status: string } | undefined>('status');
    if (row?.status !== 'AwaitingShipment') throw new Error(`the devices' order is ${row?.status}`);
  }, Date.now() + 120_000);
  // Its entitlements stay, withdrawn: the SKUs remain known.
  await cancelOrder(ctx.client, booked.orderId, { reason: 'fault run: only its SKUs were needed' });
}

/** The device client's fetch, counting what the service answered while it could not serve. */
function countingFetch(tally: Tally): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 503) {
      tally.unavailable++;
      if (!response.headers.get('retry-after')) tally.withoutRetryAfter++;
    } else if (response.status >= 400) {
      tally.otherErrors.push(`${response.status} ${await response.clone().text()}`.slice(0, 200));
    }
    return response;
  };
}

/** One device's life: a new use every second; a report that failed goes again, same use, same report ID. */
async function reportUntil(device: FaultDevice, index: number, stopAt: () => number, tally: Tally): Promise<void> {
  for (let round = 0; Date.now() < stopAt() || device.client.state.pendingReport; round++) {
    const usage = device.client.state.pendingReport?.usage ?? { [SKUS[0]]: 1 + ((index + round) % 4), [SKUS[1]]: (index * round) % 3 };
    try {
      const answer = await device.client.report(usage);
      device.answered.push(answer.reportId);
      device.lastUsage = usage;
    } catch (err) {
      // The client's own retries are spent (503s through the outage); the device tries again later.
      if (!(err instanceof DeviceApiError) || err.status !== 503) tally.otherErrors.push((err as Error).message.slice(0, 200));
    }
    await sleep(REPORT_EVERY_MS);
    if (Date.now() > stopAt() + 120_000) break;
  }
}

/** Every answered report once in usage_reports, none other; each instance's stored use is its last answered one. */
async function checkReports(ctx: LicenseUseContext, devices: FaultDevice[]): Promise<string[]> {
  const problems: string[] = [];
  for (const d of devices) {
    const id = d.client.state.instanceId!;
    const rows = (await ctx.db('usage_reports').where({ instance_id: id }).pluck('report_id')) as string[];
    const answered = new Set(d.answered);
    if (rows.length !== new Set(rows).size) problems.push(`${id}: a report ID stored twice`);
    const missing = [...answered].filter((r) => !rows.includes(r));
    const extra = rows.filter((r) => !answered.has(r));
    if (missing.length > 0) problems.push(`${id}: ${missing.length} answered reports not stored (${missing[0]})`);
    if (extra.length > 0) problems.push(`${id}: ${extra.length} stored reports never answered (${extra[0]})`);
    if (d.client.state.pendingReport) problems.push(`${id}: report ${d.client.state.pendingReport.reportId} never answered`);
    const stored: Array<{ sku: string; count: number }> = await ctx.db('instance_usage').where({ instance_id: id }).select('sku', 'count');
    const want = Object.entries(d.lastUsage ?? {}).sort();
    const have = stored.map((u) => [u.sku, u.count] as [string, number]).sort();
    if (JSON.stringify(want) !== JSON.stringify(have))
      problems.push(`${id}: stored use ${JSON.stringify(have)}, last reported ${JSON.stringify(want)}`);
  }
  return problems;
}

/** Each pool's Authorized, Overage and unserved counters equal the sum of its instances' use in that state. */
async function checkPools(ctx: LicenseUseContext, vaId: string): Promise<string[]> {
  const problems: string[] = [];
  for (const sku of SKUS) {
    const pool = await ctx
      .db('license_pools')
      .where({ virtual_account_id: vaId, sku })
      .first<{ authorized: string; overage: string; unserved: string } | undefined>('authorized', 'overage', 'unserved');
    const sums: Array<{ state: string; n: string }> = await ctx
      .db('instance_usage')
      .where({ virtual_account_id: vaId, sku })
      .groupBy('state')
      .select('state', ctx.db.raw('sum(count) AS n'));
    const sum = (state: string) => Number(sums.find((s) => s.state === state)?.n ?? 0);
    const want = { authorized: sum('Authorized'), overage: sum('Overage'), unserved: sum('OutOfCompliance') };
    // bigint counters, read as strings (far below 2^53).
    const have = { authorized: Number(pool?.authorized ?? 0), overage: Number(pool?.overage ?? 0), unserved: Number(pool?.unserved ?? 0) };
    if (JSON.stringify(want) !== JSON.stringify(have))
      problems.push(`pool ${sku}: counters ${JSON.stringify(have)}, the instances' use ${JSON.stringify(want)}`);
  }
  return problems;
}
