import type { SignedUsageAnswer } from '../device-client/answers';
import type { LeanTransaction } from '../db/lean-transaction';
import { preparedRaw, type SqlTransaction } from '../db/prepared';
import type { WritePart } from '../db/statement-batch';
import type { PoolCounts, UseState } from './compliance';
import type { CallerInstance } from './device-auth';
import { lockPool, poolRowOf, type PoolKey, type PoolRow } from './pools';
import type { PreviousUse } from './report-judging';

/**
 * The set-based statements of a batch of usage reports (report-batch.ts): each reads or writes
 * the rows of every report of the batch at once, from arrays (unnest), so a statement's size in
 * parameters does not grow with the batch. Same rows, same locks as the one-report path.
 */

/** The callers' instances, locked, by ID, with their credential serial (a missing one does not exist). */
export type LockedInstances = Map<string, CallerInstance & { credential_serial: string }>;

/**
 * Locks every caller's instance (in ID order, as every batch does, so two batches never
 * deadlock), with its agreement: one round trip. Nothing is spent here: a usage report's
 * signature is kept with its answer (answersInsert), so a report refused or sent alone leaves
 * nothing behind. What is read of the instances' use is read after this, so under the locks.
 *
 * It also sets plan_cache_mode to force_custom_plan for the rest of
 * the transaction (set_config's `true`: as SET LOCAL, in a one-time filter so even when no row
 * matches, without a round trip of its own): each statement is planned for the sizes its tables
 * have now. A generic plan is kept for the connection's life, so one made while a table was small
 * (a nested loop over all of usage_reports, a scan of device_request_signatures) stays after the
 * table has grown as long as no ANALYZE comes (autovacuum off, as on the bench host, or behind):
 * Postgres's CPU per report went from 0.08 to 1.0-1.4 ms a report at 32 a batch on a freshly
 * seeded database (bench/report-pg-cpu.ts --reseed; perf: texteq over a tuplestore, hash tables
 * spilled to temporary files). Planning afresh costs 0.09-0.11 ms a report at 32 a batch against
 * 0.08 with a good generic plan, 0.33 against 0.24 at 4 a batch. The one-report path takes the
 * same setting: the default mode also settles on a generic plan once it looks no dearer.
 */

export async function lockInstances(trx: SqlTransaction, instanceIds: string[]): Promise<LockedInstances> {
  const { rows }: { rows: Array<CallerInstance & { credential_serial: string }> } = await preparedRaw(
    trx,
    `SELECT i.id, i.account_id, i.virtual_account_id::text, i.state, i.public_key, i.credential_serial,
            a.kind AS agreement_kind, a.allowance_factor
     FROM product_instances i LEFT JOIN overage_agreements a ON a.account_id = i.account_id
     WHERE i.id = ANY(?::text[]) AND (SELECT set_config('plan_cache_mode', 'force_custom_plan', true)) IS NOT NULL
     ORDER BY i.id FOR UPDATE OF i`,
    [instanceIds],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/** A stored answer and the hash (hex) of the signature of the request it answered (null: kept before signatures were). */
export interface StoredAnswer {
  answer: SignedUsageAnswer;
  signatureHash: string | null;
}

export interface RecalledBatch {
  /** By instance ID: the stored answer of the report ID it sends. */
  stored: Map<string, StoredAnswer>;
  /** Hex hashes of the requests' signatures that device_request_signatures already holds (a retry answered from its stored answer spent it). */
  spentBefore: Set<string>;
  previous: Map<string, Map<string, PreviousUse>>;
  pools: Map<string, PoolRow>;
}

/**
 * The stored answers of these (instance, report ID) pairs with the signature each answered, which
 * of the requests' signatures were spent before, the live instances' use as last judged, and the
 * pools of `poolKeys` locked in the order given (comparePoolKeys: the order of every pool writer):
 * one round trip, after lockInstances, so what it reads is the latest. A pool with no row yet is
 * not in `pools` (createMissingPools makes and locks it).
 */
export async function recallBatch(
  trx: SqlTransaction,
  reports: Array<{ instanceId: string; reportId: string; signatureHash: Buffer }>,
  liveInstanceIds: string[],
  poolKeys: PoolKey[],
): Promise<RecalledBatch> {
  const {
    rows,
  }: {
    rows: Array<{
      stored: Array<{ i: string; a: SignedUsageAnswer; h: string | null }> | null;
      spent: string | null;
      previous: Array<PreviousUse & { i: string }> | null;
      pools: Array<Record<string, unknown>> | null;
    }>;
  } = await preparedRaw(
    trx,
    `WITH pools AS (
       SELECT p.virtual_account_id::text, p.account_id, p.sku, p.purchased, p.authorized, p.overage, p.unserved
       FROM unnest(?::bigint[], ?::text[]) WITH ORDINALITY AS k (virtual_account_id, sku, ord)
       JOIN license_pools p ON p.virtual_account_id = k.virtual_account_id AND p.sku = k.sku
       ORDER BY k.ord FOR UPDATE OF p
     )
     SELECT (SELECT json_agg(json_build_object('i', r.instance_id, 'a', r.answer::json, 'h', encode(r.signature_hash, 'hex')))
             FROM usage_reports r JOIN unnest(?::text[], ?::text[]) AS k (instance_id, report_id)
               ON r.instance_id = k.instance_id AND r.report_id = k.report_id) AS stored,
            (SELECT string_agg(encode(signature_hash, 'hex'), ',') FROM device_request_signatures
             WHERE signature_hash = ANY(?::bytea[])) AS spent,
            (SELECT json_agg(json_build_object('i', instance_id, 'sku', sku, 'count', count, 'state', state))
             FROM instance_usage WHERE instance_id = ANY(?::text[])) AS previous,
            (SELECT json_agg(pools) FROM pools) AS pools`,
    [
      poolKeys.map((k) => k.virtualAccountId),
      poolKeys.map((k) => k.sku),
      reports.map((r) => r.instanceId),
      reports.map((r) => r.reportId),
      reports.map((r) => r.signatureHash),
      liveInstanceIds,
    ],
  );
  const stored = new Map((rows[0].stored ?? []).map((s) => [s.i, { answer: s.a, signatureHash: s.h }]));
  const previous = new Map<string, Map<string, PreviousUse>>();
  for (const { i, ...use } of rows[0].previous ?? []) {
    if (!previous.has(i)) previous.set(i, new Map());
    previous.get(i)!.set(use.sku, use);
  }
  const pools = new Map((rows[0].pools ?? []).map((row) => poolRowOf(row)).map((pool) => [poolKeyText(pool), pool]));
  // One comma-separated text, not a bytea[]: pg parses an array character by character in JS.
  return { stored, spentBefore: new Set(rows[0].spent ? rows[0].spent.split(',') : []), previous, pools };
}

/** Pools of `keys` with no row yet (rare: a SKU no order brought to this VA), created then locked as lockPool does, after the others. */
export async function createMissingPools(
  trx: LeanTransaction,
  keys: Array<PoolKey & { accountId: string }>,
  pools: Map<string, PoolRow>,
): Promise<void> {
  for (const key of keys) {
    if (!pools.has(poolKeyText(key))) pools.set(poolKeyText(key), await lockPool(trx.knex(), key.accountId, key));
  }
}

export function poolKeyText(key: PoolKey): string {
  return `${key.virtualAccountId}\u0000${key.sku}`;
}

export interface PoolWrite extends PoolKey {
  counts: PoolCounts;
  /** The highest use the pool reached in the batch: the daily chart keeps the day's highest. */
  highestInUse: number;
}

export interface UseWrite {
  instanceId: string;
  sku: string;
  virtualAccountId: string;
  count: number;
  state: UseState;
}

/** The pools' counters and today's chart points, for every pool the batch changed (bigint: sums of use may pass 2^31). */
export function poolWrites(pools: PoolWrite[]): WritePart[] {
  if (pools.length === 0) return [];
  const columns = [
    pools.map((p) => p.virtualAccountId),
    pools.map((p) => p.sku),
    pools.map((p) => p.counts.authorized),
    pools.map((p) => p.counts.overage),
    pools.map((p) => p.counts.unserved),
  ];
  return [
    {
      sql: `UPDATE license_pools p SET authorized = v.authorized, overage = v.overage, unserved = v.unserved,
              insufficient_since = CASE WHEN v.unserved > 0 THEN COALESCE(p.insufficient_since, now()) END, updated_at = now()
            FROM unnest(?::bigint[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[]) AS v (virtual_account_id, sku, authorized, overage, unserved)
            WHERE p.virtual_account_id = v.virtual_account_id AND p.sku = v.sku`,
      bindings: columns,
    },
    {
      sql: `INSERT INTO pool_daily_use (virtual_account_id, sku, day, purchased, in_use)
            SELECT v.virtual_account_id, v.sku, current_date, v.purchased, v.in_use
            FROM unnest(?::bigint[], ?::text[], ?::bigint[], ?::bigint[]) AS v (virtual_account_id, sku, purchased, in_use)
            ON CONFLICT (virtual_account_id, sku, day) DO UPDATE
            SET purchased = GREATEST(pool_daily_use.purchased, EXCLUDED.purchased), in_use = GREATEST(pool_daily_use.in_use, EXCLUDED.in_use)
            WHERE pool_daily_use.purchased < EXCLUDED.purchased OR pool_daily_use.in_use < EXCLUDED.in_use`,
      bindings: [columns[0], columns[1], pools.map((p) => p.counts.purchased), pools.map((p) => p.highestInUse)],
    },
  ];
}

/** The use rows: reported SKUs upserted, dropped SKUs deleted (distinct rows: one report per instance in a batch). */
export function useWrites(upserts: UseWrite[], deletes: Array<{ instanceId: string; sku: string }>): WritePart[] {
  const parts: WritePart[] = [];
  if (upserts.length > 0) {
    parts.push({
      sql: `INSERT INTO instance_usage (instance_id, sku, virtual_account_id, count, state, reported_at)
            SELECT v.instance_id, v.sku, v.virtual_account_id, v.count, v.state, now()
            FROM unnest(?::text[], ?::text[], ?::bigint[], ?::int[], ?::text[]) AS v (instance_id, sku, virtual_account_id, count, state)
            ON CONFLICT (instance_id, sku) DO UPDATE SET virtual_account_id = EXCLUDED.virtual_account_id, count = EXCLUDED.count,
              state = EXCLUDED.state, reported_at = now()`,
      bindings: [
        upserts.map((u) => u.instanceId),
        upserts.map((u) => u.sku),
        upserts.map((u) => u.virtualAccountId),
        upserts.map((u) => u.count),
        upserts.map((u) => u.state),
      ],
    });
  }
  if (deletes.length > 0) {
    parts.push({
      sql: `DELETE FROM instance_usage u USING unnest(?::text[], ?::text[]) AS d (instance_id, sku)
            WHERE u.instance_id = d.instance_id AND u.sku = d.sku`,
      bindings: [deletes.map((d) => d.instanceId), deletes.map((d) => d.sku)],
    });
  }
  return parts;
}

/**
 * A report's contact, kept to the minute: an active instance's row is written only when its last
 * contact is a minute old or more. last_contact_at is in two indexes, so every write of it is a new
 * row version and an entry in each of the table's five indexes; liveness counts silence in days,
 * the pages show the minute. An instance not active (authorization_expired) is always written.
 */
export const CONTACT_WRITE_SQL = `UPDATE product_instances SET state = 'active', last_contact_at = now()
  WHERE id = ANY(?::text[]) AND (state <> 'active' OR last_contact_at < now() - interval '1 minute')`;

/**
 * The answered instances' contact (CONTACT_WRITE_SQL), and the signatures of retries answered from
 * their stored answer spent (the one place a usage report writes device_request_signatures: the
 * stored row keeps the signature of the request it answered, not of each retry).
 */
export function contactAndSpentWrites(answered: string[], spent: Array<{ instanceId: string; signatureHash: Buffer }>): WritePart[] {
  const parts: WritePart[] = [];
  if (answered.length > 0) parts.push({ sql: CONTACT_WRITE_SQL, bindings: [answered] });
  if (spent.length > 0) parts.push(spentSignaturesInsert(spent));
  return parts;
}

/** Request signatures spent, as device_request_signatures keeps them (a second use is a replay). */
export function spentSignaturesInsert(spent: Array<{ instanceId: string; signatureHash: Buffer }>): WritePart {
  return {
    sql: `INSERT INTO device_request_signatures (signature_hash, instance_id)
          SELECT * FROM unnest(?::bytea[], ?::text[]) ON CONFLICT DO NOTHING`,
    bindings: [spent.map((s) => s.signatureHash), spent.map((s) => s.instanceId)],
  };
}

export interface KeptAnswer {
  instanceId: string;
  reportId: string;
  answer: SignedUsageAnswer;
  /** SHA-256 of the signature of the request answered: the same signed request again is a replay. */
  signatureHash: Buffer;
}

/** The answers kept for retries, each with its request's signature (the statement's last part). */
export function answersInsert(answers: KeptAnswer[]): WritePart {
  return {
    sql: `INSERT INTO usage_reports (instance_id, report_id, answer, signature_hash)
          SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::bytea[])`,
    bindings: [
      answers.map((a) => a.instanceId),
      answers.map((a) => a.reportId),
      answers.map((a) => JSON.stringify(a.answer)),
      answers.map((a) => a.signatureHash),
    ],
  };
}
