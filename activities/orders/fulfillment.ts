import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/db/knex';
import { preparedQuery } from '../../src/db/prepared';
import { ACTIVATE_AND_ALLOCATE_SQL, allocateActivatedEntitlements, type ActivatedEntitlement } from '../../src/licensing/pools';
import { refuse } from '../shared/errors';
import { writeListStatus, type ListStatus, type StatusProjection } from './records';
import type { AccessTokenRow, EntitlementRow, LrpRecordRow, OrderLineRow, OrderRow } from '../../src/db/rows';

export interface ShipmentRecord {
  orderId: string;
  lineNumber: number;
  shippedOn: string;
  /** Term lines: the subscription the workflow fixed from the ship date (R7). */
  subscription?: { termMonths: number; startsOn: string; endsOn: string };
  idempotencyKey: string;
  listStatus: ListStatus;
  status?: StatusProjection;
}

export interface ProvisioningRequest {
  orderId: string;
  lineNumbers: number[];
  idempotencyKey: string;
  listStatus: ListStatus;
  status?: StatusProjection;
}

export interface ProvisioningResult {
  /** Classic lines: the License Registration Portal keys, by line number. */
  lrpKeys: Record<number, string>;
}

export interface WithdrawalRequest {
  orderId: string;
  reason?: string;
  idempotencyKey: string;
  listStatus: ListStatus;
  status?: StatusProjection;
}

/** A readable LRP license key, e.g. LRP-7K2Q-9XMD-4HTA-B3VN. */
function newLicenseKey(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(16);
  const chars = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
  return `LRP-${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}-${chars.slice(12, 16)}`;
}

/** Shipments, provisioning and withdrawal of an order's lines. */
export function createFulfillmentActivities(db: Db) {
  return { ...createShipmentActivities(db), ...createProvisioningActivities(db), ...createWithdrawalActivities(db) };
}

function createShipmentActivities(db: Db) {
  return {
    /** R7: the ship date, and for a term line its subscription, written once. */
    async recordShipment(shipment: ShipmentRecord): Promise<void> {
      // One statement finds the line, writes its ship date once and, for a term line, its
      // subscription, then the order's status and event (issue 16: it was a transaction of a
      // read, two writes and the status write; then BEGIN, two statements, COMMIT).
      const sub = shipment.subscription;
      const parts = [
        {
          name: 'line',
          query: db.raw('SELECT id, state FROM order_lines WHERE order_id = ? AND line_number = ?', [
            shipment.orderId,
            shipment.lineNumber,
          ]),
        },
        {
          name: 'shipped',
          query: db.raw(
            `UPDATE order_lines l
                SET shipped_on = ?, state = CASE WHEN line.state IN ('deposited', 'held', 'booked') THEN 'shipped' ELSE l.state END
               FROM line WHERE l.id = line.id AND l.shipped_on IS NULL`,
            [shipment.shippedOn],
          ),
        },
        ...(sub
          ? [
              {
                name: 'subscription',
                query: db.raw(
                  `INSERT INTO subscriptions (order_line_id, term_months, starts_on, ends_on)
                   SELECT id, ?, ?, ? FROM line ON CONFLICT (order_line_id) DO NOTHING`,
                  [sub.termMonths, sub.startsOn, sub.endsOn],
                ),
              },
            ]
          : []),
      ];
      const { gateOpen } = await writeListStatus(db, shipment.orderId, shipment.listStatus, {
        parts,
        gate: 'line',
        projection: shipment.status,
        event: {
          type: 'line_shipped',
          idempotencyKey: shipment.idempotencyKey,
          details: { lineNumber: shipment.lineNumber, shippedOn: shipment.shippedOn, subscription: shipment.subscription ?? null },
        },
      });
      if (!gateOpen) throw refuse('UnknownOrder', `order "${shipment.orderId}" has no line ${shipment.lineNumber}`);
    },
  };
}

function createProvisioningActivities(db: Db) {
  return {
    /**
     * R8: smart lines' entitlements become active in the customer's Smart Account; classic
     * lines get a License Registration Portal record instead. One transaction; a repeat is a no-op.
     */
    async provisionLines(request: ProvisioningRequest): Promise<ProvisioningResult> {
      return db.transaction(async (trx) => {
        const order = await lockOrderWithLines(trx, request);
        if (!order?.account_id) throw refuse('UnknownOrder', `order "${request.orderId}" has no customer Smart Account to provision into`);
        const lines = order.lines;
        const smartLineIds = lines.filter((l) => l.license_type === 'smart').map((l) => String(l.id));
        // Every smart line's entitlements activated and allocated in one statement (issue 16:
        // one per line, then a read and a write of the allocations).
        const activated =
          smartLineIds.length === 0
            ? []
            : (
                await preparedQuery<ActivatedEntitlement & { allocated: boolean; inserted: boolean }>(
                  trx,
                  trx.raw(ACTIVATE_AND_ALLOCATE_SQL, [smartLineIds]),
                )
              ).rows;
        const lrpKeys: Record<number, string> = {};
        for (const line of lines) {
          // A classic license stays deposited in the Smart Account: it is used through its LRP
          // record, never activated as a smart license.
          if (line.license_type !== 'smart') lrpKeys[line.line_number] = await lrpKeyOf(trx, String(line.id), order.account_id);
        }
        // R18: the licenses join their pool now, and its devices are re-judged in this transaction.
        await allocateActivatedEntitlements(trx, activated, { orderId: request.orderId, idempotencyKey: request.idempotencyKey });
        const fulfilled = request.listStatus.phase === 'Fulfilled';
        await writeListStatus(trx, request.orderId, request.listStatus, {
          parts: [
            {
              name: 'provisioned_lines',
              query: trx.raw(`UPDATE order_lines SET state = 'provisioned' WHERE id = ANY(?) AND state <> 'cancelled'`, [
                lines.map((l) => String(l.id)),
              ]),
            },
          ],
          extra: fulfilled ? { fulfilled_at: trx.raw('COALESCE(fulfilled_at, now())') } : {},
          projection: request.status,
          event: {
            type: 'lines_provisioned',
            idempotencyKey: request.idempotencyKey,
            details: { lines: request.lineNumbers, lrpKeys },
          },
        });
        return { lrpKeys };
      });
    },
  };
}

/** The order, locked, with the lines to provision (one statement; issue 16: it was two). */
async function lockOrderWithLines(trx: Knex.Transaction, request: ProvisioningRequest) {
  const { rows } = await preparedQuery<
    Pick<OrderRow, 'id' | 'account_id'> & { lines: Array<Pick<OrderLineRow, 'id' | 'line_number' | 'license_type'>> }
  >(
    trx,
    trx.raw(
      `SELECT o.id, o.account_id,
       (SELECT COALESCE(json_agg(json_build_object('id', l.id, 'line_number', l.line_number, 'license_type', l.license_type)
                                 ORDER BY l.line_number), '[]')
          FROM order_lines l WHERE l.order_id = o.id AND l.line_number = ANY(?)) AS lines
     FROM orders o WHERE o.id = ? FOR UPDATE`,
      [request.lineNumbers, request.orderId],
    ),
  );
  return rows[0];
}

/**
 * The classic line's License Registration Portal key: made once, then read back (one statement;
 * the order's lock keeps a concurrent attempt out until this one has committed).
 */
async function lrpKeyOf(trx: Knex.Transaction, orderLineId: string, accountId: string): Promise<string> {
  const { rows } = await trx.raw<{ rows: Array<Pick<LrpRecordRow, 'license_key'>> }>(
    `WITH made AS (
       INSERT INTO lrp_records (order_line_id, account_id, license_key) VALUES (?, ?, ?)
       ON CONFLICT (order_line_id) DO NOTHING RETURNING license_key
     )
     SELECT license_key FROM made UNION ALL SELECT license_key FROM lrp_records WHERE order_line_id = ?`,
    [orderLineId, accountId, newLicenseKey(), orderLineId],
  );
  if (rows.length === 0) throw new Error(`the LRP record of order line ${orderLineId} was neither made nor found`);
  return rows[0].license_key;
}

function createWithdrawalActivities(db: Db) {
  return {
    /** R13: cancels every line not provisioned and withdraws its held or deposited licenses. */
    async withdrawOrder(request: WithdrawalRequest): Promise<void> {
      await db.transaction(async (trx) => {
        const order = await trx<OrderRow>('orders').where({ id: request.orderId }).forUpdate().first('id');
        if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
        const lineIds = await trx<OrderLineRow>('order_lines')
          .where({ order_id: request.orderId })
          .whereNot('state', 'provisioned')
          .pluck('id');
        await trx<EntitlementRow>('entitlements')
          .whereIn('order_line_id', lineIds)
          .whereIn('status', ['held', 'deposited'])
          .update({ status: 'withdrawn', updated_at: trx.fn.now() });
        await trx<OrderLineRow>('order_lines').whereIn('id', lineIds).update({ state: 'cancelled' });
        // Open links for this order die with it.
        await trx<AccessTokenRow>('access_tokens')
          .where({ order_id: request.orderId })
          .whereNull('used_at')
          .update({ used_at: trx.fn.now() });
        await writeListStatus(trx, request.orderId, request.listStatus, {
          extra: { cancelled_at: trx.raw('COALESCE(cancelled_at, now())') },
          projection: request.status,
          event: {
            type: 'cancelled',
            idempotencyKey: request.idempotencyKey,
            details: { reason: request.reason ?? null },
          },
        });
      });
    },
  };
}
