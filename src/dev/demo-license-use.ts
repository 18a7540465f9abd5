import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceApiError, DeviceClient, generateDeviceKeys, type DeviceState } from '../device-client/client';
import type { SignedUsageAnswer } from '../device-client/answers';
import { DEMO } from './demo-data';
import { callApi, expectStatus } from './stack-api';

/**
 * License use in the quick start: acme.com gets a 1.5x quarterly overage agreement, a few
 * simulated devices register in its Finance VA with the device client and report use of the
 * direct demo order's 10 C9300-DNA-E-3Y, so the pool goes beyond what it holds. Restarts change
 * nothing: fixed serials (same UDI = same instance) with their keys in state files, a token only
 * when a device still needs one (older demo tokens revoked first), fixed report IDs (the server
 * replays its stored answer).
 */

export const DEMO_VA = 'Finance';
export const DEMO_TOKEN_DESCRIPTION = 'npm start demo devices';

interface DemoDevice {
  productId: string;
  serialNumber: string;
  hostname: string;
  usage: Record<string, number>;
}

/** 6 + 4 fill the 10 purchased; 3 more fit the 1.5x agreement (Overage); 4 more do not. */
export const DEMO_DEVICES: readonly DemoDevice[] = [
  { productId: 'C9300-48P', serialNumber: 'DEMO-FOC0001', hostname: 'acme-fin-sw1', usage: { 'C9300-DNA-E-3Y': 6 } },
  { productId: 'C9300-48P', serialNumber: 'DEMO-FOC0002', hostname: 'acme-fin-sw2', usage: { 'C9300-DNA-E-3Y': 4 } },
  { productId: 'C9300-24T', serialNumber: 'DEMO-FOC0003', hostname: 'acme-fin-sw3', usage: { 'C9300-DNA-E-3Y': 3 } },
  { productId: 'C9300-24T', serialNumber: 'DEMO-FOC0004', hostname: 'acme-fin-sw4', usage: { 'C9300-DNA-E-3Y': 4 } },
  { productId: 'ISR4431', serialNumber: 'DEMO-FGL0001', hostname: 'acme-fin-rtr1', usage: { 'ISR4K-SEC-PERP': 1 } },
];

export interface DemoDeviceOutcome {
  serialNumber: string;
  hostname: string;
  instanceId?: string;
  registeredNow: boolean;
  /** What the device was told per SKU ("C9300-DNA-E-3Y 6 Authorized"), or why it could not report. */
  told: Array<{ sku: string; count: number; state: string }>;
  problem?: string;
}

export interface DemoPool {
  sku: string;
  purchased: number;
  inUse: number;
  balance: number;
  overage: number;
  unserved: number;
}

export interface LicenseUseDemo {
  agreement: { allowance: string; cadence: string; setNow: boolean };
  tokenCreated: string | null;
  tokensRevoked: string[];
  devices: DemoDeviceOutcome[];
  pools: DemoPool[];
}

interface Keys {
  partnerKey: string;
  operatorKey: string;
}

const ACCOUNT = `/v1/accounts/${DEMO.smartAccountId}`;

/** The first day of the quarter `today` is in (the agreement's first reconciliation period). */
export function quarterStart(today: string): string {
  const month = Number(today.slice(5, 7));
  return `${today.slice(0, 4)}-${String(month - ((month - 1) % 3)).padStart(2, '0')}-01`;
}

/** Sets acme.com's agreement (operator: it needs a Smart Account admin) unless it has one. */
async function ensureAgreement(apiBase: string, keys: Keys, today: string): Promise<LicenseUseDemo['agreement']> {
  const asOperator = { key: keys.operatorKey };
  const current = await callApi(apiBase, 'GET', `${ACCOUNT}/overage-agreement`, asOperator);
  if (current.status === 200) {
    const { allowance, cadence } = current.body as { allowance: string; cadence: string };
    return { allowance, cadence, setNow: false };
  }
  expectStatus(current, [404], `GET ${ACCOUNT}/overage-agreement`);
  const body = { allowance: '1.5', cadence: 'quarterly', firstPeriodStartsOn: quarterStart(today), partnerOfRecord: DEMO.partnerId };
  expectStatus(
    await callApi(apiBase, 'PUT', `${ACCOUNT}/overage-agreement`, { ...asOperator, body }),
    [200],
    `PUT ${ACCOUNT}/overage-agreement`,
  );
  return { allowance: body.allowance, cadence: body.cadence, setNow: true };
}

/** Revokes earlier demo tokens still active and creates one for `uses` devices (the partner's key). */
async function freshToken(apiBase: string, keys: Keys, uses: number): Promise<{ token: string; tokenId: string; revoked: string[] }> {
  const asPartner = { key: keys.partnerKey };
  const listed = expectStatus<{ tokens: Array<{ tokenId: string; description: string; status: string }> }>(
    await callApi(apiBase, 'GET', `${ACCOUNT}/registration-tokens?virtualAccountPath=${DEMO_VA}`, asPartner),
    [200],
    `GET ${ACCOUNT}/registration-tokens`,
  );
  const revoked: string[] = [];
  for (const old of listed.tokens.filter((t) => t.description === DEMO_TOKEN_DESCRIPTION && t.status === 'active')) {
    const path = `${ACCOUNT}/registration-tokens/${old.tokenId}`;
    expectStatus(await callApi(apiBase, 'DELETE', path, asPartner), [200], `DELETE ${path}`);
    revoked.push(old.tokenId);
  }
  const body = { virtualAccountPath: DEMO_VA, expiresInDays: 1, maxUses: uses, description: DEMO_TOKEN_DESCRIPTION };
  const created = expectStatus<{ token: string; tokenId: string }>(
    await callApi(apiBase, 'POST', `${ACCOUNT}/registration-tokens`, { ...asPartner, body }),
    [201],
    `POST ${ACCOUNT}/registration-tokens`,
  );
  return { token: created.token, tokenId: created.tokenId, revoked };
}

function stateFile(stateDir: string, device: DemoDevice): string {
  return join(stateDir, `${device.serialNumber}.json`);
}

/** The device's saved state (its key pair and credential), or a new key pair. */
function loadState(stateDir: string, device: DemoDevice): DeviceState {
  try {
    return JSON.parse(readFileSync(stateFile(stateDir, device), 'utf8')) as DeviceState;
  } catch {
    return generateDeviceKeys();
  }
}

function saveState(stateDir: string, device: DemoDevice, state: DeviceState): void {
  writeFileSync(stateFile(stateDir, device), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

/** A registration token made on first need (demo devices registered before need none). */
type TokenOnDemand = () => Promise<string>;

/**
 * Registers the device if it is not yet, then reports its use under a fixed report ID. A saved
 * credential the service no longer knows (a fresh database) is dropped and the device registers again.
 */
async function runDevice(apiBase: string, stateDir: string, device: DemoDevice, token: TokenOnDemand): Promise<DemoDeviceOutcome> {
  let client = new DeviceClient({ baseUrl: apiBase, state: loadState(stateDir, device) });
  const outcome: DemoDeviceOutcome = { serialNumber: device.serialNumber, hostname: device.hostname, registeredNow: false, told: [] };
  const reportId = `demo-${device.serialNumber}-1`;
  try {
    if (client.state.instanceId) {
      try {
        return told(outcome, client, await client.report(device.usage, { reportId }), stateDir, device);
      } catch (err) {
        if (!(err instanceof DeviceApiError && [401, 403, 404].includes(err.status))) throw err;
        client = new DeviceClient({ baseUrl: apiBase, state: generateDeviceKeys() });
      }
    }
    const registration = await client.register(await token(), {
      productId: device.productId,
      serialNumber: device.serialNumber,
      hostname: device.hostname,
    });
    outcome.registeredNow = !registration.alreadyRegistered;
    saveState(stateDir, device, client.state);
    return told(outcome, client, await client.report(device.usage, { reportId }), stateDir, device);
  } catch (err) {
    // A device registered before with a key whose state file is gone, for instance.
    outcome.problem = err instanceof DeviceApiError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    return outcome;
  }
}

function told(
  outcome: DemoDeviceOutcome,
  client: DeviceClient,
  answer: SignedUsageAnswer,
  stateDir: string,
  device: DemoDevice,
): DemoDeviceOutcome {
  saveState(stateDir, device, client.state);
  return {
    ...outcome,
    instanceId: client.state.instanceId,
    told: answer.usage.map((u) => ({ sku: u.sku, count: u.count, state: u.state })),
  };
}

async function poolsOf(apiBase: string, keys: Keys): Promise<DemoPool[]> {
  const view = expectStatus<{ licenses: Array<DemoPool & { virtualAccountPath: string }> }>(
    await callApi(apiBase, 'GET', `${ACCOUNT}/licenses?virtualAccountPath=${DEMO_VA}`, { key: keys.partnerKey }),
    [200],
    `GET ${ACCOUNT}/licenses`,
  );
  return view.licenses
    .filter((l) => l.virtualAccountPath === DEMO_VA)
    .map(({ sku, purchased, inUse, balance, overage, unserved }) => ({ sku, purchased, inUse, balance, overage, unserved }))
    .sort((a, b) => a.sku.localeCompare(b.sku));
}

/** Runs after the direct demo order is fulfilled (its licenses are in acme.com / Finance). */
export async function runLicenseUseDemo(
  apiBase: string,
  keys: Keys,
  options: { stateDir: string; today?: string; progress?: (message: string) => void },
): Promise<LicenseUseDemo> {
  const progress = options.progress ?? (() => undefined);
  mkdirSync(options.stateDir, { recursive: true });
  const agreement = await ensureAgreement(apiBase, keys, options.today ?? new Date().toISOString().slice(0, 10));
  let token: { token: string; tokenId: string; revoked: string[] } | undefined;
  const tokenOnDemand = async () => (token ??= await freshToken(apiBase, keys, DEMO_DEVICES.length)).token;
  progress(`Demo: ${DEMO_DEVICES.length} simulated devices report use in ${DEMO.smartAccountId} / ${DEMO_VA} (device client)`);
  const devices: DemoDeviceOutcome[] = [];
  for (const device of DEMO_DEVICES) devices.push(await runDevice(apiBase, options.stateDir, device, tokenOnDemand));
  return {
    agreement,
    tokenCreated: token?.tokenId ?? null,
    tokensRevoked: token?.revoked ?? [],
    devices,
    pools: await poolsOf(apiBase, keys),
  };
}
