import type { Knex } from 'knex';
import type { Grantee } from '../accounts/roles';
import { SCOPE_SQL, scopeSqlBindings, visibleVaIds, type ScopeRefusal, type ViewScope } from './views-access';

/**
 * R23: licenses per virtual account and SKU, the product instances and what each uses, and the
 * chart of use against purchase. Read straight from the rows the hot path and recomputePool
 * write (license_pools, product_instances, instance_usage, pool_daily_use): nothing is cached,
 * so what is shown equals the rows.
 */

export interface LicenseLine {
  virtualAccountPath: string;
  sku: string;
  purchased: number;
  /** Use told Authorized, Overage or OutOfCompliance. */
  inUse: number;
  /** purchased - inUse: negative when more is used than bought. */
  balance: number;
  overage: number;
  /** Use told OutOfCompliance: more than the purchase and the agreement allow. */
  unserved: number;
  nextExpiryOn: string | null;
  insufficientSince: string | null;
}

export async function licensesOf(q: Knex, scope: ViewScope): Promise<LicenseLine[]> {
  const rows: Array<{
    path: string;
    sku: string;
    purchased: string;
    authorized: string;
    overage: string;
    unserved: string;
    next_expiry_on: string | null;
    insufficient_since: Date | null;
  }> = await q('license_pools as p')
    .join('virtual_accounts as va', 'va.id', 'p.virtual_account_id')
    .where('p.account_id', scope.accountId)
    .whereIn('p.virtual_account_id', visibleVaIds(scope))
    .orderBy([{ column: 'va.path' }, { column: 'p.sku' }])
    .select(
      'va.path',
      'p.sku',
      'p.purchased',
      'p.authorized',
      'p.overage',
      'p.unserved',
      q.raw(`to_char(p.next_expiry_on, 'YYYY-MM-DD') AS next_expiry_on`),
      'p.insufficient_since',
    );
  return rows.map((r) => {
    // bigint counters arrive as strings (added as such they would concatenate); they stay far below 2^53.
    const [purchased, authorized, overage, unserved] = [Number(r.purchased), Number(r.authorized), Number(r.overage), Number(r.unserved)];
    const inUse = authorized + overage + unserved;
    return {
      virtualAccountPath: r.path,
      sku: r.sku,
      purchased,
      inUse,
      balance: purchased - inUse,
      overage,
      unserved,
      nextExpiryOn: r.next_expiry_on,
      insufficientSince: r.insufficient_since ? r.insufficient_since.toISOString() : null,
    };
  });
}

/** Instances per page when the caller names no limit (most recently heard from first). */
export const INSTANCES_PAGE = 100;
/** The most instances one page lists (the signed-in VA page shows one such page). */
export const INSTANCES_PAGE_MAX = 1000;

export interface InstanceUse {
  sku: string;
  count: number;
  state: string;
}

export interface InstanceLine {
  instanceId: string;
  virtualAccountPath: string;
  productId: string;
  serialNumber: string;
  hostname: string;
  state: string;
  registeredAt: string;
  lastContactAt: string;
  uses: InstanceUse[];
}

/** Where a page of instances ends: the last one's exact last contact (text, to the microsecond) and ID. */
type InstancesCursor = [lastContact: string, instanceId: string];

export class BadCursor extends Error {}

function encodeCursor(cursor: InstancesCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string): InstancesCursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string') && !Number.isNaN(Date.parse(value[0])))
      return value as InstancesCursor;
  } catch {
    // falls through to the refusal
  }
  throw new BadCursor('must be the nextCursor of a previous page');
}

/**
 * One row per (instance, SKU it uses) of a page, a row with a null SKU for an instance using
 * nothing: the uses are joined (an index lookup each, LATERAL so the planner never hashes the
 * whole of instance_usage) and grouped here, where building them as JSON in Postgres and parsing
 * that again cost both processes more. Plain SQL: no query builder to compile per answer. `vaIds`
 * is the SQL of the visible VAs' IDs; after a cursor the page starts at the cursor's place in
 * product_instances_account_contact_idx (`<=` bounds the index scan, the rest picks the rows).
 */
function instancesPageSql(vaIds: string, after: boolean, limit: string): string {
  return `page AS (
  SELECT i.id, i.virtual_account_id, i.product_id, i.serial_number, i.hostname, i.state, i.registered_at, i.last_contact_at
    FROM product_instances i
   WHERE i.account_id = :accountId AND i.virtual_account_id = ANY(${vaIds})
     AND (:includeRemoved OR i.state <> 'removed')${
       after
         ? `
     AND i.last_contact_at <= :afterContact::timestamptz
     AND (i.last_contact_at < :afterContact::timestamptz OR i.id > :afterId)`
         : ''
     }
   ORDER BY i.last_contact_at DESC, i.id
   LIMIT ${limit}
), lines AS (
  SELECT p.id, va.path, p.product_id, p.serial_number, p.hostname, p.state,
         to_char(p.registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS registered_at,
         to_char(p.last_contact_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS contact_key,
         u.sku, u.count, u.state AS use_state, p.last_contact_at
    FROM page p
    JOIN virtual_accounts va ON va.id = p.virtual_account_id
    LEFT JOIN LATERAL (SELECT sku, count, state FROM instance_usage WHERE instance_id = p.id OFFSET 0) u ON true
)`;
}

const LINE_COLUMNS =
  'l.id, l.path, l.product_id, l.serial_number, l.hostname, l.state, l.registered_at, l.contact_key, l.sku, l.count, l.use_state';
const LINE_ORDER = 'ORDER BY l.last_contact_at DESC, l.id, l.sku';

/** A page of the given VAs (a scope already judged): the pages and the CLI. */
function knownScopePageSql(after: boolean, limit: string): string {
  return `WITH ${instancesPageSql(':vaIds::bigint[]', after, limit)}
SELECT ${LINE_COLUMNS} FROM lines l ${LINE_ORDER}`;
}

/**
 * The API's page: the caller's scope judged in the same statement (SCOPE_SQL), so an answer is
 * one round trip. Always at least one row, carrying the judgement (`refused`, last); no line
 * unless the caller may see the account and the VA asked for.
 */
function judgedPageSql(after: boolean, limit: string): string {
  return `WITH ${SCOPE_SQL}, ${instancesPageSql('ARRAY(SELECT id FROM shown)', after, limit)}
SELECT ${LINE_COLUMNS}, j.refused
  FROM judged j LEFT JOIN lines l ON true
 ${LINE_ORDER}`;
}

/**
 * The page statements. The first page and the pages after a cursor are apart, so a plan kept for
 * one is never used for the other. At the default page size and the VA page's a statement is a
 * named (prepared) one with its LIMIT written in: each connection has Postgres parse it once, and
 * plan it once (a LIMIT bound as a parameter makes the generic plan look costlier than planning
 * anew each time, so Postgres would keep planning); at other sizes it is planned per answer.
 */
interface PageStatement {
  sql: string;
  name?: string;
}
const NAMED_PAGE_SIZES: readonly number[] = [INSTANCES_PAGE, INSTANCES_PAGE_MAX];
const pageStatements = new Map<string, PageStatement>();

function pageStatement(judged: boolean, after: boolean, limit: number): PageStatement {
  const named = NAMED_PAGE_SIZES.includes(limit);
  const key = `${judged}/${after}/${named ? limit : ''}`;
  let statement = pageStatements.get(key);
  if (!statement) {
    const limitSql = named ? String(limit + 1) : ':limit';
    statement = judged
      ? { sql: judgedPageSql(after, limitSql), ...(named ? { name: `lf_instances_judged_${after ? 'after' : 'first'}_${limit}` } : {}) }
      : { sql: knownScopePageSql(after, limitSql), ...(named ? { name: `lf_instances_${after ? 'after' : 'first'}_${limit}` } : {}) };
    pageStatements.set(key, statement);
  }
  return statement;
}

/** A row of LINE_COLUMNS, as an array (pg's rowMode 'array': no object per row); the judged page adds `refused`. */
type PageRow = [
  id: string | null,
  path: string,
  productId: string,
  serialNumber: string,
  hostname: string,
  state: string,
  registeredAt: string,
  contactKey: string,
  sku: string | null,
  count: number | null,
  useState: string | null,
  refused?: ScopeRefusal | null,
];

export interface InstancesPageOptions {
  includeRemoved?: boolean;
  limit?: number;
  after?: string;
}

export type InstancesPage = { instances: InstanceLine[]; nextCursor: string | null };

/** The bindings every page statement takes, and which of them to run; throws BadCursor. */
function pageBindings(options: InstancesPageOptions): { limit: number; after: boolean; bindings: Record<string, unknown> } {
  const limit = options.limit ?? INSTANCES_PAGE;
  const bindings: Record<string, unknown> = { includeRemoved: options.includeRemoved ?? false, limit: limit + 1 };
  if (options.after) [bindings.afterContact, bindings.afterId] = decodeCursor(options.after);
  return { limit, after: Boolean(options.after), bindings };
}

/** The page's rows grouped per instance; one instance more than the page was read, to know whether another follows. */
function pageOf(rows: readonly PageRow[], limit: number): InstancesPage {
  const instances: InstanceLine[] = [];
  let lastKey: InstancesCursor | undefined;
  let more = false;
  for (const [id, path, productId, serialNumber, hostname, state, registeredAt, contactKey, sku, count, useState] of rows) {
    if (id === null) continue;
    let line = instances[instances.length - 1];
    if (line?.instanceId !== id) {
      if (instances.length === limit) {
        more = true;
        break;
      }
      line = {
        instanceId: id,
        virtualAccountPath: path,
        productId,
        serialNumber,
        hostname,
        state,
        registeredAt,
        lastContactAt: `${contactKey.slice(0, 23)}Z`,
        uses: [],
      };
      instances.push(line);
      lastKey = [contactKey, id];
    }
    if (sku !== null) line.uses.push({ sku, count: count!, state: useState! });
  }
  return { instances, nextCursor: more && lastKey ? encodeCursor(lastKey) : null };
}

/**
 * A page of the instances of the visible VAs (removed ones too, when asked), most recently heard
 * from first, after `after` (keyset paging: each page walks product_instances_account_contact_idx
 * from where the last stopped). One statement.
 */
export async function instancesOf(q: Knex, scope: ViewScope, options: InstancesPageOptions = {}): Promise<InstancesPage> {
  const { limit, after, bindings } = pageBindings(options);
  const statement = pageStatement(false, after, limit);
  const { rows } = await q
    .raw<{ rows: PageRow[] }>(statement.sql, { ...bindings, accountId: scope.accountId, vaIds: visibleVaIds(scope) })
    .options({ name: statement.name, rowMode: 'array' });
  return pageOf(rows, limit);
}

/**
 * instancesOf for an API caller whose scope is not judged yet: the judgement (as viewScopeOf's)
 * and the page in one statement, the page empty unless the caller may see it. A bad cursor
 * throws BadCursor before anything is read.
 */
export async function judgedInstancesOf(
  q: Knex,
  grantee: Grantee,
  accountId: string,
  options: InstancesPageOptions & { virtualAccountPath?: string },
): Promise<{ refused: ScopeRefusal } | { refused?: undefined; page: InstancesPage }> {
  const { limit, after, bindings } = pageBindings(options);
  const statement = pageStatement(true, after, limit);
  const { rows } = await q
    .raw<{ rows: PageRow[] }>(statement.sql, { ...bindings, ...scopeSqlBindings(grantee, accountId, options.virtualAccountPath) })
    .options({ name: statement.name, rowMode: 'array' });
  const refused = rows[0][11];
  return refused ? { refused } : { page: pageOf(rows, limit) };
}

export interface UsePoint {
  day: string;
  purchased: number;
  inUse: number;
}

export interface UseSeries {
  virtualAccountPath: string;
  sku: string;
  points: UsePoint[];
}

/** The chart of use against purchase: one series per visible (VA, SKU), the last `days` days. */
export async function dailyUseOf(q: Knex, scope: ViewScope, days = 90): Promise<UseSeries[]> {
  const rows: Array<{ path: string; sku: string; day: string; purchased: string; in_use: string }> = await q('pool_daily_use as d')
    .join('virtual_accounts as va', 'va.id', 'd.virtual_account_id')
    .whereIn('d.virtual_account_id', visibleVaIds(scope))
    .where('d.day', '>', q.raw(`current_date - ?::int`, [days]))
    .orderBy([{ column: 'va.path' }, { column: 'd.sku' }, { column: 'd.day' }])
    .select('va.path', 'd.sku', q.raw(`to_char(d.day, 'YYYY-MM-DD') AS day`), 'd.purchased', 'd.in_use');
  const series = new Map<string, UseSeries>();
  for (const r of rows) {
    const key = `${r.path}\u0000${r.sku}`;
    if (!series.has(key)) series.set(key, { virtualAccountPath: r.path, sku: r.sku, points: [] });
    // bigint columns arrive as strings; they stay far below 2^53.
    series.get(key)!.points.push({ day: r.day, purchased: Number(r.purchased), inUse: Number(r.in_use) });
  }
  return [...series.values()];
}

/** The instances a signed-in VA page lists: one page of the most, most recently heard from first. */
export async function instancesForPage(q: Knex, scope: ViewScope): Promise<InstanceLine[]> {
  return (await instancesOf(q, scope, { limit: INSTANCES_PAGE_MAX })).instances;
}
