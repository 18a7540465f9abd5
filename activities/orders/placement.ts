import type { Knex } from 'knex';
import type { Db } from '../../src/db/knex';
import { preparedQuery } from '../../src/db/prepared';
import { emailDomain } from '../../src/orders/order';
import { asRefusal, refuse } from '../shared/errors';
import { judgeRole, judgeTarget, type AccountRow, type RoleGrantPath } from '../../src/accounts/placement-rules';
import { writeListStatus, type ListStatus, type StatusProjection } from './records';
import type { OrderLineRow, OrderRow } from '../../src/db/rows';

/** Who asks for the licenses to be placed; each is authorised differently. */
export type PlacementActor =
  /** A partner or distributor acting on the order (R10 for holding accounts, R11 for customer accounts). */
  | { kind: 'partner'; partnerId: string }
  /** The end-customer contact, through a delegation link: the account must be of their domain. */
  | { kind: 'customer' }
  /** Activation of the Smart Account requested for this order. */
  | { kind: 'requested-account' };

export interface PlacementRequest {
  orderId: string;
  target: { kind: 'smart_account' | 'holding_account'; accountId: string; virtualAccountPath?: string };
  actor: PlacementActor;
  /** Derived by the workflow from its ID and a purpose; one event per key. */
  idempotencyKey: string;
  /** The order's phase after this placement, as the workflow derives it. */
  listStatus: ListStatus;
  status?: StatusProjection;
}

export interface PlacementResult {
  accountId: string;
  accountName: string;
  accountDomain: string | null;
  virtualAccountPath?: string;
  /** Lines that moved (deposited, held or transferred) now. */
  lineNumbers: number[];
}

export function createPlacementActivities(db: Db) {
  return {
    /** An assignment was refused: the order now waits for a valid one (the list shows it). */
    async recordAssignmentRefused(request: {
      orderId: string;
      reason: string;
      idempotencyKey: string;
      listStatus: ListStatus;
      status?: StatusProjection;
    }): Promise<void> {
      await db.transaction(async (trx) => {
        await writeListStatus(trx, request.orderId, request.listStatus, {
          projection: request.status,
          event: {
            type: 'assignment_refused',
            idempotencyKey: request.idempotencyKey,
            details: { reason: request.reason },
          },
        });
      });
    },

    /**
     * Puts every live, unprovisioned line of the order into the target account in one
     * transaction: a deposit into a customer Smart Account, a hold in a Partner Holding Account
     * (R4), or a transfer from the holding account to the customer's account (R6). One
     * entitlement per line (unique order_line_id) makes a repeated placement a no-op.
     */
    async placeLines(request: PlacementRequest): Promise<PlacementResult> {
      return asRefusal(() => db.transaction((trx) => placeLinesIn(trx, request)));
    },
  };
}

/**
 * What placeLines judges, read in one statement with the order locked (and the target account
 * shared-locked, as checkTarget does): the target, the actor's standing and the lines that move.
 * Issue 16: it was six statements.
 */
const PLACEMENT_FACTS_SQL = `
SELECT o.id, o.external_reference, o.partner_id, o.booked_by_partner_id, o.holding_account_id,
  (SELECT row_to_json(t) FROM (SELECT a.id, a.kind, a.name, a.domain, a.status, a.owner_partner_id
     FROM accounts a WHERE a.id = :accountId FOR SHARE) t) AS target_account,
  (SELECT va.id FROM virtual_accounts va WHERE va.account_id = :accountId AND va.path = :path) AS target_va_id,
  (SELECT COALESCE(array_agg(d.distributor_id), '{}') FROM distributor_resellers d WHERE d.reseller_id = o.partner_id) AS distributors,
  (SELECT COALESCE(json_agg(json_build_object('role', g.role, 'path', v.path)), '[]')
     FROM role_grants g LEFT JOIN virtual_accounts v ON v.id = g.virtual_account_id
    WHERE g.account_id = :accountId AND g.partner_id = :actorPartnerId AND g.revoked_at IS NULL) AS grants,
  (SELECT u.email FROM users u WHERE u.id = o.end_customer_contact_id) AS contact_email,
  (SELECT COALESCE(json_agg(json_build_object('id', l.id, 'line_number', l.line_number, 'state', l.state) ORDER BY l.line_number), '[]')
     FROM order_lines l WHERE l.order_id = o.id AND l.state IN ('booked', 'held', 'deposited', 'shipped')) AS movable_lines
FROM orders o WHERE o.id = :orderId FOR UPDATE OF o`;

/** The order's own columns placeLines judges by; not `o.*`, which carried the status document (jsonb) unread. */
interface PlacementFacts extends Pick<
  OrderRow,
  'id' | 'external_reference' | 'partner_id' | 'booked_by_partner_id' | 'holding_account_id'
> {
  target_account: AccountRow | null;
  target_va_id: string | null;
  distributors: string[];
  grants: RoleGrantPath[];
  contact_email: string | null;
  movable_lines: Array<Pick<OrderLineRow, 'id' | 'line_number' | 'state'>>;
}

/** placeLines in its transaction: the order locked, the actor authorised (one read), the lines moved (one write). */
async function placeLinesIn(trx: Knex.Transaction, request: PlacementRequest): Promise<PlacementResult> {
  const { rows } = await preparedQuery<PlacementFacts>(
    trx,
    trx.raw(PLACEMENT_FACTS_SQL, {
      orderId: request.orderId,
      accountId: request.target.accountId,
      path: request.target.virtualAccountPath ?? null,
      actorPartnerId: request.actor.kind === 'partner' ? request.actor.partnerId : null,
    }),
  );
  const [order] = rows;
  if (!order) throw refuse('UnknownOrder', `order "${request.orderId}" does not exist`);
  const { account, virtualAccountId } = judgeTarget(
    request.target,
    order.target_account,
    order.target_va_id === null ? null : Number(order.target_va_id),
  );
  authorizePlacement(order, account, request);

  const toCustomer = account.kind === 'smart_account';
  const lines = order.movable_lines;
  const wasHeld = lines.some((l) => l.state === 'held') || (order.holding_account_id && toCustomer);
  const parts =
    lines.length === 0
      ? []
      : [
          {
            // Insert the new entitlements; move the ones that sit elsewhere (a transfer).
            name: 'entitlements',
            query: trx.raw(
              `INSERT INTO entitlements (order_line_id, account_id, virtual_account_id, sku, quantity, status)
               SELECT l.id, ?, ?, l.sku, l.quantity, ? FROM order_lines l WHERE l.id = ANY(?)
               ON CONFLICT (order_line_id) DO UPDATE SET
                 account_id = EXCLUDED.account_id, virtual_account_id = EXCLUDED.virtual_account_id,
                 status = EXCLUDED.status, updated_at = now()
               WHERE entitlements.status IN ('held', 'deposited')`,
              [account.id, virtualAccountId, toCustomer ? 'deposited' : 'held', lines.map((l) => String(l.id))],
            ),
          },
          {
            name: 'moved_lines',
            query: trx.raw(`UPDATE order_lines SET state = ? WHERE id = ANY(?) AND state <> 'shipped'`, [
              toCustomer ? 'deposited' : 'held',
              lines.map((l) => String(l.id)),
            ]),
          },
        ];
  await writeListStatus(trx, request.orderId, request.listStatus, {
    parts,
    extra: toCustomer
      ? { account_id: account.id, virtual_account_id: virtualAccountId, customer_domain: account.domain }
      : { holding_account_id: account.id },
    projection: request.status,
    event: {
      type: toCustomer ? (wasHeld ? 'transferred_to_customer_account' : 'deposited') : 'held_in_holding_account',
      idempotencyKey: request.idempotencyKey,
      details: {
        accountId: account.id,
        virtualAccountPath: request.target.virtualAccountPath ?? null,
        lines: lines.map((l) => l.line_number),
        actor: request.actor,
      },
    },
  });
  return {
    accountId: account.id,
    accountName: account.name,
    accountDomain: account.domain,
    ...(request.target.virtualAccountPath ? { virtualAccountPath: request.target.virtualAccountPath } : {}),
    lineNumbers: lines.map((l) => l.line_number),
  };
}

/** R10/R11: the partner acts on the order and may use the account; a customer, only their domain's. */
function authorizePlacement(order: PlacementFacts, account: AccountRow, request: PlacementRequest): void {
  const actor = request.actor;
  if (actor.kind === 'partner') {
    if (!new Set([order.partner_id, order.booked_by_partner_id, ...order.distributors]).has(actor.partnerId)) {
      throw refuse('NotAuthorized', `partner "${actor.partnerId}" may not act on order ${order.external_reference}`, {
        partnerId: actor.partnerId,
      });
    }
    if (account.kind === 'smart_account') {
      judgeRole(actor.partnerId, account, request.target.virtualAccountPath, order.grants);
    } else {
      // R10: a partner's own holding account; in two-tier, the distributor's or its reseller's
      // (recordBooking has checked that the order's partner is the distributor's reseller).
      const owners = new Set<string | null>([order.partner_id, order.booked_by_partner_id]);
      if (!owners.has(account.owner_partner_id)) {
        throw refuse(
          'NotAuthorized',
          `holding account "${account.id}" belongs to neither the order's partner nor the distributor that booked it`,
          { accountId: account.id },
        );
      }
    }
  } else {
    const contact = order.contact_email;
    if (account.kind !== 'smart_account' || !contact || emailDomain(contact) !== account.domain) {
      throw refuse('DomainMismatch', `Smart Account "${account.id}" is not of the customer contact's domain`, {
        accountId: account.id,
      });
    }
  }
}
