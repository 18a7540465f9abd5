import type { Knex } from 'knex';
import { visibleVaIds, type ViewScope } from './views-access';

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
    purchased: number;
    authorized: number;
    overage: number;
    unserved: number;
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
    const inUse = r.authorized + r.overage + r.unserved;
    return {
      virtualAccountPath: r.path,
      sku: r.sku,
      purchased: r.purchased,
      inUse,
      balance: r.purchased - inUse,
      overage: r.overage,
      unserved: r.unserved,
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
 * that again cost both processes more. Plain SQL: no query builder to compile per answer.
 */
const INSTANCES_PAGE_SQL = `
WITH page AS (
  SELECT i.id, i.virtual_account_id, i.product_id, i.serial_number, i.hostname, i.state, i.registered_at, i.last_contact_at
    FROM product_instances i
   WHERE i.account_id = :accountId AND i.virtual_account_id = ANY(:vaIds::bigint[])
     AND (:includeRemoved OR i.state <> 'removed')
     AND (:afterContact::timestamptz IS NULL OR i.last_contact_at < :afterContact::timestamptz
          OR (i.last_contact_at = :afterContact::timestamptz AND i.id > :afterId))
   ORDER BY i.last_contact_at DESC, i.id
   LIMIT :limit
)
SELECT p.id, va.path, p.product_id, p.serial_number, p.hostname, p.state,
       to_char(p.registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS registered_at,
       to_char(p.last_contact_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS contact_key,
       u.sku, u.count, u.state AS use_state
  FROM page p
  JOIN virtual_accounts va ON va.id = p.virtual_account_id
  LEFT JOIN LATERAL (SELECT sku, count, state FROM instance_usage WHERE instance_id = p.id OFFSET 0) u ON true
 ORDER BY p.last_contact_at DESC, p.id, u.sku`;

interface InstancePageRow {
  id: string;
  path: string;
  product_id: string;
  serial_number: string;
  hostname: string;
  state: string;
  registered_at: string;
  contact_key: string;
  sku: string | null;
  count: number | null;
  use_state: string | null;
}

/**
 * A page of the instances of the visible VAs (removed ones too, when asked), most recently heard
 * from first, after `after` (keyset paging: each page walks product_instances_account_contact_idx
 * from where the last stopped). One statement; one more instance than the page is read, to know
 * whether another page follows.
 */
export async function instancesOf(
  q: Knex,
  scope: ViewScope,
  options: { includeRemoved?: boolean; limit?: number; after?: string } = {},
): Promise<{ instances: InstanceLine[]; nextCursor: string | null }> {
  const limit = options.limit ?? INSTANCES_PAGE;
  const [afterContact, afterId] = options.after ? decodeCursor(options.after) : [null, null];
  const { rows } = await q.raw<{ rows: InstancePageRow[] }>(INSTANCES_PAGE_SQL, {
    accountId: scope.accountId,
    vaIds: visibleVaIds(scope),
    includeRemoved: options.includeRemoved ?? false,
    afterContact,
    afterId,
    limit: limit + 1,
  });
  const instances: InstanceLine[] = [];
  let lastKey: InstancesCursor | undefined;
  let more = false;
  for (const r of rows) {
    let line = instances[instances.length - 1];
    if (line?.instanceId !== r.id) {
      if (instances.length === limit) {
        more = true;
        break;
      }
      line = {
        instanceId: r.id,
        virtualAccountPath: r.path,
        productId: r.product_id,
        serialNumber: r.serial_number,
        hostname: r.hostname,
        state: r.state,
        registeredAt: r.registered_at,
        lastContactAt: `${r.contact_key.slice(0, 23)}Z`,
        uses: [],
      };
      instances.push(line);
      lastKey = [r.contact_key, r.id];
    }
    if (r.sku !== null) line.uses.push({ sku: r.sku, count: r.count!, state: r.use_state! });
  }
  return { instances, nextCursor: more && lastKey ? encodeCursor(lastKey) : null };
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
  const rows: Array<{ path: string; sku: string; day: string; purchased: number; in_use: number }> = await q('pool_daily_use as d')
    .join('virtual_accounts as va', 'va.id', 'd.virtual_account_id')
    .whereIn('d.virtual_account_id', visibleVaIds(scope))
    .where('d.day', '>', q.raw(`current_date - ?::int`, [days]))
    .orderBy([{ column: 'va.path' }, { column: 'd.sku' }, { column: 'd.day' }])
    .select('va.path', 'd.sku', q.raw(`to_char(d.day, 'YYYY-MM-DD') AS day`), 'd.purchased', 'd.in_use');
  const series = new Map<string, UseSeries>();
  for (const r of rows) {
    const key = `${r.path}\u0000${r.sku}`;
    if (!series.has(key)) series.set(key, { virtualAccountPath: r.path, sku: r.sku, points: [] });
    series.get(key)!.points.push({ day: r.day, purchased: r.purchased, inUse: r.in_use });
  }
  return [...series.values()];
}

/** The instances a signed-in VA page lists: one page of the most, most recently heard from first. */
export async function instancesForPage(q: Knex, scope: ViewScope): Promise<InstanceLine[]> {
  return (await instancesOf(q, scope, { limit: INSTANCES_PAGE_MAX })).instances;
}
