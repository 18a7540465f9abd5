/**
 * smartAccountActivation: one entity workflow per Smart Account awaiting activation
 * (`smart-account-<accountId>`), started with signal-with-start by every order that needs it.
 * It emails the account's contact an activation link and reminds them on the configured cadence;
 * once the account is activated it tells every registered order, so two orders for the same new
 * customer share one request and one set of emails.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  accountActivatedSignal,
  activationStatusQuery,
  registerWaitingOrderSignal,
  smartAccountActivatedSignal,
  withdrawWaitingOrderSignal,
  type ActivationWorkflowInput,
} from '../../src/orders/workflow-api';
import { activities, loadFulfillmentSettings } from '../shared/activity-proxies';

export interface ActivationCarryOver {
  waitingOrders: string[];
  notifiedOrders: string[];
  remindersSent: number;
  requestSent: boolean;
}

export async function smartAccountActivation(input: ActivationWorkflowInput, carried?: ActivationCarryOver): Promise<void> {
  const { workflowId } = workflowInfo();
  const waitingOrders = new Set(carried?.waitingOrders ?? []);
  const notified = new Set(carried?.notifiedOrders ?? []);
  let remindersSent = carried?.remindersSent ?? 0;
  let requestSent = carried?.requestSent ?? false;
  let activated = false;

  let withdrawn = false;
  setHandler(registerWaitingOrderSignal, ({ workflowId: orderWorkflowId }) => void waitingOrders.add(orderWorkflowId));
  setHandler(withdrawWaitingOrderSignal, ({ workflowId: orderWorkflowId }) => {
    waitingOrders.delete(orderWorkflowId);
    // Nobody waits any more: stop reminding the contact (a later order starts a new run).
    if (waitingOrders.size === 0) withdrawn = true;
  });
  setHandler(accountActivatedSignal, () => void (activated = true));
  setHandler(activationStatusQuery, () => ({
    accountId: input.accountId,
    activated,
    waitingOrders: [...waitingOrders],
    remindersSent,
  }));

  const settings = await loadFulfillmentSettings();
  // The account may have been activated before this run started (a late order, a restart).
  if ((await activities.getAccountStatus(input.accountId)) === 'active') activated = true;

  /** Emails the contact (first request or reminder); the account found active counts as activated. */
  /** Emails the contact (first request or reminder); returns whether an email went out. */
  async function requestActivation(idempotencyKey: string, reminderNumber?: number): Promise<boolean> {
    try {
      const outcome = await activities.sendActivationRequest({
        accountId: input.accountId,
        idempotencyKey,
        ...(reminderNumber ? { reminderNumber } : {}),
      });
      // Found active (its signal lost or late): that counts as the activation.
      if (outcome === 'already-active') activated = true;
      return outcome === 'sent';
    } catch (err) {
      // A refusal (say, no contact to write to) must not end the wait: someone can still activate it.
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn('activation email not sent', { accountId: input.accountId, error: String(err.cause ?? err) });
      return false;
    }
  }

  if (!activated && !withdrawn && !requestSent) {
    await requestActivation(`${workflowId}:activation-request`);
    requestSent = true;
  }
  while (!activated && !withdrawn) {
    if (!(await condition(() => activated || withdrawn, settings.reminderIntervalMs))) {
      if (await requestActivation(`${workflowId}:activation-reminder:${remindersSent + 1}`, remindersSent + 1)) remindersSent++;
    }
    const info = workflowInfo();
    if (!activated && !withdrawn && (info.continueAsNewSuggested || info.historyLength >= settings.historyEventLimit)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof smartAccountActivation>(input, {
        waitingOrders: [...waitingOrders],
        notifiedOrders: [...notified],
        remindersSent,
        requestSent,
      });
    }
  }
  if (!activated) {
    await condition(allHandlersFinished);
    return;
  }

  // Tell every waiting order, including any that registers while we are telling the others.
  for (;;) {
    const pending = [...waitingOrders].filter((id) => !notified.has(id));
    if (pending.length === 0) break;
    for (const orderWorkflowId of pending) {
      try {
        await getExternalWorkflowHandle(orderWorkflowId).signal(smartAccountActivatedSignal, { accountId: input.accountId });
      } catch (err) {
        // A cancelled or finished order no longer needs the account.
        log.info('order no longer waiting for the account', { orderWorkflowId, error: String(err) });
      }
      notified.add(orderWorkflowId);
    }
  }
  await condition(allHandlersFinished);
}
