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
  patched,
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

/** Patch ID (docs/EVOLVING-WORKFLOWS.md): a registration after the last withdrawal keeps the run waiting. */
export const REGISTER_AFTER_WITHDRAWAL_WAITS = 'activation-register-after-withdrawal-waits';

export interface ActivationCarryOver {
  waitingOrders: string[];
  notifiedOrders: string[];
  remindersSent: number;
  requestSent: boolean;
}

export async function smartAccountActivation(input: ActivationWorkflowInput, carried?: ActivationCarryOver): Promise<void> {
  const run = new ActivationRun(input, carried);
  run.installHandlers();

  const settings = await loadFulfillmentSettings();
  // The account may have been activated before this run started (a late order, a restart).
  if ((await activities.getAccountStatus(input.accountId)) === 'active') run.activated = true;

  if (!run.activated && !run.withdrawn && !run.requestSent) {
    await run.requestActivation(`${run.workflowId}:activation-request`);
    run.requestSent = true;
  }
  while (!run.activated && !run.withdrawn) {
    if (!(await condition(() => run.activated || run.withdrawn, settings.reminderIntervalMs))) {
      const reminderNumber = run.remindersSent + 1;
      if (await run.requestActivation(`${run.workflowId}:activation-reminder:${reminderNumber}`, reminderNumber)) run.remindersSent++;
    }
    const info = workflowInfo();
    if (!run.activated && !run.withdrawn && (info.continueAsNewSuggested || info.historyLength >= settings.historyEventLimit)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof smartAccountActivation>(input, run.carryOver());
    }
  }
  if (run.activated) await run.notifyWaitingOrders();
  await condition(allHandlersFinished);
}

/** The state of one run: the orders waiting for the account, and how far the emails have got. */
class ActivationRun {
  readonly workflowId = workflowInfo().workflowId;
  readonly waitingOrders: Set<string>;
  readonly notified: Set<string>;
  remindersSent: number;
  requestSent: boolean;
  activated = false;
  withdrawn = false;

  constructor(
    readonly input: ActivationWorkflowInput,
    carried?: ActivationCarryOver,
  ) {
    this.waitingOrders = new Set(carried?.waitingOrders ?? []);
    this.notified = new Set(carried?.notifiedOrders ?? []);
    this.remindersSent = carried?.remindersSent ?? 0;
    this.requestSent = carried?.requestSent ?? false;
  }

  installHandlers(): void {
    setHandler(registerWaitingOrderSignal, ({ workflowId: orderWorkflowId }) => {
      this.waitingOrders.add(orderWorkflowId);
      // An order registering after the last one withdrew (both in one activation) waits again: the
      // run must not end with it registered and untold. Only then is the patch asked for.
      if (this.withdrawn && !this.activated && patched(REGISTER_AFTER_WITHDRAWAL_WAITS)) this.withdrawn = false;
    });
    setHandler(withdrawWaitingOrderSignal, ({ workflowId: orderWorkflowId }) => {
      this.waitingOrders.delete(orderWorkflowId);
      // Nobody waits any more: stop reminding the contact (a later order starts a new run).
      if (this.waitingOrders.size === 0) this.withdrawn = true;
    });
    setHandler(accountActivatedSignal, () => void (this.activated = true));
    setHandler(activationStatusQuery, () => ({
      accountId: this.input.accountId,
      activated: this.activated,
      waitingOrders: [...this.waitingOrders],
      remindersSent: this.remindersSent,
    }));
  }

  carryOver(): ActivationCarryOver {
    return {
      waitingOrders: [...this.waitingOrders],
      notifiedOrders: [...this.notified],
      remindersSent: this.remindersSent,
      requestSent: this.requestSent,
    };
  }

  /** Emails the contact (first request or reminder); returns whether an email went out. */
  async requestActivation(idempotencyKey: string, reminderNumber?: number): Promise<boolean> {
    try {
      const outcome = await activities.sendActivationRequest({
        accountId: this.input.accountId,
        idempotencyKey,
        ...(reminderNumber ? { reminderNumber } : {}),
      });
      // Found active (its signal lost or late): that counts as the activation.
      if (outcome === 'already-active') this.activated = true;
      return outcome === 'sent';
    } catch (err) {
      // A refusal (say, no contact to write to) must not end the wait: someone can still activate it.
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn('activation email not sent', { accountId: this.input.accountId, error: String(err.cause ?? err) });
      return false;
    }
  }

  /** Tell every waiting order, including any that registers while we are telling the others. */
  async notifyWaitingOrders(): Promise<void> {
    for (;;) {
      const pending = [...this.waitingOrders].filter((id) => !this.notified.has(id));
      if (pending.length === 0) break;
      for (const orderWorkflowId of pending) {
        try {
          await getExternalWorkflowHandle(orderWorkflowId).signal(smartAccountActivatedSignal, { accountId: this.input.accountId });
        } catch (err) {
          // A cancelled or finished order no longer needs the account.
          log.info('order no longer waiting for the account', { orderWorkflowId, error: String(err) });
        }
        this.notified.add(orderWorkflowId);
      }
    }
  }
}
