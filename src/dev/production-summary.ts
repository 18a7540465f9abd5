import { redact, type Config } from '../config';
import { DEMO } from './demo-data';
import type { DemoResult } from './demo-orders';
import { PRODUCTION_PORTS, PRODUCTION_VERSIONS, TEMPORAL_DATABASES, apiListenEnv, workerListenEnv } from './production-shape';

/** What the production shape checked once it was up (--once is green only with all of them). */
export interface ProductionChecks {
  /** Order workflows the UI server listed. */
  uiWorkflows: number;
  /** Messages in Mailpit. */
  mails: number;
  /** Demo orders the second API read back. */
  readBack: number;
}

export interface ProductionFacts {
  config: Config;
  demo: DemoResult;
  pollers: string[];
  checks: ProductionChecks;
  operatorKey: string;
  partnerKey: string;
  once: boolean;
}

/** Where everything of the production shape is, printed once it is up. */
export function productionSummary(facts: ProductionFacts): string {
  const { config, demo, checks } = facts;
  const ui = `http://127.0.0.1:${PRODUCTION_PORTS.temporalUi}`;
  const workflows = `${ui}/namespaces/${config.temporal.namespace}/workflows`;
  const apis = [0, 1].map((i) => `http://${apiListenEnv(i).API_LISTEN}`);
  const metrics = [0, 1].map((i) => `http://${workerListenEnv(i).WORKER_METRICS_LISTEN}/metrics`);
  return [
    '',
    `Production shape (temporal-server ${PRODUCTION_VERSIONS.temporalServer}, UI server ${PRODUCTION_VERSIONS.temporalUi}, Mailpit ${PRODUCTION_VERSIONS.mailpit}):`,
    `  Temporal      ${config.temporal.address} (gRPC), namespace ${config.temporal.namespace}, Prometheus http://127.0.0.1:${PRODUCTION_PORTS.temporalMetrics}/metrics`,
    `                persistence ${process.env.DBNAME ?? TEMPORAL_DATABASES.persistence}, visibility ${process.env.VISIBILITY_DBNAME ?? TEMPORAL_DATABASES.visibility} on the Postgres of DATABASE_URL`,
    `  Temporal UI   ${workflows}   (${checks.uiWorkflows} order workflows listed)`,
    `  Inbox         http://127.0.0.1:${PRODUCTION_PORTS.inbox} (Mailpit; SMTP 127.0.0.1:${PRODUCTION_PORTS.smtp}; ${checks.mails} messages)`,
    `  API 1         ${apis[0]}   (OpenAPI /openapi.json, Swagger UI /docs; email links use ${config.publicBaseUrl})`,
    `  API 2         ${apis[1]}   (read back ${checks.readBack} demo orders)`,
    `  Workers       2 polling "${config.temporal.taskQueue}": ${facts.pollers.join(', ')}`,
    `  Metrics       ${metrics.join('   ')}`,
    `  Database      psql ${redact(config.databaseUrl)}`,
    `  Logs          .data/production/ (temporal-server.log, temporal-ui.log, mailpit.log, temporal-sql-tool.log)`,
    '',
    `  Order ${demo.direct.externalReference} (ID ${demo.direct.orderId}) is ${demo.direct.status.phase}: ${workflows}/${demo.direct.workflowId}`,
    `  Order ${demo.held.externalReference} (ID ${demo.held.orderId}) is ${demo.held.status.phase}, waiting for ${demo.held.status.waitingFor}: ${workflows}/${demo.held.workflowId}`,
    '',
    `  API keys, shown only now (revoked when this stack stops):`,
    `    operator              ${facts.operatorKey}`,
    `    ${DEMO.partnerId.padEnd(20)}  ${facts.partnerKey}`,
    '',
    facts.once
      ? 'Done (--once: both workers polled, both APIs, the UI server and Mailpit answered).'
      : 'The stack is running. Press Ctrl-C to stop everything.',
    '',
  ].join('\n');
}
