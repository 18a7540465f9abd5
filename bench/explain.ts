/**
 * `npm run bench:explain`: the plan of every variant of the order list query (`GET /v1/orders`,
 * built by the same `listOrdersQuery` the route uses) on a database of bench size, and whether
 * any of them reads the whole orders table. Exits 1 when one does.
 *
 *   npm run bench:explain                    # 100,000 orders, 200 partners, 1,000 domains
 *   npm run bench:explain -- --orders 20000
 *
 * The data is synthetic (generate_series, in seconds) in its own database,
 * license_fulfillment_explain on DATABASE_URL's server, dropped and made again each run.
 */
import type { Principal } from '../src/api/auth';
import { listOrdersQuery, type ListCursor } from '../src/orders/list-query';
import type { ListOrdersQueryType } from '../src/api/schemas';
import { createDb, withDatabase, type Db } from '../src/db/knex';
import { recreateMigratedDatabase } from '../src/db/migrate';

const PARTNERS = 200;
const DISTRIBUTORS = 20;
const DOMAINS = 1_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

export interface ExplainedQuery {
  name: string;
  /** Scan nodes as "Index Scan orders_booked_at_idx", "Seq Scan orders", ... */
  scans: string[];
  seqScanOnOrders: boolean;
  executionMs: number;
  rows: number;
}

async function seed(db: Db, orders: number): Promise<void> {
  await db.raw(`INSERT INTO partners (id, name, kind, notification_email)
    SELECT 'p' || g, 'Partner ' || g, CASE WHEN g <= ${DISTRIBUTORS} THEN 'distributor' ELSE 'partner' END, 'p' || g || '@explain.test'
    FROM generate_series(1, ${PARTNERS}) g`);
  await db.raw(`INSERT INTO distributor_resellers (distributor_id, reseller_id)
    SELECT 'p' || (1 + g % ${DISTRIBUTORS}), 'p' || g FROM generate_series(${DISTRIBUTORS + 1}, ${PARTNERS}) g`);
  await db.raw(`INSERT INTO accounts (id, kind, name, status, owner_partner_id)
    SELECT 'ha' || g, 'holding_account', 'Holding ' || g, 'active', 'p' || g FROM generate_series(1, ${PARTNERS}) g`);
  // A realistic spread: most orders fulfilled, some held or waiting, newest first by booked_at.
  await db.raw(`INSERT INTO orders (id, external_reference, booked_by_partner_id, partner_id, workflow_id, assignment_kind,
      holding_account_id, customer_domain, status, waiting_for, booked_at, updated_at)
    SELECT lpad(to_hex(g), 20, '0'), 'PO-' || g, 'p' || (1 + g % ${PARTNERS}), 'p' || (1 + g % ${PARTNERS}), 'order-' || g,
      CASE WHEN g % 5 = 0 THEN 'holding_account' ELSE 'smart_account' END,
      CASE WHEN g % 5 = 0 THEN 'ha' || (1 + g % ${PARTNERS}) END,
      'd' || (g % ${DOMAINS}) || '.explain.test',
      CASE WHEN g % 20 = 0 THEN 'AwaitingSmartAccount' WHEN g % 20 = 1 THEN 'AwaitingShipment' WHEN g % 50 = 2 THEN 'Cancelled' ELSE 'Fulfilled' END,
      CASE WHEN g % 20 = 0 THEN 'PartnerTransfer' WHEN g % 20 = 1 THEN 'Shipment' ELSE 'Nothing' END,
      now() - make_interval(secs => ${orders} - g), now()
    FROM generate_series(1, ${orders}) g`);
  await db.raw('ANALYZE');
}

function scansOf(node: PlanNode, found: string[] = []): string[] {
  if (/Scan/.test(node['Node Type'])) found.push([node['Node Type'], node['Index Name'] ?? node['Relation Name'] ?? ''].join(' ').trim());
  for (const child of node.Plans ?? []) scansOf(child, found);
  return found;
}

export async function explainListQueries(databaseUrl: string, orders: number): Promise<ExplainedQuery[]> {
  await recreateMigratedDatabase(databaseUrl);
  const db = createDb(databaseUrl, 2);
  try {
    await seed(db, orders);
    // Filter values taken from the data, so each variant finds rows (one more variant finds none).
    const held = await db('orders')
      .where({ status: 'AwaitingSmartAccount' })
      .whereNotNull('holding_account_id')
      .first<{ partner_id: string; holding_account_id: string; customer_domain: string }>(
        'partner_id',
        'holding_account_id',
        'customer_domain',
      );
    const operator: Principal = { role: 'operator', keyId: 'explain' };
    const reseller: Principal = { role: 'partner', keyId: 'explain', partnerId: held.partner_id };
    const distributor: Principal = { role: 'distributor', keyId: 'explain', partnerId: 'p3' };
    const secondPage = await db('orders')
      .orderBy([
        { column: 'booked_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .offset(50)
      .first<ListCursor>(db.raw(`to_char(booked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "bookedAt"`), 'id');
    const variants: Array<[string, Principal, Omit<ListOrdersQueryType, 'cursor' | 'limit'>, ListCursor?]> = [
      ['operator, no filter', operator, {}],
      ['operator, next page (cursor)', operator, {}, secondPage],
      ['operator, status=AwaitingSmartAccount', operator, { status: 'AwaitingSmartAccount' }],
      ['operator, waitingFor=PartnerTransfer', operator, { waitingFor: 'PartnerTransfer' }],
      ['operator, partnerId', operator, { partnerId: held.partner_id }],
      ['operator, customerDomain', operator, { customerDomain: held.customer_domain }],
      ['operator, holdingAccountId', operator, { holdingAccountId: held.holding_account_id }],
      ['partner, no filter', reseller, {}],
      ['partner, status=AwaitingSmartAccount', reseller, { status: 'AwaitingSmartAccount' }],
      ['partner, waitingFor=PartnerTransfer', reseller, { waitingFor: 'PartnerTransfer' }],
      ['partner, customerDomain', reseller, { customerDomain: held.customer_domain }],
      ['partner, status that none of its orders has (Provisioning)', reseller, { status: 'Provisioning' }],
      ['distributor (its resellers), no filter', distributor, {}],
    ];
    const results: ExplainedQuery[] = [];
    for (const [name, principal, filters, cursor] of variants) {
      const sql = listOrdersQuery(db, principal, filters, 50, cursor).toQuery();
      const answer = await db.raw(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`);
      const plan = answer.rows[0]['QUERY PLAN'][0] as { Plan: PlanNode & { 'Actual Rows': number }; 'Execution Time': number };
      const scans = scansOf(plan.Plan);
      results.push({
        name,
        scans,
        seqScanOnOrders: scans.some((s) => s === 'Seq Scan orders'),
        executionMs: plan['Execution Time'],
        rows: plan.Plan['Actual Rows'],
      });
    }
    return results;
  } finally {
    await db.destroy();
  }
}

export function explainTable(results: readonly ExplainedQuery[]): string {
  const lines = ['| list query | plan (scans) | rows | execution ms | whole orders table read? |', '|---|---|---|---|---|'];
  for (const r of results)
    lines.push(`| ${r.name} | ${r.scans.join(', ')} | ${r.rows} | ${r.executionMs.toFixed(2)} | ${r.seqScanOnOrders ? '**yes**' : 'no'} |`);
  return lines.join('\n');
}

if (require.main === module) {
  const at = process.argv.indexOf('--orders');
  const orders = at > 0 ? Number(process.argv[at + 1]) : 100_000;
  if (!Number.isInteger(orders) || orders < 1) {
    process.stderr.write('--orders must be a whole number of at least 1\n');
    process.exit(2);
  }
  const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const started = Date.now();
  explainListQueries(withDatabase(base, 'license_fulfillment_explain'), orders).then(
    (results) => {
      process.stdout.write(
        `${explainTable(results)}\n\n${orders.toLocaleString('en')} orders, ${PARTNERS} partners, ${DOMAINS} domains; ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      process.exit(results.some((r) => r.seqScanOnOrders) ? 1 : 0);
    },
    (err) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
