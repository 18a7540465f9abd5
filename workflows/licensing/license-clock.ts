/**
 * licenseClock: one short run per tick of the license-clock Schedule (R19, R20, R22, R25). It
 * sweeps Postgres for what is due (silent devices, term ends, true-up dates), starts a trueUp
 * workflow for each period whose date has come, then emails the new alerts. Its cost in Temporal
 * actions is the same whatever the fleet's size: see docs/LICENSE-USE.md, "What takes time".
 */
import { ParentClosePolicy, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  TRUE_UP_WORKFLOW_TYPE,
  trueUpWorkflowId,
  type LicenseClockInput,
  type LicenseClockResult,
  type TrueUpInput,
} from '../../src/licensing/workflow-api';
import { LicensePeriodKey } from '../../src/temporal/search-attributes';
import { activities, deliverAlertEmails } from '../shared/activity-proxies';

const DEFAULT_BATCH = 500;
/** Sweep loops per run: a backlog larger than this waits for the next run, so one run stays short. */
const MAX_LOOPS = 10;

export async function licenseClock(input: LicenseClockInput = {}): Promise<LicenseClockResult> {
  // The workflow clock is deterministic; a Schedule's run judges against the time it started.
  const asOfMs = input.asOfMs ?? Date.now();
  const batch = input.batch ?? DEFAULT_BATCH;
  const result: LicenseClockResult = {
    asOf: new Date(asOfMs).toISOString(),
    failedToConnect: 0,
    expired: 0,
    removed: 0,
    expiringAlerts: 0,
    expiredPools: 0,
    trueUpsStarted: [],
    alertsEmailed: 0,
  };
  for (let loop = 0; loop < MAX_LOOPS; loop++) {
    const sweep = await activities.sweepLicenseClock({ asOfMs, batch, ...(input.accountId ? { accountId: input.accountId } : {}) });
    result.failedToConnect += sweep.liveness.failedToConnect;
    result.expired += sweep.liveness.expired;
    result.removed += sweep.liveness.removed;
    result.expiringAlerts += sweep.termEnds.expiringAlerts;
    result.expiredPools += sweep.termEnds.expiredPools;
    for (const due of sweep.dueTrueUps) {
      if (await startTrueUp(due)) result.trueUpsStarted.push(trueUpWorkflowId(due.accountId, due.period));
    }
    if (!sweep.liveness.more && !sweep.termEnds.more) break;
  }
  for (let loop = 0; loop < MAX_LOOPS; loop++) {
    const delivered = await deliverAlertEmails({ batch, ...(input.accountId ? { accountId: input.accountId } : {}) });
    result.alertsEmailed += delivered.alerts;
    if (!delivered.more) break;
  }
  return result;
}

/**
 * Starts the period's true-up, abandoned by this short run so it outlives it. A period already
 * started (by an earlier tick, still waiting for approval, or finished) is not started again:
 * the workflow ID is refused, and the true_ups row is the second guard.
 */
async function startTrueUp(due: TrueUpInput): Promise<boolean> {
  try {
    await startChild(TRUE_UP_WORKFLOW_TYPE, {
      workflowId: trueUpWorkflowId(due.accountId, due.period),
      args: [due],
      taskQueue: workflowInfo().taskQueue,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [{ key: LicensePeriodKey, value: due.period }],
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}
