import type { Knex } from 'knex';
import { unprocessable } from '../api/errors';

/**
 * SKUs some license was ever deposited of (U9): a report naming any other SKU is refused, while a
 * SKU that exists but that the VA does not hold stays OutOfCompliance (R18). Entitlements are
 * never deleted, so a SKU once known stays known: hits are kept in memory and only a miss costs
 * a query (entitlements_sku_idx), which keeps known SKUs off Postgres on the hot path.
 */
export class KnownSkus {
  private readonly known = new Set<string>();

  constructor(private readonly db: Knex) {}

  /** The SKUs of `skus` no license exists of: one query for all the misses, none when all are known. */
  async unknownOf(skus: string[]): Promise<string[]> {
    const missing = skus.filter((sku) => !this.known.has(sku));
    if (missing.length === 0) return [];
    const { rows }: { rows: Array<{ sku: string }> } = await this.db.raw(
      `SELECT s.sku FROM unnest(?::text[]) AS s(sku) WHERE EXISTS (SELECT 1 FROM entitlements e WHERE e.sku = s.sku)`,
      [missing],
    );
    // Only positive answers are kept: a SKU unknown now may be deposited a moment later.
    for (const { sku } of rows) this.known.add(sku);
    return missing.filter((sku) => !this.known.has(sku));
  }

  /** Refuses (422, each SKU named as usage.<sku>) a report naming a SKU no license exists of. */
  async check(usage: Record<string, number>): Promise<void> {
    const unknown = await this.unknownOf(Object.keys(usage));
    if (unknown.length === 0) return;
    throw unprocessable(
      'UnknownSku',
      unknown.map((sku) => ({ field: `usage.${sku}`, reason: 'unknown SKU: no license of it exists' })),
    );
  }
}
