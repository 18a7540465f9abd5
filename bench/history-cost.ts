/** The Temporal cost of a workflow history: history events, billable actions, the shape of a run. */
import { temporal } from '@temporalio/proto';

/** One history event, reduced to what the counting rule reads. */
export interface CostEvent {
  /** Event type without the EVENT_TYPE_ prefix, in PascalCase: `ActivityTaskScheduled`. */
  type: string;
  /** ActivityTaskStarted: the attempt that closed the activity (1 = no retry). */
  attempt?: number;
  /** MarkerRecorded: `core_local_activity` for a local activity. */
  markerName?: string;
  /** MarkerRecorded: the workflow task that recorded it (local activities of one task are one action). */
  workflowTaskCompletedEventId?: number;
}

/** Billable actions by category, as Temporal Cloud counts them (see COUNTING_RULE). */
export interface ActionCounts {
  workflowStarted: number;
  activities: number;
  localActivities: number;
  timers: number;
  signalsReceived: number;
  signalsSent: number;
  updates: number;
  searchAttributeUpserts: number;
  childWorkflows: number;
  total: number;
}

export interface HistoryCost {
  /** Every event of every run (a continued-as-new order has several runs). */
  historyEvents: number;
  /** Not billed, but each is a round trip worker <-> server: the load the engine carries. */
  workflowTasks: number;
  activitiesScheduled: number;
  continueAsNew: number;
  actions: ActionCounts;
}

/** The counting rule, word for word as docs/BENCHMARKS.md states it. */
export const COUNTING_RULE = [
  'History events: every event of every run of the workflow (continue-as-new runs included). The tables also show activities scheduled (ActivityTaskScheduled) and continue-as-new (WorkflowExecutionContinuedAsNew), which are not actions by themselves.',
  'Billable actions (Temporal Cloud), counted from the events:',
  '- workflow started: 1 per run (WorkflowExecutionStarted: the client start, a signal-with-start, or the run a continue-as-new begins, so a continue-as-new costs 1); search attributes given at start are free;',
  '- activity: 1 per attempt (the attempt field of ActivityTaskStarted, so retries count); a scheduled activity that never started counts 0 (without retries, attempts = activities scheduled);',
  '- local activities: 1 per workflow task that recorded any (MarkerRecorded core_local_activity, grouped by workflowTaskCompletedEventId);',
  '- timer: 1 per TimerStarted (including the implicit timer of condition(fn, timeout), even when it is cancelled);',
  '- signal: 1 per WorkflowExecutionSignaled (received), plus 1 per SignalExternalWorkflowExecutionInitiated (sent by this workflow to another; not counted again on the receiver);',
  '- update: 1 per WorkflowExecutionUpdateAccepted (an Update rejected by its validator is also billed but leaves no event: not counted here);',
  '- search-attribute upsert: 1 per UpsertWorkflowSearchAttributes command, however many attributes it sets;',
  '- child workflow: 1 per StartChildWorkflowExecutionInitiated;',
  '- queries are billed (1 each) but leave no event: the API part counts them from its requests instead.',
].join('\n');

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` (or its enum number) -> `ActivityTaskScheduled`. */
export function eventTypeName(eventType: number | string | null | undefined): string {
  const raw = typeof eventType === 'number' ? temporal.api.enums.v1.EventType[eventType] : eventType;
  if (!raw) return 'Unspecified';
  return String(raw)
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** A history event as the SDK returns it (fetchHistory), reduced to a CostEvent. */
export function toCostEvent(event: temporal.api.history.v1.IHistoryEvent): CostEvent {
  const type = eventTypeName(event.eventType);
  const cost: CostEvent = { type };
  if (event.activityTaskStartedEventAttributes) cost.attempt = event.activityTaskStartedEventAttributes.attempt ?? 1;
  if (event.markerRecordedEventAttributes) {
    cost.markerName = event.markerRecordedEventAttributes.markerName ?? undefined;
    const completedBy = event.markerRecordedEventAttributes.workflowTaskCompletedEventId;
    if (completedBy !== undefined && completedBy !== null) cost.workflowTaskCompletedEventId = Number(completedBy);
  }
  return cost;
}

export const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/** History events and billable actions of one workflow, from the events of all its runs. */
export function countHistoryCost(events: readonly CostEvent[]): HistoryCost {
  const actions: ActionCounts = {
    workflowStarted: 0,
    activities: 0,
    localActivities: 0,
    timers: 0,
    signalsReceived: 0,
    signalsSent: 0,
    updates: 0,
    searchAttributeUpserts: 0,
    childWorkflows: 0,
    total: 0,
  };
  let workflowTasks = 0;
  let activitiesScheduled = 0;
  let continueAsNew = 0;
  // Local-activity markers of one workflow task are one action. A run restarts event IDs at 1,
  // so the grouping key is the run (counted by WorkflowExecutionStarted) plus the task's ID.
  const localActivityTasks = new Set<string>();
  for (const event of events) {
    switch (event.type) {
      case 'WorkflowExecutionStarted':
        actions.workflowStarted++;
        break;
      case 'WorkflowExecutionContinuedAsNew':
        continueAsNew++;
        break;
      case 'WorkflowTaskCompleted':
        workflowTasks++;
        break;
      case 'ActivityTaskScheduled':
        activitiesScheduled++;
        break;
      case 'ActivityTaskStarted':
        actions.activities += Math.max(1, event.attempt ?? 1);
        break;
      case 'MarkerRecorded':
        if (event.markerName === LOCAL_ACTIVITY_MARKER) {
          localActivityTasks.add(`${actions.workflowStarted}:${event.workflowTaskCompletedEventId ?? `marker-${localActivityTasks.size}`}`);
        }
        break;
      case 'TimerStarted':
        actions.timers++;
        break;
      case 'WorkflowExecutionSignaled':
        actions.signalsReceived++;
        break;
      case 'SignalExternalWorkflowExecutionInitiated':
        actions.signalsSent++;
        break;
      case 'WorkflowExecutionUpdateAccepted':
        actions.updates++;
        break;
      case 'UpsertWorkflowSearchAttributes':
        actions.searchAttributeUpserts++;
        break;
      case 'StartChildWorkflowExecutionInitiated':
        actions.childWorkflows++;
        break;
      default:
        break;
    }
  }
  actions.localActivities = localActivityTasks.size;
  actions.total =
    actions.workflowStarted +
    actions.activities +
    actions.localActivities +
    actions.timers +
    actions.signalsReceived +
    actions.signalsSent +
    actions.updates +
    actions.searchAttributeUpserts +
    actions.childWorkflows;
  return { historyEvents: events.length, workflowTasks, activitiesScheduled, continueAsNew, actions };
}

/** The mean of several histories' costs (same scenario), every field averaged. */
export function meanCost(costs: readonly HistoryCost[]): HistoryCost {
  const n = costs.length;
  const avg = (pick: (c: HistoryCost) => number) => (n === 0 ? Number.NaN : costs.reduce((sum, c) => sum + pick(c), 0) / n);
  const actionKeys = Object.keys(costs[0]?.actions ?? countHistoryCost([]).actions) as Array<keyof ActionCounts>;
  const actions = Object.fromEntries(actionKeys.map((key) => [key, avg((c) => c.actions[key])])) as unknown as ActionCounts;
  return {
    historyEvents: avg((c) => c.historyEvents),
    workflowTasks: avg((c) => c.workflowTasks),
    activitiesScheduled: avg((c) => c.activitiesScheduled),
    continueAsNew: avg((c) => c.continueAsNew),
    actions,
  };
}

/**
 * Where the activities of an order's history ran, for the engine-limit workflow to copy: before
 * any message arrived, inside an Update handler (between its UpdateAccepted and UpdateCompleted),
 * or in the main line afterwards.
 */
export interface WorkflowShape {
  localActivities: number;
  startActivities: number;
  updateActivities: number;
  endActivities: number;
  timers: number;
  signals: number;
  updates: number;
}

export function shapeOfHistory(events: readonly CostEvent[]): WorkflowShape {
  const shape: WorkflowShape = {
    localActivities: 0,
    startActivities: 0,
    updateActivities: 0,
    endActivities: 0,
    timers: 0,
    signals: 0,
    updates: 0,
  };
  let messageSeen = false;
  let openUpdates = 0;
  const localActivityTasks = new Set<string>();
  for (const event of events) {
    switch (event.type) {
      case 'WorkflowExecutionSignaled':
        shape.signals++;
        messageSeen = true;
        break;
      case 'WorkflowExecutionUpdateAccepted':
        shape.updates++;
        openUpdates++;
        messageSeen = true;
        break;
      case 'WorkflowExecutionUpdateCompleted':
        openUpdates = Math.max(0, openUpdates - 1);
        break;
      case 'TimerStarted':
        shape.timers++;
        break;
      case 'MarkerRecorded':
        if (event.markerName === LOCAL_ACTIVITY_MARKER)
          localActivityTasks.add(String(event.workflowTaskCompletedEventId ?? localActivityTasks.size));
        break;
      case 'ActivityTaskScheduled':
        if (openUpdates > 0) shape.updateActivities++;
        else if (!messageSeen) shape.startActivities++;
        else shape.endActivities++;
        break;
      default:
        break;
    }
  }
  shape.localActivities = localActivityTasks.size;
  return shape;
}

/**
 * The shape most histories of a scenario have: each field rounded from the mean, except that the
 * activities after the messages make up the difference, so the total number of activities is
 * the rounded mean total (rounding three parts separately could add or lose one).
 */
export function typicalShape(shapes: readonly WorkflowShape[]): WorkflowShape {
  const mean = (pick: (s: WorkflowShape) => number) =>
    shapes.length === 0 ? 0 : Math.round(shapes.reduce((sum, s) => sum + pick(s), 0) / shapes.length);
  const totalActivities = mean((s) => s.startActivities + s.updateActivities + s.endActivities);
  const startActivities = mean((s) => s.startActivities);
  const updateActivities = mean((s) => s.updateActivities);
  return {
    localActivities: mean((s) => s.localActivities),
    startActivities,
    updateActivities,
    endActivities: Math.max(0, totalActivities - startActivities - updateActivities),
    timers: mean((s) => s.timers),
    signals: mean((s) => s.signals),
    updates: mean((s) => s.updates),
  };
}
