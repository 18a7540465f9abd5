import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/db/knex';
import { allocateActivatedEntitlements } from '../../src/licensing/pools';
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
      await db.transaction(async (trx) => {
        // One statement finds the line, writes its ship date once and, for a term line, its
        // subscription (issue 16: it was a read and two writes).
        const sub = shipment.subscription;
        const subscription = sub
          ? `, subscription AS (
               INSERT INTO subscriptions (order_line_id, term_months, starts_on, ends_on)
               SELECT id, ?, ?, ? FROM line ON CONFLICT (order_line_id) DO NOTHING
             )`
          : '';
        const { rows } = await trx.raw<{ rows: Array<{ id: number }> }>(
          `WITH line AS (SELECT id, state FROM order_lines WHERE order_id = ? AND line_number = ?),
           shipped AS (
             UPDATE order_lines l
                SET shipped_on = ?, state = CASE WHEN line.state IN ('deposited', 'held', 'booked') THEN 'shipped' ELSE l.state END
               FROM line WHERE l.id = line.id AND l.shipped_on IS NULL
           )${subscription}
           SELECT id FROM line`,
          [shipment.orderId, shipment.lineNumber, shipment.shippedOn, ...(sub ? [sub.termMonths, sub.startsOn, sub.endsOn] : [])],
        );
        if (rows.length === 0) throw refuse('UnknownOrder', `order "${shipment.orderId}" has no line ${shipment.lineNumber}`);
        await writeListStatus(trx, shipment.orderId, shipment.listStatus, {
          projection: shipment.status,
          event: {
            type: 'line_shipped',
            idempotencyKey: shipment.idempotencyKey,
            details: { lineNumber: shipment.lineNumber, shippedOn: shipment.shippedOn, subscription: shipment.subscription ?? null },
          },
        });
      });
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
        const order = await trx<OrderRow>('orders').where({ id: request.orderId }).forUpdate().first('id', 'account_id');
        if (!order?.account_id) throw refuse('UnknownOrder', `order "${request.orderId}" has no customer Smart Account to provision into`);
        const lines = await trx<OrderLineRow>('order_lines')
          .where({ order_id: request.orderId })
          .whereIn('line_number', request.lineNumbers)
          .orderBy('line_number');
        const lrpKeys: Record<number, string> = {};
        const activatedEntitlements: string[] = [];
        for (const line of lines) {
          if (line.license_type === 'smart') {
            const activated: Array<{ id: string }> = await trx<EntitlementRow>('entitlements')
              .where({ order_line_id: line.id })
              .whereIn('status', ['deposited', 'active'])
              .update({ status: 'active', activated_at: trx.raw('COALESCE(activated_at, now())'), updated_at: trx.fn.now() })
              .returning('id');
            activatedEntitlements.push(...activated.map((e) => String(e.id)));
          } else {
            await trx<LrpRecordRow>('lrp_records')
              .insert({ order_line_id: line.id, account_id: order.account_id, license_key: newLicenseKey() })
              .onConflict('order_line_id')
              .ignore();
            const record = (await trx<LrpRecordRow>('lrp_records').where({ order_line_id: line.id }).first('license_key'))!;
            lrpKeys[line.line_number] = record.license_key;
            // A classic license stays deposited in the Smart Account: it is used through its LRP
            // record, never activated as a smart license.
          }
        }
        await trx<OrderLineRow>('order_lines')
          .whereIn(
            'id',
            lines.map((l) => l.id),
          )
          .whereNot('state', 'cancelled')
          .update({ state: 'provisioned' });
        // R18: the licenses join their pool now, and its devices are re-judged in this transaction.
        await allocateActivatedEntitlements(trx, activatedEntitlements);
        const fulfilled = request.listStatus.phase === 'Fulfilled';
        await writeListStatus(trx, request.orderId, request.listStatus, {
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
