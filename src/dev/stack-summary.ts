import { redact, type Config } from '../config';
import { deriveOrderId } from '../orders/book-order';
import type { BookOrderInput } from '../orders/order';
import type { OrderStatus } from '../orders/order-lifecycle';
import { DEMO } from './demo-data';
import { DEMO_VA, type LicenseUseDemo } from './demo-license-use';
import type { DemoResult } from './demo-orders';

/** What the quick start prints once the demo orders are in. */
export interface SummaryFacts {
  config: Config;
  uiUrl: string;
  /** The API's base URL as shown (see shownApiUrl). */
  shown: string;
  inbox: string;
  metricsUrl: string;
  metricsNote: string;
  demo: DemoResult;
  licenseUse: LicenseUseDemo;
  operatorKey: string;
  partnerKey: string;
  /** True when the dev server's UI was started with this start's codec endpoint. */
  uiDecodes: boolean;
  stamp: string;
  once: boolean;
  apiCheck: string;
}

/** A ready-to-paste example: the booking the reader can send themselves, with a reference of its own. */
export function tryItOrder(externalReference: string): Omit<BookOrderInput, 'bookedByPartnerId'> {
  return {
    externalReference,
    assignment: { kind: 'smart_account', accountId: DEMO.smartAccountId, virtualAccountPath: 'Finance' },
    lines: [{ lineNumber: 1, sku: 'C9300-DNA-E-1Y', quantity: 5, licenseType: 'smart', termMonths: 12, smartAccountMandatory: true }],
  };
}

function describeLines(status: OrderStatus): string {
  return status.lines
    .map(
      (l) =>
        `line ${l.lineNumber} ${l.state}${l.accountId ? ` in ${l.accountId}${l.virtualAccountPath ? `/${l.virtualAccountPath}` : ''}` : ''}`,
    )
    .join(', ');
}

function orderLines(facts: SummaryFacts): string[] {
  const ui = `${facts.uiUrl}/namespaces/${facts.config.temporal.namespace}/workflows`;
  const { direct, held } = facts.demo;
  const again = (booked: boolean) => (booked ? ' (booked by an earlier start)' : '');
  return [
    `Order ${direct.externalReference} (ID ${direct.orderId}) is ${direct.status.phase}${again(direct.alreadyBooked)}: ${describeLines(direct.status)}`,
    `  Temporal UI   ${ui}/${direct.workflowId}`,
    `Order ${held.externalReference} (ID ${held.orderId}) is ${held.status.phase}, waiting for ${held.status.waitingFor}${again(held.alreadyBooked)}: ${describeLines(held.status)}`,
    `  Temporal UI   ${ui}/${held.workflowId}`,
    '',
    `  All orders    ${ui}?query=${encodeURIComponent('WorkflowType="orderFulfillment"')}`,
    `  Held orders   ${ui}?query=${encodeURIComponent('OrderStatus="AwaitingSmartAccount"')}`,
  ];
}

/** The devices, what each was told, the pools, and how acme.com's admin sees it on the pages. */
export function licenseUseLines(facts: Pick<SummaryFacts, 'licenseUse' | 'config' | 'inbox'>): string[] {
  const { agreement, devices, pools, tokenCreated, tokensRevoked } = facts.licenseUse;
  const base = facts.config.publicBaseUrl.replace(/\/+$/, '');
  const tokenNote = tokenCreated
    ? `registration token ${tokenCreated} made now${tokensRevoked.length ? ` (${tokensRevoked.length} older demo token(s) revoked)` : ''}`
    : 'registered by an earlier start, no new token';
  return [
    `License use in ${DEMO.smartAccountId} / ${DEMO_VA} (overage agreement ${agreement.allowance}x ${agreement.cadence}${agreement.setNow ? ', set now' : ''}; ${tokenNote}):`,
    ...devices.map((d) => {
      const said = d.problem ? `not reporting: ${d.problem}` : d.told.map((t) => `${t.sku} x${t.count} ${t.state}`).join(', ');
      return `  Device ${d.serialNumber.padEnd(13)} ${d.hostname.padEnd(14)} ${(d.instanceId ?? '-').padEnd(22)} told ${said}`;
    }),
    ...pools.map(
      (p) =>
        `  Pool   ${p.sku.padEnd(15)} purchased ${p.purchased}, in use ${p.inUse}, balance ${p.balance}, overage ${p.overage}, out of compliance ${p.unserved}`,
    ),
    `  Sign in       ${base}/sign-in as ${DEMO.adminEmail} (sa_admin of ${DEMO.smartAccountId}); the link is emailed to ${facts.inbox}`,
    `  VA page       ${base}/accounts/${DEMO.smartAccountId}/va?path=${DEMO_VA}`,
  ];
}

function payloadLines(facts: SummaryFacts): string[] {
  const cli = `temporal workflow query --workflow-id ${facts.demo.held.workflowId} --name orderStatus --codec-endpoint ${facts.config.publicBaseUrl}/codec --codec-auth "Bearer ${facts.operatorKey}"`;
  const ui = facts.uiDecodes
    ? [`                readable in the Temporal UI as it is (its codec endpoint holds this start's own codec key).`]
    : [
        `                To read them in the UI, sign in at ${facts.shown}/codec/session with the operator key below, then tick`,
        `                "Include cross-origin credentials" in the UI's codec settings (endpoint ${facts.config.publicBaseUrl}/codec).`,
      ];
  return [
    `  Payloads      encrypted in Temporal (R14, key in .data/payload-encryption-keys),`,
    ...ui,
    `                From a shell: ${cli}`,
  ];
}

export function summaryText(facts: SummaryFacts): string {
  const { config, shown, partnerKey } = facts;
  const tryRef = `TRY-${facts.stamp}`;
  const tryId = deriveOrderId(DEMO.partnerId, tryRef);
  const bearer = (key: string) => `-H 'Authorization: Bearer ${key}'`;
  return [
    '',
    ...orderLines(facts),
    '',
    ...licenseUseLines(facts),
    '',
    `  Emails        ${facts.inbox}`,
    `  Database      psql ${redact(config.databaseUrl)} -c "select id, external_reference, status, waiting_for from orders"`,
    '',
    `  API           ${shown}`,
    ...(shown === config.publicBaseUrl ? [] : [`                (email links use PUBLIC_BASE_URL ${config.publicBaseUrl})`]),
    `  OpenAPI       ${shown}/openapi.json`,
    `  Swagger UI    ${shown}/docs`,
    `  Metrics       ${facts.metricsUrl}   (${facts.metricsNote})`,
    ...payloadLines(facts),
    '',
    `  API keys, shown only now (only their SHA-256 is stored; revoked when this stack stops):`,
    `    operator              ${facts.operatorKey}`,
    `    ${DEMO.partnerId.padEnd(20)}  ${partnerKey}`,
    '',
    `  Book an order as ${DEMO.partnerId} (into ${DEMO.smartAccountId} / Finance), then read it back:`,
    `    curl -sS -w '\\n' -X POST ${shown}/v1/orders ${bearer(partnerKey)} \\`,
    `      -H 'Content-Type: application/json' -d '${JSON.stringify(tryItOrder(tryRef))}'`,
    `    curl -sS -w '\\n' ${shown}/v1/orders/${tryId} ${bearer(partnerKey)}`,
    '',
    facts.once ? `Done (--once; API checked: ${facts.apiCheck}).` : 'The stack is running. Press Ctrl-C to stop everything.',
    '',
  ].join('\n');
}
