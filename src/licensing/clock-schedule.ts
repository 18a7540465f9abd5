import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { PayloadKeyError } from '../temporal/payload-codec';
import { LICENSE_CLOCK_SCHEDULE_ID, LICENSE_CLOCK_WORKFLOW_TYPE, type LicenseClockInput } from './workflow-api';

/**
 * The Temporal Schedule that starts licenseClock every LICENSE_CLOCK_INTERVAL (docs/LICENSE-USE.md,
 * "What takes time"). Created by the worker process at start, idempotently, the way search
 * attributes are registered; an existing schedule gets the current interval and task queue.
 *
 * Overlap SKIP: a run still sweeping when the next tick comes makes that tick a no-op (sweeps are
 * state-based, the running one does the same work). Catch-up window one day: after a server
 * outage shorter than that, one missed tick still runs at once; longer, the next tick does it,
 * since every run catches up on everything due, not on one tick's share.
 */
export const CLOCK_CATCHUP_WINDOW = '1 day' as const;

export async function ensureLicenseClockSchedule(
  client: Client,
  options: { taskQueue: string; intervalMs: number; scheduleId?: string; input?: LicenseClockInput },
): Promise<'created' | 'updated' | 'replaced'> {
  const scheduleId = options.scheduleId ?? LICENSE_CLOCK_SCHEDULE_ID;
  const action = {
    type: 'startWorkflow' as const,
    workflowType: LICENSE_CLOCK_WORKFLOW_TYPE,
    workflowId: `${scheduleId}-run`,
    taskQueue: options.taskQueue,
    args: [options.input ?? {}],
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CLOCK_CATCHUP_WINDOW };
  const spec = { intervals: [{ every: options.intervalMs }] };
  const create = () => client.schedule.create({ scheduleId, spec, action, policies });
  try {
    await create();
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  try {
    await handle.update((previous) => ({ ...previous, spec, action: { ...action }, policies: { ...previous.policies, ...policies } }));
    return 'updated';
  } catch (err) {
    // A Schedule written under a payload key this deployment no longer holds cannot be read back
    // (its action's input is sealed), so it cannot be updated: replace it. It holds no state.
    // Anything else (the server unavailable, a deadline) fails the start: a replacement would
    // drop an operator's pause and notes. Two workers starting together may both replace it.
    if (!isPayloadKeyError(err)) throw err;
    await handle.delete().catch(() => undefined);
    await create().catch((createErr: unknown) => {
      if (!(createErr instanceof ScheduleAlreadyRunning)) throw err;
    });
    return 'replaced';
  }
}

/** The codec's refusal to open a payload, however the client wrapped it. */
function isPayloadKeyError(err: unknown): boolean {
  for (let cause = err; cause instanceof Error; cause = cause.cause) if (cause instanceof PayloadKeyError) return true;
  return false;
}
