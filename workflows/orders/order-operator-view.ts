/**
 * What operators see of a running order without reading its history: the search attributes they
 * filter on and the "current details" the Temporal UI shows on the workflow page.
 */
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { deriveOrderPhase, deriveWaitingFor, orderStatusOf, type OrderState, type OrderStatus } from '../../src/orders/order-lifecycle';
import { CustomerDomainKey, HoldingAccountIdKey, OrderStatusKey, WaitingForKey } from '../../src/temporal/search-attributes';

const KEYS = {
  OrderStatus: OrderStatusKey,
  WaitingFor: WaitingForKey,
  CustomerDomain: CustomerDomainKey,
  HoldingAccountId: HoldingAccountIdKey,
};

/** Keeps the search attributes in step with the state, upserting only what changed in this run. */
export class OperatorView {
  private published: Record<string, string | undefined> = {};

  publish(state: OrderState): void {
    const current: Record<string, string | undefined> = {
      OrderStatus: deriveOrderPhase(state),
      WaitingFor: deriveWaitingFor(state),
      CustomerDomain: state.customerAccount?.domain || (state.waiting?.kind === 'activation' ? state.waiting.domain : undefined),
      HoldingAccountId: state.holdingAccountId,
    };
    const updates = (Object.keys(KEYS) as Array<keyof typeof KEYS>)
      .filter((name) => current[name] !== this.published[name] && current[name] !== undefined)
      .map((name) => ({ key: KEYS[name], value: current[name]! }));
    if (updates.length > 0) upsertSearchAttributes(updates);
    this.published = current;
    setCurrentDetails(describeForOperators(orderStatusOf(state)));
  }
}

/** The "current details" the Temporal UI shows on the workflow page (no history events). */
function describeForOperators(status: OrderStatus): string {
  const lines = status.lines.map(
    (l) =>
      `- line ${l.lineNumber}: ${l.sku} x ${l.quantity}, **${l.state}**` +
      (l.accountId ? ` in ${l.accountId}${l.virtualAccountPath ? `/${l.virtualAccountPath}` : ''}` : '') +
      (l.subscription
        ? `, subscription ${l.subscription.startsOn} to ${l.subscription.endsOn}`
        : l.shippedOn
          ? `, shipped ${l.shippedOn}`
          : ''),
  );
  return [
    `**${status.phase}** (waiting for ${status.waitingFor}) — order ${status.externalReference} of ${status.partnerId}`,
    ...(status.pendingAction ? [`Next: ${status.pendingAction}`] : []),
    ...lines,
  ].join('\n');
}
